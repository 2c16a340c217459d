package dev.cachefs.harness;

import dev.cachefs.lower.ForwardingLowerFs;
import dev.cachefs.lower.LowerFile;
import dev.cachefs.lower.LowerFs;
import dev.cachefs.lower.LowerOp;
import dev.cachefs.nativeio.Errno;
import dev.cachefs.nativeio.ErrnoException;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A {@link LowerFs} around a real one that fails on purpose, for conditions a real server cannot
 * produce on demand: EIO on the Nth call, ENOSPC once a write budget is spent, slow calls, calls
 * that never return (until {@link #releaseHangs}). Random faults come from a seeded generator, so
 * a failing run repeats with the same seed. Files it opens report no descriptor for passthrough,
 * so every read and write of a mount over it comes through here and can fail.
 */
public final class FaultyLowerFs extends ForwardingLowerFs {

    /** A fault: which calls it hits and what it does to them. */
    public interface Fault {
        /** Called before the real call; throws to fail it, sleeps to slow it, blocks to hang it. */
        void apply(LowerOp op, long nth, FaultyLowerFs fs) throws ErrnoException;
    }

    private final Random random;
    private final List<Fault> faults = new CopyOnWriteArrayList<>();
    private final Map<LowerOp, AtomicLong> calls = new EnumMap<>(LowerOp.class);
    private final AtomicLong written = new AtomicLong();
    private volatile CountDownLatch hangs = new CountDownLatch(1);

    public FaultyLowerFs(LowerFs inner, long seed) {
        super(inner);
        this.random = new Random(seed);
        for (LowerOp op : LowerOp.values()) {
            calls.put(op, new AtomicLong());
        }
    }

    public FaultyLowerFs inject(Fault f) {
        faults.add(f);
        return this;
    }

    /** Removes every fault; calls already hanging stay until {@link #releaseHangs}. */
    public void heal() {
        faults.clear();
    }

    /** Lets every hanging call go on (to the real lower) and re-arms hangs for later calls. */
    public void releaseHangs() {
        CountDownLatch old = hangs;
        hangs = new CountDownLatch(1);
        old.countDown();
    }

    public long calls(LowerOp op) {
        return calls.get(op).get();
    }

    // ---- faults ----

    /**
     * The {@code n}th call of {@code op} fails with {@code errno}, once. Calls are counted from the
     * lower's creation (1-based): to hit the next-but-one call, pass {@code calls(op) + 2}.
     */
    public static Fault failNth(LowerOp op, long n, int errno) {
        return (o, nth, fs) -> {
            if (o == op && nth == n) {
                throw new ErrnoException(errno, "injected " + Errno.name(errno) + " on " + op + " #" + n);
            }
        };
    }

    /** Every call of {@code op} fails with {@code errno}. */
    public static Fault failAll(LowerOp op, int errno) {
        return (o, nth, fs) -> {
            if (o == op) {
                throw new ErrnoException(errno, "injected " + Errno.name(errno) + " on " + op);
            }
        };
    }

    /** Each call of any of {@code ops} fails with probability {@code p}, drawn from the seeded generator. */
    public static Fault failRandomly(double p, int errno, LowerOp... ops) {
        List<LowerOp> which = List.of(ops);
        return (o, nth, fs) -> {
            if (which.contains(o) && fs.draw() < p) {
                throw new ErrnoException(errno, "injected random " + Errno.name(errno) + " on " + o + " #" + nth);
            }
        };
    }

    /** Writes fail with ENOSPC once {@code bytes} have been written through this lower. */
    public static Fault noSpaceAfter(long bytes) {
        return (o, nth, fs) -> {
            if ((o == LowerOp.WRITE || o == LowerOp.FALLOCATE) && fs.written.get() >= bytes) {
                throw new ErrnoException(Errno.ENOSPC, "injected ENOSPC after " + bytes + " bytes");
            }
        };
    }

    /** Every call of {@code op} (of all ops when null) takes {@code millis} longer. */
    public static Fault slow(LowerOp op, long millis) {
        return (o, nth, fs) -> {
            if (op == null || o == op) {
                try {
                    Thread.sleep(millis);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new ErrnoException(Errno.EINTR, "interrupted in an injected delay");
                }
            }
        };
    }

    /** Calls of {@code op} never return until {@link #releaseHangs} (or interruption: EINTR). */
    public static Fault hang(LowerOp op) {
        return (o, nth, fs) -> {
            if (o == op) {
                try {
                    fs.hangs.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new ErrnoException(Errno.EINTR, "interrupted in an injected hang");
                }
            }
        };
    }

    private synchronized double draw() {
        return random.nextDouble();
    }

    // ---- the hooks ----

    @Override
    protected void before(LowerOp op) throws ErrnoException {
        long nth = calls.get(op).incrementAndGet();
        for (Fault f : faults) {
            f.apply(op, nth, this);
        }
    }

    @Override
    protected void written(int n) {
        written.addAndGet(n);
    }

    /** No passthrough: the kernel would go around the faults. */
    @Override
    protected int fdOf(LowerFile f) {
        return -1;
    }

    @Override
    public void close() {
        releaseHangs();
        super.close();
    }
}
