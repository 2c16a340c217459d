package dev.cachefs.offline;

import dev.cachefs.nativeio.Errno;
import dev.cachefs.nativeio.ErrnoException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs lower calls under a deadline. A call runs on a thread of a bounded pool while the caller (a
 * FUSE worker) waits at most the deadline: a hung NFS server or a cut link blocks a pool thread,
 * never the worker, and when every pool thread is stuck new calls fail at once instead of piling
 * up. A call that passes its deadline, or fails with an errno that means the lower cannot be
 * reached, is reported ({@code onUnreachable}) and thrown as {@link Unreachable}. EIO is ambiguous
 * (a bad sector, a stale descriptor of a remounted client, or the network): it counts only when a
 * quick probe of the lower fails too.
 */
public final class Guard implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Guard.class);
    /** A data call of n bytes gets one more second per this many bytes (a slow link is not a dead one). */
    static final long BYTES_PER_EXTRA_SECOND = 128 * 1024;

    /** A lower call failed because the lower cannot be reached (its errno, or ETIMEDOUT for a deadline). */
    public static final class Unreachable extends ErrnoException {
        public Unreachable(int errno, String what) {
            super(errno, what);
        }
    }

    /** A lower call. */
    public interface Call<T> {
        T call() throws ErrnoException;
    }

    private final long deadlineMs;
    private final int maxThreads;
    private final ThreadPoolExecutor pool;
    private final Consumer<String> onUnreachable;
    private volatile Call<?> eioProbe;
    private final LongAdder timeouts = new LongAdder();

    /**
     * @param deadlineMs how long a metadata call may take
     * @param maxThreads most lower calls at once (stuck ones included)
     * @param onUnreachable told why, each time a call shows the lower unreachable
     */
    public Guard(long deadlineMs, int maxThreads, Consumer<String> onUnreachable) {
        this.deadlineMs = deadlineMs;
        this.maxThreads = maxThreads;
        this.onUnreachable = onUnreachable;
        AtomicInteger n = new AtomicInteger();
        this.pool = new ThreadPoolExecutor(0, maxThreads, 30, TimeUnit.SECONDS, new SynchronousQueue<>(),
                r -> Thread.ofPlatform().daemon().name("cachefs-lower-" + n.incrementAndGet()).unstarted(r));
    }

    /** The call that tells whether an EIO means the lower is gone (it fails when it is). */
    public void eioProbe(Call<?> probe) {
        this.eioProbe = probe;
    }

    public long deadlineMs() {
        return deadlineMs;
    }

    /** Calls that passed their deadline so far. */
    public long timeouts() {
        return timeouts.sum();
    }

    /** Whether an errno from a lower means it cannot be reached (EIO aside, see the class). */
    public static boolean unreachableErrno(int errno) {
        return switch (errno) {
            case Errno.ENOTCONN, Errno.ETIMEDOUT, Errno.EHOSTDOWN, Errno.EHOSTUNREACH, Errno.ENETUNREACH,
                 Errno.ENETDOWN, Errno.ECONNRESET, Errno.ECONNABORTED, Errno.ECONNREFUSED, Errno.ESHUTDOWN -> true;
            default -> false;
        };
    }

    public <T> T call(String what, Call<T> c) throws ErrnoException {
        return call(what, 0, c);
    }

    /** A call that moves {@code bytes} of data (its deadline grows with them). */
    public <T> T call(String what, long bytes, Call<T> c) throws ErrnoException {
        if (deadlineMs <= 0) {
            return c.call(); // no deadline (measurements only: a hung lower hangs its callers)
        }
        long deadline = deadlineMs + 1000 * (bytes / BYTES_PER_EXTRA_SECOND);
        Future<T> f;
        try {
            f = pool.submit(c::call);
        } catch (RejectedExecutionException e) {
            throw unreachable(Errno.ETIMEDOUT, what + ": all " + maxThreads + " lower threads are stuck in calls");
        }
        try {
            return f.get(deadline, TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            f.cancel(true);
            timeouts.increment();
            throw unreachable(Errno.ETIMEDOUT, what + ": no answer from the lower within " + deadline + " ms");
        } catch (InterruptedException e) {
            f.cancel(true);
            Thread.currentThread().interrupt();
            throw new ErrnoException(Errno.EINTR, what);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof ErrnoException ee) {
                if (unreachableErrno(ee.errno())) {
                    throw unreachable(ee.errno(), what + ": " + Errno.name(ee.errno()) + " from the lower");
                }
                if (ee.errno() == Errno.EIO && probeFails()) {
                    throw unreachable(Errno.EIO, what + ": EIO from the lower, which does not answer a probe either");
                }
                throw ee;
            }
            if (cause instanceof RuntimeException re) {
                throw re;
            }
            if (cause instanceof Error err) {
                throw err;
            }
            throw new IllegalStateException(cause);
        }
    }

    private boolean probeFails() {
        Call<?> p = eioProbe;
        if (p == null) {
            return false;
        }
        Future<?> f;
        try {
            f = pool.submit(p::call);
        } catch (RejectedExecutionException e) {
            return true;
        }
        try {
            f.get(deadlineMs, TimeUnit.MILLISECONDS);
            return false;
        } catch (TimeoutException e) {
            f.cancel(true);
            return true;
        } catch (ExecutionException e) {
            return true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    private Unreachable unreachable(int errno, String why) {
        onUnreachable.accept(why);
        return new Unreachable(errno, why);
    }

    // ------------------------------------------------------------------ bounce buffers

    /**
     * Caller memory never goes to a lower thread: a call past its deadline may still complete
     * later, and must not then write into (or read from) a buffer its caller has reused. Data calls
     * go through a bounce buffer instead, taken from here and given back only by a caller whose
     * call completed; a buffer left with a stuck call is the garbage collector's when it ends.
     */
    private final java.util.concurrent.ConcurrentLinkedQueue<MemorySegment> bounces =
            new java.util.concurrent.ConcurrentLinkedQueue<>();
    private static final long BOUNCE_SIZE = 1 << 20;

    /** A page-aligned buffer of at least {@code size} bytes (slice it to the size). */
    private MemorySegment takeBounce(long size) {
        if (size <= BOUNCE_SIZE) {
            MemorySegment b = bounces.poll();
            return b != null ? b : Arena.ofAuto().allocate(BOUNCE_SIZE, 4096);
        }
        return Arena.ofAuto().allocate(size, 4096);
    }

    private void giveBounce(MemorySegment b) {
        if (b.byteSize() == BOUNCE_SIZE && bounces.size() < 64) {
            bounces.add(b);
        }
    }

    /** A call that fills a buffer. */
    public interface Fill {
        int call(MemorySegment buf) throws ErrnoException;
    }

    /** A call that reads a buffer. */
    public interface Drain<T> {
        T call(MemorySegment buf) throws ErrnoException;
    }

    /** Runs {@code c} into a bounce buffer and copies what it filled into {@code dst}. */
    public int fill(String what, MemorySegment dst, Fill c) throws ErrnoException {
        MemorySegment full = takeBounce(dst.byteSize());
        MemorySegment b = full.asSlice(0, dst.byteSize());
        int n = call(what, dst.byteSize(), () -> c.call(b));
        if (n > 0 && dst.byteSize() > 0) {
            MemorySegment.copy(b, 0, dst, 0, Math.min(n, dst.byteSize()));
        }
        giveBounce(full);
        return n;
    }

    /** Runs {@code c} on a bounce copy of {@code src}. */
    public <T> T drain(String what, MemorySegment src, Drain<T> c) throws ErrnoException {
        MemorySegment full = takeBounce(src.byteSize());
        MemorySegment b = full.asSlice(0, src.byteSize());
        MemorySegment.copy(src, 0, b, 0, src.byteSize());
        T r = call(what, src.byteSize(), () -> c.call(b));
        giveBounce(full);
        return r;
    }

    /** Runs {@code r} (a close) without waiting for it: a close on a dead lower may hang too. */
    public void detached(String what, Runnable r) {
        try {
            pool.execute(r);
        } catch (RejectedExecutionException e) {
            log.debug("{} left undone: every lower thread is stuck", what);
        }
    }

    @Override
    public void close() {
        pool.shutdown(); // stuck threads are daemons: they do not hold the exit
    }
}
