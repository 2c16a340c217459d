package dev.cachefs.cache;

import dev.cachefs.index.CacheStore;
import dev.cachefs.index.Chunk;
import dev.cachefs.index.IndexException;
import dev.cachefs.lower.LowerFile;
import dev.cachefs.lower.LowerFs;
import dev.cachefs.nativeio.Errno;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Libc;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reading the lower's data into the cache: one lower descriptor per object for its fetches, a
 * chunk fetched once however many readers want it (an in-flight future per chunk), fetched
 * chunks stored unless the object changed meanwhile (generation and write sequence) or the cache
 * may not take them ({@link CacheSpace#admit}), and sequential readers served ahead on a pool of
 * readahead threads.
 *
 * <p>Locks: an object's storeLock before its monitor while a chunk is written; the lower is read
 * under neither.
 */
final class Fetcher implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(CacheLayer.class);
    private final LowerFs lower;
    private final CacheLayer.Options options;
    private final CacheStats stats;
    private final int cs;
    private final ThreadLocal<MemorySegment> buffers;
    private final DataFiles files;
    private final CacheSpace space;
    private final java.util.concurrent.ExecutorService fetchPool;

    Fetcher(LowerFs lower, CacheLayer.Options options, CacheStats stats, int cs, ThreadLocal<MemorySegment> buffers,
            DataFiles files, CacheSpace space) {
        this.lower = lower;
        this.options = options;
        this.stats = stats;
        this.cs = cs;
        this.buffers = buffers;
        this.files = files;
        this.space = space;
        java.util.concurrent.atomic.AtomicInteger n = new java.util.concurrent.atomic.AtomicInteger();
        this.fetchPool = java.util.concurrent.Executors.newFixedThreadPool(Math.max(1, options.readaheadChunks()),
                r -> Thread.ofPlatform().daemon().name("cachefs-fetch-" + n.incrementAndGet()).unstarted(r));
    }

    Shared<LowerFile> reader(CachedObject o) throws ErrnoException {
        String path;
        synchronized (o) {
            if (o.reader != null && o.reader.acquire()) {
                return o.reader;
            }
            path = o.path;
        }
        LowerFile f;
        boolean direct = options.directIo();
        try {
            f = lower.open(path, Libc.O_RDONLY | (direct ? Libc.O_DIRECT : 0), 0);
        } catch (ErrnoException e) {
            if (!direct || e.errno() != Errno.EINVAL) {
                throw e;
            }
            direct = false;
            f = lower.open(path, Libc.O_RDONLY, 0);
        }
        synchronized (o) {
            if (o.reader != null && o.reader.acquire()) {
                f.close();
                return o.reader;
            }
            o.reader = new Shared<>(f, LowerFile::close);
            o.readerDirect = direct;
            o.reader.acquire();
            return o.reader;
        }
    }

    /** Bytes of one chunk read from the lower, in this thread's buffer. */
    record Fetched(MemorySegment buffer, int length) {}

    /**
     * Makes chunk {@code idx} present. Returns the data when this thread read it, or null when
     * another thread's fetch (now complete) did; {@code force}: read it here regardless.
     */
    Fetched fetch(CachedObject o, long idx, boolean force) throws ErrnoException {
        CompletableFuture<Void> f;
        boolean mine = force;
        synchronized (o) {
            f = o.inflight.get(idx);
            if (!force) {
                if (o.chunks.containsKey(idx) && o.chunks.get(idx).length() == o.expectedLength(idx, cs)) {
                    return null;
                }
                if (f == null) {
                    f = new CompletableFuture<>();
                    o.inflight.put(idx, f);
                    mine = true;
                }
            }
        }
        if (!mine) {
            try {
                f.join();
            } catch (CompletionException e) {
                if (e.getCause() instanceof ErrnoException ee) {
                    throw new ErrnoException(ee.errno(), ee.getMessage());
                }
                throw e;
            }
            return null;
        }
        try {
            Fetched r = fetchNow(o, idx);
            if (f != null && !force) {
                f.complete(null);
            }
            return r;
        } catch (ErrnoException | RuntimeException e) {
            if (f != null && !force) {
                f.completeExceptionally(e);
            }
            throw e;
        } finally {
            if (!force) {
                synchronized (o) {
                    o.inflight.remove(idx, f);
                }
            }
        }
    }

    Fetched fetchNow(CachedObject o, long idx) throws ErrnoException {
        long gen;
        long seq;
        int expected;
        synchronized (o) {
            gen = o.gen;
            seq = o.writeSeq;
            expected = o.expectedLength(idx, cs);
        }
        MemorySegment buf = buffers.get();
        long start = idx * cs;
        int n;
        Shared<LowerFile> r = reader(o);
        try {
            n = readLower(o, r, start, buf);
        } finally {
            r.release();
        }
        stats.lowerReads.increment();
        stats.lowerReadBytes.add(n);
        int len = Math.min(n, expected);
        if (n >= expected && expected > 0) {
            store(o, idx, gen, seq, buf, len);
        }
        return new Fetched(buf, len);
    }

    int readLower(CachedObject o, Shared<LowerFile> r, long start, MemorySegment buf) throws ErrnoException {
        LowerFile f = r.value;
        boolean direct;
        synchronized (o) {
            direct = o.reader == r && o.readerDirect;
        }
        try {
            int n = f.read(start, buf);
            if (!direct && f.fd() >= 0) {
                Libc.fadvise(f.fd(), start, n, Libc.POSIX_FADV_DONTNEED);
            }
            return n;
        } catch (ErrnoException e) {
            if (!direct || e.errno() != Errno.EINVAL) {
                throw e;
            }
            // The lower took O_DIRECT at open but refuses it on read: read it buffered from now on.
            log.debug("lower refuses O_DIRECT reads of {}; reading it buffered", o.path);
            LowerFile b = lower.open(o.path, Libc.O_RDONLY, 0);
            try {
                int n = b.read(start, buf);
                synchronized (o) {
                    if (o.reader == r) {
                        o.reader = new Shared<>(b, LowerFile::close);
                        o.readerDirect = false;
                        b = null;
                        r.release();
                    }
                }
                return n;
            } finally {
                if (b != null) {
                    b.close();
                }
            }
        }
    }

    /** Writes a fetched chunk to the store and records it, unless the object changed meanwhile. */
    void store(CachedObject o, long idx, long gen, long seq, MemorySegment buf, int len) {
        int crc = CacheStore.crc(buf.asSlice(0, len));
        o.storeLock.lock();
        try {
            Shared<Integer> df;
            synchronized (o) {
                if (o.gen != gen || o.writeSeq != seq) {
                    return;
                }
                if (!space.admit(o, len)) {
                    stats.uncachedBytes.add(len);
                    return;
                }
                try {
                    df = files.dataLocked(o);
                } catch (IndexException e) {
                    files.storeFailed(o, e);
                    return;
                }
            }
            try {
                files.pwriteFully(df.value, buf, len, idx * cs);
                synchronized (o) {
                    // An invalidation meanwhile: the bytes went to the old generation's file.
                    if (o.gen == gen && o.writeSeq == seq) {
                        files.chunkStoredLocked(o, new Chunk(idx, len, crc));
                        space.stored(len);
                    }
                }
            } catch (ErrnoException e) {
                files.storeFailed(o, e);
            } finally {
                df.release();
            }
        } finally {
            o.storeLock.unlock();
        }
    }

    /** Sequential reader: fetch the chunks after this read ahead of it, in parallel. */
    void readAhead(CacheLayer.Handle h, long offset, int n) {
        int max = options.readaheadChunks();
        if (max <= 0 || n <= 0) {
            return;
        }
        long end = offset + n;
        int window;
        synchronized (h) {
            // The kernel's own readahead sends several reads at once, which reach the workers out
            // of order: a read near the furthest one so far still counts as sequential.
            if (Math.abs(offset - h.nextOffset) <= 2L * cs) {
                h.window = Math.min(max, Math.max(2, h.window * 2));
                h.nextOffset = Math.max(h.nextOffset, end);
            } else {
                h.window = 0;
                h.nextOffset = end;
            }
            window = h.window;
            end = h.nextOffset;
        }
        if (window == 0) {
            return;
        }
        CachedObject o = h.obj;
        long first = (end + cs - 1) / cs;
        synchronized (o) {
            long last = Math.min(first + window, o.chunkCount(cs));
            for (long idx = first; idx < last; idx++) {
                Chunk c = o.chunks.get(idx);
                if ((c != null && c.length() == o.expectedLength(idx, cs)) || o.inflight.containsKey(idx)) {
                    continue;
                }
                CompletableFuture<Void> f = new CompletableFuture<>();
                o.inflight.put(idx, f);
                long i = idx;
                stats.readaheadChunks.increment();
                fetchPool.execute(() -> {
                    try {
                        fetchNow(o, i);
                        f.complete(null);
                    } catch (ErrnoException | RuntimeException e) {
                        f.completeExceptionally(e);
                    } finally {
                        synchronized (o) {
                            o.inflight.remove(i, f);
                        }
                    }
                });
            }
        }
    }

    @Override
    public void close() {
        fetchPool.shutdown();
        try {
            fetchPool.awaitTermination(30, java.util.concurrent.TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
