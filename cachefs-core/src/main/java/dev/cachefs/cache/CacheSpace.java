package dev.cachefs.cache;

import dev.cachefs.index.CacheIndex;
import dev.cachefs.index.CacheStore;
import dev.cachefs.index.Chunk;
import dev.cachefs.index.FileId;
import dev.cachefs.index.IndexException;
import dev.cachefs.index.ObjectRecord;
import dev.cachefs.index.ObjectState;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * How much the cache may hold and the culler that keeps it there, in the manner of cachefilesd:
 * bytes and files against {@link CacheLayer.Limits}, free space on the cache disk (cull, stop,
 * resume thresholds), culling by segmented LRU in its own thread, and the user's evictions and
 * unpins. Pinned data has its own budget, counted apart.
 *
 * <p>Threads: counters are volatile or atomic and read from any thread; a culling pass runs under
 * this object's monitor; an object is evicted under its storeLock and monitor, never while open.
 */
final class CacheSpace implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(CacheLayer.class);
    private final CacheStore store;
    private final CacheIndex index;
    private final IndexWriter writer;
    private final CacheStats stats;
    private final CacheLayer.Options options;
    private final DataFiles files;
    private final LogLimiter limited;
    /** The loaded objects (the layer's map, guarded by itself). */
    private final Map<FileId, CachedObject> objects;

    private volatile long usedBytes;
    private volatile long usedFiles;
    private volatile long pinnedBytes;
    /** Bytes pins fetched since the last measurement (the pin budget counts them at once). */
    final java.util.concurrent.atomic.AtomicLong pinFetched = new java.util.concurrent.atomic.AtomicLong();
    /** Bytes stored since the last measurement. */
    private final java.util.concurrent.atomic.AtomicLong storedSince = new java.util.concurrent.atomic.AtomicLong();
    /** Below stop_free: no new data is cached until resume_free. */
    private volatile boolean diskLow;
    private volatile int freePct = 100;
    private final Thread culler;
    private final Object cullSignal = new Object();
    private volatile boolean closing;

    CacheSpace(CacheStore store, IndexWriter writer, CacheStats stats, CacheLayer.Options options, DataFiles files,
               LogLimiter limited, Map<FileId, CachedObject> objects) {
        this.store = store;
        this.index = store.index();
        this.writer = writer;
        this.stats = stats;
        this.options = options;
        this.files = files;
        this.limited = limited;
        this.objects = objects;
        measure();
        this.culler = Thread.ofPlatform().daemon().name("cachefs-culler").start(this::cullLoop);
    }

    private volatile dev.cachefs.index.DirectoryUsage dirUsage;
    private volatile long dirUsageAtNs;

    /**
     * What the cache directory holds on disk, walked at most every 10 s (a metrics scrape or a
     * status every few seconds must not stat every data file each time).
     */
    private dev.cachefs.index.DirectoryUsage directoryUsage() {
        long now = System.nanoTime();
        dev.cachefs.index.DirectoryUsage u = dirUsage;
        if (u == null || now - dirUsageAtNs > 10_000_000_000L) {
            u = dev.cachefs.index.DirectoryUsage.of(store.directory());
            dirUsage = u;
            dirUsageAtNs = now;
        }
        return u;
    }

    /** {@code n} more bytes were stored. */
    void stored(long n) {
        storedSince.addAndGet(n);
    }

    long pinnedBytes() {
        return pinnedBytes;
    }

    boolean diskLow() {
        return diskLow;
    }

    void measure() {
        try {
            CacheIndex.Usage u = index.census().usage();
            storedSince.set(0);
            usedBytes = u.bytes() - u.pinnedBytes(); // pinned data has its own budget
            usedFiles = u.files() - u.pinnedFiles();
            pinnedBytes = u.pinnedBytes();
            pinFetched.set(0);
        } catch (IndexException e) {
            log.warn("cannot measure the cache's use: {}", e.getMessage());
        }
        try {
            java.nio.file.FileStore fs = java.nio.file.Files.getFileStore(store.directory());
            long total = fs.getTotalSpace();
            freePct = total <= 0 ? 100 : (int) (fs.getUsableSpace() * 100 / total);
        } catch (java.io.IOException e) {
            freePct = 100;
        }
        CacheLayer.Limits l = options.limits();
        if (!diskLow && freePct < l.stopFreePct()) {
            diskLow = true;
            log.warn("the cache disk has {}% free, under stop_free={}%: new data is not cached until {}% is free",
                    freePct, l.stopFreePct(), l.resumeFreePct());
        } else if (diskLow && freePct >= l.resumeFreePct()) {
            diskLow = false;
            log.info("the cache disk has {}% free again: caching resumes", freePct);
        }
    }

    /** Whether {@code len} more bytes of {@code o} may be stored now. */
    boolean admit(CachedObject o, int len) {
        if (diskLow) {
            return false;
        }
        if (o.pinned) {
            return true; // only free space limits pinned data
        }
        CacheLayer.Limits l = options.limits();
        long used = usedBytes + storedSince.get();
        boolean over = (l.maxBytes() > 0 && used + len > l.maxBytes())
                || (l.maxFiles() > 0 && usedFiles >= l.maxFiles() && o.chunks.isEmpty());
        if (l.maxBytes() > 0 && used + len > l.maxBytes() * 9 / 10 || over) {
            wakeCuller();
        }
        return !over;
    }

    void wakeCuller() {
        synchronized (cullSignal) {
            cullSignal.notifyAll();
        }
    }

    void cullLoop() {
        while (!closing) {
            try {
                synchronized (cullSignal) {
                    cullSignal.wait(1000);
                }
                if (!closing) {
                    cull();
                }
            } catch (InterruptedException e) {
                return;
            } catch (RuntimeException e) {
                log.warn("culling failed: {}", e.toString());
            }
        }
    }

    /** One culling pass: measures, then removes least recently used data that may go, down to the targets. */
    synchronized void cull() {
        writer.flush();
        measure();
        CacheLayer.Limits l = options.limits();
        long bytesTarget = l.maxBytes() > 0 && usedBytes > l.maxBytes() * 9 / 10 ? l.maxBytes() * 8 / 10 : Long.MAX_VALUE;
        long filesTarget = l.maxFiles() > 0 && usedFiles > l.maxFiles() * 9 / 10 ? l.maxFiles() * 8 / 10 : Long.MAX_VALUE;
        boolean forSpace = freePct < l.cullFreePct();
        if (bytesTarget == Long.MAX_VALUE && filesTarget == Long.MAX_VALUE && !forSpace) {
            return;
        }
        long bytes = usedBytes;
        long files = usedFiles;
        java.util.Set<Long> tried = new java.util.HashSet<>();
        while (bytes > bytesTarget || files > filesTarget || forSpace) {
            List<ObjectRecord> batch;
            try {
                batch = index.census().cullCandidates(64 + tried.size());
            } catch (IndexException e) {
                log.warn("cannot choose what to cull: {}", e.getMessage());
                return;
            }
            boolean progress = false;
            for (ObjectRecord r : batch) {
                if (!tried.add(r.id())) {
                    continue;
                }
                long freed = evict(r, false);
                if (freed >= 0) {
                    progress = true;
                    bytes -= freed;
                    files--;
                    stats.culledBytes.add(freed);
                    stats.culledFiles.increment();
                }
                if (bytes <= bytesTarget && files <= filesTarget && !forSpace) {
                    break;
                }
            }
            if (forSpace) {
                measure();
                forSpace = freePct < l.resumeFreePct();
            }
            if (!progress) {
                break; // everything left is open, pinned or local changes
            }
        }
        writer.flush();
        measure();
    }

    /** Drops the cached data of {@code r} unless it is in use; the bytes freed, or -1. */
    long evict(ObjectRecord r, boolean explicit) {
        CachedObject o;
        synchronized (objects) {
            o = objects.get(r.fileId());
        }
        try {
            long bytes = 0;
            if (o != null) {
                o.storeLock.lock();
                try {
                    synchronized (o) {
                        if (o.opens() > 0 || !o.inflight.isEmpty()) {
                            return -1;
                        }
                        if (o.pinned && !explicit) {
                            return -1; // pinned since the candidates were chosen
                        }
                        o.pinned = false;
                        bytes = files.dropDataLocked(o);
                    }
                } finally {
                    o.storeLock.unlock();
                }
                return bytes;
            }
            for (Chunk c : index.data().chunks(r.id())) {
                bytes += c.length();
            }
            store.removeData(r);
            index.setState(r.id(), ObjectState.METADATA_ONLY);
            return bytes;
        } catch (IndexException e) {
            limited.warn("cull", "cannot cull {}: {}", r.path(), e.getMessage());
            return -1;
        }
    }

    /** Unpins {@code rel} (and all under it); the number of objects unpinned. */
    int unpin(String rel, boolean recursive) throws IndexException {
        writer.flush();
        int n = 0;
        for (ObjectRecord r : index.census().under(rel, recursive)) {
            if (r.pinned()) {
                index.setPinned(r.id(), false);
                n++;
            }
            CachedObject o;
            synchronized (objects) {
                o = objects.get(r.fileId());
            }
            if (o != null) {
                synchronized (o) {
                    o.pinned = false;
                }
            }
        }
        measure();
        wakeCuller();
        return n;
    }

    /** Drops the cached data of {@code rel} (and all under it), unpinning it; open files keep theirs. */
    CacheLayer.Evicted evictPath(String rel, boolean recursive) throws IndexException {
        writer.flush();
        int n = 0;
        int busy = 0;
        long bytes = 0;
        for (ObjectRecord r : index.census().under(rel, recursive)) {
            if (r.pinned()) {
                index.setPinned(r.id(), false);
            }
            if (r.state().isPrecious()) {
                busy++; // local changes are never dropped
                continue;
            }
            long freed = evict(r, true);
            if (freed < 0) {
                busy++;
            } else if (freed > 0) {
                n++;
                bytes += freed;
            }
        }
        writer.flush();
        measure();
        return new CacheLayer.Evicted(n, bytes, busy);
    }

    /** Every pin: its lower path and the bytes it holds. */
    Map<String, Long> pins() throws IndexException {
        writer.flush();
        Map<String, Long> out = new java.util.LinkedHashMap<>();
        for (ObjectRecord r : index.census().pinned()) {
            out.put(r.path(), index.census().dataBytes(r.id()));
        }
        return out;
    }

    /** Bytes of data the cache holds (as of the last pass, plus what was stored since). */
    long usedBytes() {
        return usedBytes + storedSince.get();
    }

    /** What the cache holds against its limits (for status). */
    Map<String, String> usage() {
        CacheLayer.Limits l = options.limits();
        Map<String, String> m = new java.util.LinkedHashMap<>();
        m.put("cache used", (usedBytes + storedSince.get()) + " bytes" + (l.maxBytes() > 0 ? " of " + l.maxBytes() : " (no size limit)"));
        m.put("pinned data", pinnedBytes + " bytes" + (l.maxPinnedBytes() > 0 ? " of " + l.maxPinnedBytes() : " (no pin limit)"));
        m.put("cache files", usedFiles + (l.maxFiles() > 0 ? " of " + l.maxFiles() : " (no file limit)"));
        m.put("cache disk free", freePct + "% (cull below " + l.cullFreePct() + "%, stop below " + l.stopFreePct()
                + "%, resume at " + l.resumeFreePct() + "%)" + (diskLow ? ", caching stopped" : ""));
        dev.cachefs.index.DirectoryUsage du = directoryUsage();
        StringBuilder parts = new StringBuilder();
        du.parts().forEach((k, v) -> parts.append(parts.isEmpty() ? "" : ", ").append(k).append(' ').append(v));
        m.put("cache directory", du.total() + " bytes on disk: " + parts + " (--cache-size caps the data; pinned data"
                + " has its own budget; the rest is outside both)");
        return m;
    }

    /** The same as {@link #usage()}, as numbers for metrics: bytes, files, percent; a limit of 0 is none. */
    Map<String, Long> usageGauges() {
        CacheLayer.Limits l = options.limits();
        Map<String, Long> m = new java.util.LinkedHashMap<>();
        m.put("cache_used_bytes", usedBytes + storedSince.get());
        m.put("cache_limit_bytes", l.maxBytes());
        m.put("cache_pinned_bytes", pinnedBytes);
        m.put("cache_pin_limit_bytes", l.maxPinnedBytes());
        m.put("cache_files", usedFiles);
        m.put("cache_files_limit", l.maxFiles());
        m.put("cache_disk_free_percent", (long) freePct);
        m.put("cache_stopped", diskLow ? 1L : 0L);
        dev.cachefs.index.DirectoryUsage du = directoryUsage();
        m.put("cache_directory_bytes", du.total());
        m.put("cache_index_bytes", du.index());
        m.put("cache_reserve_bytes", du.reserve());
        m.put("cache_offline_bytes", du.offline() + du.conflicts());
        return m;
    }

    @Override
    public void close() {
        closing = true;
        culler.interrupt();
        synchronized (this) {
            // a culling pass in progress has finished
        }
    }
}
