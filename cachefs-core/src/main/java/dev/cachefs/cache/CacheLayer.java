package dev.cachefs.cache;

import dev.cachefs.fuse.Fuse;
import dev.cachefs.index.CacheIndex;
import dev.cachefs.index.CacheStore;
import dev.cachefs.index.Chunk;
import dev.cachefs.index.DataSeal;
import dev.cachefs.index.FileId;
import dev.cachefs.index.Fingerprint;
import dev.cachefs.index.IdentityMode;
import dev.cachefs.index.IndexException;
import dev.cachefs.index.LowerIdentity;
import dev.cachefs.index.ObjectRecord;
import dev.cachefs.index.ObjectState;
import dev.cachefs.lower.LowerFile;
import dev.cachefs.lower.LowerFs;
import dev.cachefs.nativeio.Errno;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Libc;
import dev.cachefs.nativeio.Stat;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The data cache between the FUSE adapter and the lower: regular files' data is kept in the
 * {@link CacheStore} in chunks, fetched from the lower on a miss (ahead of a sequential reader,
 * several at a time), and validated against the lower's fingerprint at every open (close-to-open)
 * and whenever fresh attributes show a change, so stale data is never served.
 *
 * <p>How an open is served is chosen per inode, because the kernel insists on one mode per inode:
 * a read-only open of a fully cached file is handed to the kernel with FUSE passthrough onto the
 * cache file (no daemon work per read); while such opens exist, other opens of the inode use
 * FOPEN_DIRECT_IO through the daemon (the only other mode the kernel allows then), and writes
 * they make land in that same cache file, so passthrough readers see them. Otherwise opens use
 * the kernel page cache, kept across opens while the version is unchanged (FOPEN_KEEP_CACHE).
 *
 * <p>Writes go through to the lower first, then update present chunks of the cache, so that a
 * re-read is local. Crash safety of clean data comes from checksums, not syncs: chunks are
 * written without fsync and recorded with their CRC32C; after a crash ({@link
 * CacheStore#trustsData} false) every chunk is checked once before it is served.
 */
public final class CacheLayer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(CacheLayer.class);

    /**
     * Tunables.
     *
     * @param readaheadChunks how many chunks a sequential reader may have fetched ahead at most
     * @param directIo read the lower with O_DIRECT where it allows it, so its data is not cached
     *     twice in memory (else buffered reads, dropped from the page cache after each chunk)
     */
    public record Options(int readaheadChunks, boolean directIo, Limits limits, Scrubber.Options scrub) {
        public Options(int readaheadChunks, boolean directIo) {
            this(readaheadChunks, directIo, Limits.defaults(), Scrubber.Options.defaults());
        }

        public static Options defaults() {
            return new Options(16, true);
        }

        public Options withLimits(Limits l) {
            return new Options(readaheadChunks, directIo, l, scrub);
        }

        public Options withReadahead(int chunks) {
            return new Options(chunks, directIo, limits, scrub);
        }

        public Options withDirectIo(boolean direct) {
            return new Options(readaheadChunks, direct, limits, scrub);
        }

        public Options withScrub(Scrubber.Options s) {
            return new Options(readaheadChunks, directIo, limits, s);
        }
    }

    /**
     * How much the cache may hold, in the manner of cachefilesd: at most {@code maxBytes} of data
     * and {@code maxFiles} files (0: no limit), and free space on the cache's filesystem: culling
     * starts below {@code cullFreePct} percent free, no new data is cached below {@code stopFreePct},
     * and caching resumes above {@code resumeFreePct}. Culling brings use down to 80 % of a limit
     * once it passes 90 %.
     */
    public record Limits(long maxBytes, long maxFiles, int cullFreePct, int stopFreePct, int resumeFreePct,
                         long maxPinnedBytes) {
        /** Without a cap on pinned data (only free space bounds it). */
        public Limits(long maxBytes, long maxFiles, int cullFreePct, int stopFreePct, int resumeFreePct) {
            this(maxBytes, maxFiles, cullFreePct, stopFreePct, resumeFreePct, 0);
        }

        public Limits {
            if (maxPinnedBytes < 0) {
                throw new IllegalArgumentException("the pin budget cannot be negative");
            }
            if (maxBytes < 0 || maxFiles < 0 || stopFreePct < 0 || !(stopFreePct <= cullFreePct && cullFreePct <= resumeFreePct)
                    || resumeFreePct > 100) {
                throw new IllegalArgumentException("cache limits need 0 <= stop_free <= cull_free <= resume_free <= 100 (got "
                        + stopFreePct + ", " + cullFreePct + ", " + resumeFreePct + ")");
            }
        }

        public static Limits defaults() {
            return new Limits(0, 0, 7, 3, 10);
        }
    }

    /** The identity of a lower path (see {@link LowerIdentity}). Closed with the layer. */
    public interface Identifier extends AutoCloseable {
        FileId idOf(String path) throws ErrnoException;

        @Override
        default void close() {}
    }

    /** An identifier over the lower root {@code rootRaw}, with its own O_PATH descriptor. */
    public static Identifier identifier(String rootRaw, LowerIdentity identity) throws ErrnoException {
        int fd = Libc.open(rootRaw, Libc.O_PATH | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0);
        return new Identifier() {
            @Override
            public FileId idOf(String path) throws ErrnoException {
                return identity.idOf(fd, path);
            }

            @Override
            public void close() {
                Libc.close(fd);
            }
        };
    }

    /** How one open is served. */
    public enum Mode { PASSTHROUGH, CACHED_IO, DIRECT_IO }

    /** An open regular file as the cache layer serves it. */
    public static final class Handle {
        final CachedObject obj;
        final LowerFile lower;
        final boolean writer;
        final Mode mode;
        final Shared<Integer> backing;
        /** Sequential detection, guarded by this handle. */
        long nextOffset;
        int window;
        /** A passthrough writer: the cache file's mtime when last copied to the lower. Guarded by this handle. */
        long syncedMtime;

        Handle(CachedObject obj, LowerFile lower, boolean writer, Mode mode, Shared<Integer> backing) {
            this.obj = obj;
            this.lower = lower;
            this.writer = writer;
            this.mode = mode;
            this.backing = backing;
        }

        /** The open file's own lower descriptor, or null (a read-only open is served from the cache). */
        public LowerFile lower() {
            return lower;
        }

        public Mode mode() {
            return mode;
        }
    }

    /**
     * The outcome of an open: the handle and what the kernel is told; {@code versionChanged}: the
     * lower had another version than the cached one (the kernel's attributes are stale).
     */
    public record Opened(Handle handle, int openFlags, int passthroughFd, boolean versionChanged) {}

    private final CacheStore store;
    private final CacheIndex index;
    private final LowerFs lower;
    private final Identifier ids;
    private final IdentityMode identityMode;
    private final Options options;
    private final CacheStats stats;
    private final int cs;
    private final IndexWriter writer;
    private final ExecutorService fetchPool;
    private final Map<FileId, CachedObject> objects = new HashMap<>();
    private final Map<Long, CachedObject> byNode = new ConcurrentHashMap<>();
    private final ThreadLocal<MemorySegment> buffers;
    private final MemorySegment zeros;
    /** Failures that repeat per request: a line a minute per kind. */
    private final LogLimiter limited = new LogLimiter(log, 60_000);
    private final DirCache dirs;
    private final MetaCopy meta;
    /** Use as of the last culling pass, plus what was stored since (approximate between passes). */
    private volatile long usedBytes;
    private volatile long usedFiles;
    private volatile long pinnedBytes;
    /** Pinned bytes fetched since the last measure (pinnedBytes is as of then). */
    private final java.util.concurrent.atomic.AtomicLong pinFetched = new java.util.concurrent.atomic.AtomicLong();
    private final java.util.concurrent.atomic.AtomicLong storedSince = new java.util.concurrent.atomic.AtomicLong();
    /** Free space below stop_free: no new data is cached until it is above resume_free. */
    private volatile boolean diskLow;
    private volatile int freePct = 100;
    private final Thread culler;
    private final Scrubber scrubber;
    /**
     * Chunks the scrub dropped from objects no one held, by object id: when one is loaded they are
     * its {@link CachedObject#damaged} (for this daemon's life).
     */
    private final Map<Long, java.util.Set<Long>> scrubDamaged = new ConcurrentHashMap<>();
    private final Object cullSignal = new Object();
    private volatile boolean closing;

    public CacheLayer(CacheStore store, LowerFs lower, Identifier ids, IdentityMode identityMode, Options options,
                      CacheStats stats) {
        this.store = store;
        this.index = store.index();
        this.lower = lower;
        this.ids = ids;
        this.identityMode = identityMode;
        this.options = options;
        this.stats = stats;
        this.cs = store.chunkSize();
        this.writer = new IndexWriter(index, store::unlinkDataOnly);
        AtomicInteger n = new AtomicInteger();
        this.fetchPool = Executors.newFixedThreadPool(Math.max(1, options.readaheadChunks()),
                r -> Thread.ofPlatform().daemon().name("cachefs-fetch-" + n.incrementAndGet()).unstarted(r));
        // Page-aligned, chunk-sized: what O_DIRECT reads of the lower need.
        this.buffers = ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(cs, 4096));
        this.zeros = Arena.ofAuto().allocate(cs, 4096);
        this.dirs = new DirCache(index, writer, ids, identityMode, stats);
        this.meta = new MetaCopy(writer, ids);
        measure();
        this.culler = Thread.ofPlatform().daemon().name("cachefs-culler").start(this::cullLoop);
        this.scrubber = new Scrubber(this, store, stats, options.scrub());
    }

    // ------------------------------------------------------------------ space

    private void measure() {
        try {
            CacheIndex.Usage u = index.usage();
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
        Limits l = options.limits();
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
    private boolean admit(CachedObject o, int len) {
        if (diskLow) {
            return false;
        }
        if (o.pinned) {
            return true; // only free space limits pinned data
        }
        Limits l = options.limits();
        long used = usedBytes + storedSince.get();
        boolean over = (l.maxBytes() > 0 && used + len > l.maxBytes())
                || (l.maxFiles() > 0 && usedFiles >= l.maxFiles() && o.chunks.isEmpty());
        if (l.maxBytes() > 0 && used + len > l.maxBytes() * 9 / 10 || over) {
            wakeCuller();
        }
        return !over;
    }

    private void wakeCuller() {
        synchronized (cullSignal) {
            cullSignal.notifyAll();
        }
    }

    private void cullLoop() {
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
    public synchronized void cull() {
        writer.flush();
        measure();
        Limits l = options.limits();
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
                batch = index.cullCandidates(64 + tried.size());
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
    private long evict(ObjectRecord r, boolean explicit) {
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
                        bytes = dropDataLocked(o);
                    }
                } finally {
                    o.storeLock.unlock();
                }
                return bytes;
            }
            for (Chunk c : index.chunks(r.id())) {
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

    // ------------------------------------------------------------------ pins

    /** How far a pin is: files and bytes done, of the totals found by its walk. */
    public record PinProgress(long files, long bytes, long totalFiles, long totalBytes) {}

    /** Told of a pin's progress now and then; may throw to abort it (the client went away). */
    public interface PinListener {
        void progress(PinProgress p) throws java.io.IOException;
    }

    /**
     * Pins {@code rel} (a lower path; with {@code recursive}, a directory and all under it): its
     * data is fetched into the cache and kept, never culled, outside the size limit; listings,
     * symlink targets and attributes are copied up. Safe to interrupt and run again: what is
     * present is not fetched twice, and pins are in the index.
     */
    public PinProgress pin(String rel, boolean recursive, PinListener listener) throws ErrnoException, java.io.IOException {
        List<String> files = new ArrayList<>();
        List<Stat> stats = new ArrayList<>();
        Stat top = lower.stat(rel);
        if (top.isDirectory() && !recursive) {
            throw new IllegalArgumentException(rel.isEmpty() ? "the mount's root is a directory: use -r" : "'" + rel + "' is a directory: use -r");
        }
        walkForPin(rel, top, files, stats);
        return pinFiles(files, stats, listener);
    }

    /** Pins files found by a walk, with the attributes the walk saw (the revalidation). */
    private PinProgress pinFiles(List<String> files, List<Stat> stats, PinListener listener)
            throws ErrnoException, java.io.IOException {
        long total = stats.stream().mapToLong(Stat::size).sum();
        long doneBytes = 0;
        long last = System.nanoTime();
        for (int i = 0; i < files.size(); i++) {
            String path = files.get(i);
            CachedObject o;
            try {
                o = objectFor(path, stats.get(i));
            } catch (ErrnoException e) {
                continue; // gone since the walk
            }
            try {
                synchronized (o) {
                    o.pinned = true;
                    writer.submit(new IndexWriter.SetPinned(o.rec.id(), true));
                }
                long n;
                synchronized (o) {
                    n = o.chunkCount(cs);
                }
                long budget = options.limits().maxPinnedBytes();
                for (long idx = 0; idx < n; idx++) {
                    boolean present;
                    synchronized (o) {
                        Chunk c = o.chunks.get(idx);
                        present = c != null && c.length() == o.expectedLength(idx, cs);
                    }
                    if (!present && budget > 0 && pinnedBytes + pinFetched.get() + o.expectedLength(idx, cs) > budget) {
                        throw new java.io.IOException("the pin budget (--pin-size " + budget + " bytes) is full: "
                                + (pinnedBytes + pinFetched.get()) + " bytes pinned; unpin something or raise it");
                    }
                    if (!present) {
                        pinFetched.addAndGet(o.expectedLength(idx, cs));
                        fetch(o, idx, false);
                        synchronized (o) {
                            if (!o.chunks.containsKey(idx)) {
                                throw new java.io.IOException(diskLow ? "the cache disk is too full to pin " + path
                                        + " (under stop_free)" : "cannot store " + path + " in the cache");
                            }
                        }
                    }
                    doneBytes += o.expectedLength(idx, cs);
                    if (System.nanoTime() - last > 500_000_000L) {
                        last = System.nanoTime();
                        listener.progress(new PinProgress(i, doneBytes, files.size(), total));
                    }
                }
            } catch (ErrnoException e) {
                if (e.errno() != Errno.ENOENT) {
                    throw e;
                }
                // removed on the lower since the walk: nothing to keep
            } finally {
                releaseIfIdle(o);
            }
        }
        writer.flush();
        measure();
        return new PinProgress(files.size(), doneBytes, files.size(), total);
    }

    /**
     * Pins what the config's pin patterns match: below each pattern's literal directory, every
     * file it matches (the walk copies the listings up as well). Returns the files pinned.
     */
    public int pinByPolicy(Policy policy) {
        int n = 0;
        for (Policy.Glob g : policy.pins()) {
            String dir = g.literalDir();
            try {
                List<String> files = new ArrayList<>();
                List<Stat> stats = new ArrayList<>();
                walkForPin(dir, lower.stat(dir), files, stats);
                List<String> matched = new ArrayList<>();
                List<Stat> matchedStats = new ArrayList<>();
                for (int i = 0; i < files.size(); i++) {
                    if (g.matches(files.get(i)) && policy.pinned(files.get(i))) {
                        matched.add(files.get(i));
                        matchedStats.add(stats.get(i));
                    }
                }
                n += (int) pinFiles(matched, matchedStats, p -> {}).files();
            } catch (ErrnoException | java.io.IOException | RuntimeException e) {
                log.warn("config pin {}: {}", g.text(), e.getMessage());
            }
        }
        if (n > 0) {
            log.info("config: {} files pinned", n);
        }
        return n;
    }

    private void walkForPin(String path, Stat st, List<String> files, List<Stat> stats) throws ErrnoException {
        meta.attrs(path, st);
        if (st.isRegular()) {
            files.add(path);
            stats.add(st);
        } else if (st.isSymlink()) {
            meta.symlink(path, lower.readlink(path));
        } else if (st.isDirectory()) {
            List<dev.cachefs.lower.LowerDir.DirEntry> all = new java.util.ArrayList<>();
            dev.cachefs.lower.LowerDir d = lower.openDir(path);
            try {
                for (List<dev.cachefs.lower.LowerDir.DirEntry> b = d.next(); !b.isEmpty(); b = d.next()) {
                    all.addAll(b);
                }
            } finally {
                d.close();
            }
            dirs.store(path, st, all);
            for (var e : all) {
                if (e.name().equals(".") || e.name().equals("..")) {
                    continue;
                }
                String child = path.isEmpty() ? e.name() : path + "/" + e.name();
                try {
                    walkForPin(child, lower.stat(child), files, stats);
                } catch (ErrnoException ex) {
                    log.debug("pin skips {}: {}", child, ex.getMessage());
                }
            }
        }
    }

    /** The object of a lower file outside any kernel node (pinning). */
    private CachedObject objectFor(String path, Stat st) throws ErrnoException {
        FileId id = ids.idOf(path);
        CachedObject o;
        synchronized (objects) {
            o = loadedLocked(id, path, st);
        }
        revalidate(o, st);
        return o;
    }

    /** The object of {@code id}, loaded from the index if no one holds it now. Call holding {@code objects}. */
    private CachedObject loadedLocked(FileId id, String path, Stat st) throws ErrnoException {
        CachedObject o = objects.get(id);
        if (o == null) {
            o = load(id, path, st);
            objects.put(id, o);
        }
        return o;
    }

    private void releaseIfIdle(CachedObject o) {
        Shared<LowerFile> idle = null;
        synchronized (objects) {
            synchronized (o) {
                if (o.nodeRefs <= 0 && o.opens() == 0 && o.inflight.isEmpty() && o.adopting == 0) {
                    objects.remove(o.rec.fileId(), o);
                    recordSealLocked(o);
                    if (o.data != null) {
                        o.data.release();
                        o.data = null;
                    }
                    idle = o.reader;
                    o.reader = null;
                }
            }
        }
        if (idle != null) {
            idle.release();
        }
    }

    /**
     * Lets go of every lower descriptor kept for fetching (the lower came back: descriptors from
     * before an outage may stay broken); the next miss opens the file again.
     */
    public void dropReaders() {
        List<CachedObject> all;
        synchronized (objects) {
            all = new ArrayList<>(objects.values());
        }
        for (CachedObject o : all) {
            Shared<LowerFile> r = null;
            synchronized (o) {
                if (o.reader != null && o.inflight.isEmpty()) {
                    r = o.reader;
                    o.reader = null;
                }
            }
            if (r != null) {
                r.release();
            }
        }
    }

    /**
     * What the cache holds of {@code path}, for {@code user.cachefs.state}: dirty (changed offline,
     * not yet on the lower), cached, partial, metadata-only, conflict or uncached; and whether it
     * is pinned.
     */
    public record State(String state, boolean pinned) {}

    /** Tells which paths are in open conflict (the disconnected layer's). */
    public void conflicts(java.util.function.Predicate<String> inConflict) {
        this.inConflict = inConflict;
    }

    private volatile java.util.function.Predicate<String> inConflict = p -> false;

    public State stateOf(String path) throws IndexException {
        writer.flush();
        if (inConflict.test(path)) {
            return new State("conflict", index.atPath(path).map(ObjectRecord::pinned).orElse(false));
        }
        Optional<ObjectRecord> r = index.atPath(path);
        if (r.isEmpty()) {
            return new State("uncached", false);
        }
        if (index.local(r.get().id()).isPresent()) {
            return new State("dirty", r.get().pinned());
        }
        return new State(r.get().state().name().toLowerCase(java.util.Locale.ROOT).replace('_', '-'), r.get().pinned());
    }

    /** Writes everything queued for the index (before the disconnected layer works on it directly). */
    public void flushIndex() {
        writer.flush();
    }

    /** Unpins {@code rel} (and all under it); the number of objects unpinned. */
    public int unpin(String rel, boolean recursive) throws IndexException {
        writer.flush();
        int n = 0;
        for (ObjectRecord r : index.under(rel, recursive)) {
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

    /** What an eviction did: objects whose data was dropped, bytes freed, objects left because they are open. */
    public record Evicted(int objects, long bytes, int busy) {}

    /** Drops the cached data of {@code rel} (and all under it), unpinning it; open files keep theirs. */
    public Evicted evictPath(String rel, boolean recursive) throws IndexException {
        writer.flush();
        int n = 0;
        int busy = 0;
        long bytes = 0;
        for (ObjectRecord r : index.under(rel, recursive)) {
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
        return new Evicted(n, bytes, busy);
    }

    /** Every pin: its lower path and the bytes it holds. */
    public Map<String, Long> pins() throws IndexException {
        writer.flush();
        Map<String, Long> out = new java.util.LinkedHashMap<>();
        for (ObjectRecord r : index.pinned()) {
            out.put(r.path(), index.dataBytes(r.id()));
        }
        return out;
    }

    /** Bytes of data the cache holds (as of the last pass, plus what was stored since). */
    public long usedBytes() {
        return usedBytes + storedSince.get();
    }

    /** What the cache holds against its limits (for status). */
    public Map<String, String> usage() {
        Limits l = options.limits();
        Map<String, String> m = new java.util.LinkedHashMap<>();
        m.put("cache used", (usedBytes + storedSince.get()) + " bytes" + (l.maxBytes() > 0 ? " of " + l.maxBytes() : " (no size limit)"));
        m.put("pinned data", pinnedBytes + " bytes" + (l.maxPinnedBytes() > 0 ? " of " + l.maxPinnedBytes() : " (no pin limit)"));
        m.put("cache files", usedFiles + (l.maxFiles() > 0 ? " of " + l.maxFiles() : " (no file limit)"));
        m.put("cache disk free", freePct + "% (cull below " + l.cullFreePct() + "%, stop below " + l.stopFreePct()
                + "%, resume at " + l.resumeFreePct() + "%)" + (diskLow ? ", caching stopped" : ""));
        dev.cachefs.index.DirectoryUsage du = dev.cachefs.index.DirectoryUsage.of(store.directory());
        StringBuilder parts = new StringBuilder();
        du.parts().forEach((k, v) -> parts.append(parts.isEmpty() ? "" : ", ").append(k).append(' ').append(v));
        m.put("cache directory", du.total() + " bytes on disk: " + parts + " (--cache-size caps the data; pinned data"
                + " has its own budget; the rest is outside both)");
        return m;
    }

    /** The same as {@link #usage()}, as numbers for metrics: bytes, files, percent; a limit of 0 is none. */
    public Map<String, Long> usageGauges() {
        Limits l = options.limits();
        Map<String, Long> m = new java.util.LinkedHashMap<>();
        m.put("cache_used_bytes", usedBytes + storedSince.get());
        m.put("cache_limit_bytes", l.maxBytes());
        m.put("cache_pinned_bytes", pinnedBytes);
        m.put("cache_pin_limit_bytes", l.maxPinnedBytes());
        m.put("cache_files", usedFiles);
        m.put("cache_files_limit", l.maxFiles());
        m.put("cache_disk_free_percent", (long) freePct);
        m.put("cache_stopped", diskLow ? 1L : 0L);
        dev.cachefs.index.DirectoryUsage du = dev.cachefs.index.DirectoryUsage.of(store.directory());
        m.put("cache_directory_bytes", du.total());
        m.put("cache_index_bytes", du.index());
        m.put("cache_reserve_bytes", du.reserve());
        m.put("cache_offline_bytes", du.offline() + du.conflicts());
        return m;
    }

    /** Metadata copied up into the index. */
    public MetaCopy meta() {
        return meta;
    }

    /** Directory listings copied up. */
    public DirCache dirs() {
        return dirs;
    }

    public CacheStats stats() {
        return stats;
    }

    public int chunkSize() {
        return cs;
    }

    // ------------------------------------------------------------------ objects

    /**
     * The cached object of regular file node {@code nodeid} at {@code path}, loaded from the index
     * (and checked against {@code st}, just read from the lower) the first time the node is seen.
     */
    CachedObject object(long nodeid, String path, Stat st) throws ErrnoException {
        CachedObject o = byNode.get(nodeid);
        if (o == null) {
            FileId id = ids.idOf(path);
            synchronized (objects) {
                o = loadedLocked(id, path, st);
                if (byNode.putIfAbsent(nodeid, o) == null) {
                    synchronized (o) {
                        o.nodeRefs++;
                    }
                } else {
                    o = byNode.get(nodeid);
                }
            }
        }
        synchronized (o) {
            o.path = path;
        }
        return o;
    }

    private CachedObject load(FileId id, String path, Stat st) throws ErrnoException {
        Fingerprint fp = Fingerprint.of(st);
        try {
            if (!writer.idle()) {
                writer.flush(); // what the index says of this object must be complete
            }
            Optional<ObjectRecord> found = index.find(id);
            List<Chunk> chunks = List.of();
            ObjectRecord rec;
            if (found.isEmpty()) {
                rec = index.upsert(id, path, ObjectState.METADATA_ONLY, fp);
            } else if (found.get().fingerprint() != null && found.get().fingerprint().sameVersion(fp, identityMode)) {
                rec = found.get();
                chunks = index.chunks(rec.id());
                if (!path.equals(rec.path())) {
                    rec = index.upsert(id, path, rec.state(), fp);
                }
            } else {
                stats.invalidations.increment();
                store.removeData(found.get());
                rec = index.upsert(id, path, ObjectState.METADATA_ONLY, fp);
            }
            CachedObject o = new CachedObject(rec, path, fp);
            for (Chunk c : chunks) {
                o.chunks.put(c.index(), c);
                if (!store.trustsData()) {
                    o.unverified.add(c.index());
                }
            }
            if (!chunks.isEmpty()) {
                o.seal = index.seal(rec.id()); // compared with the data file at open
                o.recordedSeal = o.seal;
            }
            java.util.Set<Long> scrubbed = scrubDamaged.remove(rec.id());
            if (scrubbed != null) {
                scrubbed.removeAll(o.chunks.keySet());
                o.damaged.addAll(scrubbed);
            }
            return o;
        } catch (IndexException e) {
            limited.warn("index", "cache index unusable for {}: {}", path, e.getMessage());
            throw new ErrnoException(Errno.EIO, e.getMessage());
        }
    }

    /**
     * Fresh attributes of node {@code nodeid} came from the lower (lookup, getattr, open): if they
     * show another version than the cached one, the cached data is dropped.
     *
     * @return true if the kernel may hold pages of the dropped version (send it an invalidation)
     */
    /**
     * Waits (at most {@code maxMs}) until the kernel has released every passthrough open of node
     * {@code nodeid} onto its cache file: the kernel allows one backing file per inode, and fails
     * an open onto another one (a local copy made offline) with EIO while an old one lives. close(2)
     * returns before the kernel's RELEASE reaches us, so a close-then-open races without this.
     */
    public void awaitNoPassthrough(long nodeid, long maxMs) {
        CachedObject o = byNode.get(nodeid);
        if (o == null) {
            return;
        }
        long end = System.nanoTime() + java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(maxMs);
        while (System.nanoTime() < end) {
            synchronized (o) {
                if (o.passthroughOpens == 0) {
                    return;
                }
            }
            try {
                Thread.sleep(2);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
        log.warn("passthrough opens of node {} still live after {} ms; an open onto another backing file may fail", nodeid, maxMs);
    }

    public boolean observe(long nodeid, Stat st) {
        CachedObject o = byNode.get(nodeid);
        return o != null && st.isRegular() && revalidate(o, st);
    }

    private boolean revalidate(CachedObject o, Stat st) {
        Fingerprint now = Fingerprint.of(st);
        synchronized (o) {
            stats.revalidations.increment();
            if (o.fp.sameVersion(now, identityMode)) {
                o.fp = now;
                return false;
            }
            if (o.writers > 0 && st.size() == o.size) {
                adoptLocked(o, now); // our own writes changed it
                return false;
            }
            return invalidateLocked(o, now);
        }
    }

    private void adoptLocked(CachedObject o, Fingerprint fp) {
        if (!fp.equals(o.fp)) {
            o.fp = fp;
            writer.submit(new IndexWriter.SetFingerprint(o.rec.id(), fp));
        }
    }

    /** Drops every chunk: the lower has another version now. */
    private boolean invalidateLocked(CachedObject o, Fingerprint now) {
        boolean pages = o.pageGen == o.gen;
        dropDataLocked(o);
        if (o.reader != null) {
            o.reader.release(); // the path may lead to another file now: reopen on the next miss
            o.reader = null;
        }
        o.fp = now;
        o.size = now.size();
        writer.submit(new IndexWriter.SetFingerprint(o.rec.id(), now));
        stats.invalidations.increment();
        return pages;
    }

    /**
     * Forgets all of the object's data at once, in a new generation (fetches in flight store
     * nothing), its file unlinked and its chunk records dropped in order; the bytes it held.
     */
    private long dropDataLocked(CachedObject o) {
        long bytes = 0;
        for (Chunk c : o.chunks.values()) {
            bytes += c.length();
        }
        o.gen++;
        o.writeSeq++;
        o.chunks.clear();
        o.unverified.clear();
        o.damaged.clear();
        o.seal = null;
        if (o.data != null) {
            o.data.release();
            o.data = null;
        }
        store.unlinkDataOnly(o.rec);
        writer.submit(new IndexWriter.DropChunks(o.rec.id(), 0));
        setStateLocked(o, ObjectState.METADATA_ONLY);
        return bytes;
    }

    private void setStateLocked(CachedObject o, ObjectState s) {
        if (o.recordedState != s) {
            o.recordedState = s;
            writer.submit(new IndexWriter.SetState(o.rec.id(), s));
        }
    }

    private void chunkStoredLocked(CachedObject o, Chunk c) {
        o.chunks.put(c.index(), c);
        o.unverified.remove(c.index());
        o.damaged.remove(c.index());
        resealLocked(o);
        writer.submit(new IndexWriter.AddChunk(o.rec.id(), c));
        boolean full = o.chunks.size() >= o.chunkCount(cs) && o.fullyCached(cs);
        setStateLocked(o, full ? ObjectState.CACHED : ObjectState.PARTIAL);
    }

    /**
     * The name of node {@code nodeid} was removed or replaced on the lower through the mount: a new
     * file under that name (the same identity, with path identity) must not find this object.
     */
    public void detach(long nodeid) {
        CachedObject o = byNode.get(nodeid);
        if (o != null) {
            synchronized (objects) {
                objects.remove(o.rec.fileId(), o);
            }
        }
    }

    /**
     * {@code from} was renamed to {@code to} through the mount. With path identity the objects
     * there (the file, or everything under a directory) get the identities of their new paths,
     * in memory and in the index, so their cached data stays theirs across remounts.
     */
    public void renamed(String from, String to) {
        if (identityMode != IdentityMode.PATH) {
            return;
        }
        String prefix = from + "/";
        synchronized (objects) {
            List<CachedObject> moved = new java.util.ArrayList<>();
            objects.values().removeIf(o -> {
                String p;
                synchronized (o) {
                    p = o.path;
                }
                if (p.equals(from) || p.startsWith(prefix)) {
                    moved.add(o);
                    return true;
                }
                return false;
            });
            for (CachedObject o : moved) {
                synchronized (o) {
                    String np = to + o.path.substring(from.length());
                    try {
                        FileId id = ids.idOf(np);
                        ObjectRecord r = o.rec;
                        o.rec = new ObjectRecord(r.id(), id, np, r.state(), r.fingerprint(), r.dataName(), r.pinned(),
                                r.dirComplete(), r.symlinkTarget(), r.lastAccessMs(), r.accessCount());
                        o.path = np;
                        objects.put(id, o);
                    } catch (ErrnoException e) {
                        log.debug("no identity for {}: {}", np, e.getMessage());
                    }
                }
            }
        }
        writer.submit(new IndexWriter.Rekey(from, to, p -> {
            try {
                return ids.idOf(p);
            } catch (ErrnoException e) {
                throw new IllegalStateException(e);
            }
        }));
    }

    /** Whether the cache holds an object for node {@code nodeid}. */
    public boolean knows(long nodeid) {
        return byNode.containsKey(nodeid);
    }

    /** The kernel forgot node {@code nodeid}. */
    public void forgetNode(long nodeid) {
        CachedObject o = byNode.remove(nodeid);
        if (o == null) {
            return;
        }
        synchronized (objects) {
            synchronized (o) {
                if (--o.nodeRefs <= 0 && o.opens() == 0 && o.adopting == 0) {
                    objects.remove(o.rec.fileId(), o);
                    recordSealLocked(o);
                    if (o.data != null) {
                        o.data.release();
                        o.data = null;
                    }
                }
            }
        }
    }

    /**
     * Replay wrote all of {@code from}, a file changed offline, to the lower as object {@code id} at
     * {@code path}, whose attributes there are now {@code st}: those bytes become its cached data,
     * as far as the cache admits them, so that what was written offline stays readable offline
     * once it has synced (rather than only where it was pinned). Cached data of any other version
     * is dropped first, in a new generation, so no mix of versions is ever served. Best effort:
     * what the cache does not take is fetched from the lower when read.
     */
    public void adopt(String path, FileId id, Stat st, java.nio.file.Path from) throws ErrnoException {
        if (!st.isRegular()) {
            return;
        }
        CachedObject o;
        synchronized (objects) {
            o = loadedLocked(id, path, st);
            synchronized (o) {
                o.adopting++;
            }
        }
        long gen;
        long seq;
        try {
            synchronized (o) {
                if (o.writers > 0) {
                    return; // written through the mount already: that version is the lower's now
                }
                dropDataLocked(o);
                o.fp = Fingerprint.of(st);
                o.size = st.size();
                writer.submit(new IndexWriter.SetFingerprint(o.rec.id(), o.fp));
                if (o.size == 0) {
                    setStateLocked(o, ObjectState.CACHED);
                }
                gen = o.gen;
                seq = o.writeSeq;
            }
            try (Arena arena = Arena.ofConfined();
                 var ch = java.nio.channels.FileChannel.open(from, java.nio.file.StandardOpenOption.READ)) {
                MemorySegment buf = arena.allocate(cs, 4096);
                for (long idx = 0; idx * cs < st.size(); idx++) {
                    int len = (int) Math.min(cs, st.size() - idx * cs);
                    var bb = buf.asSlice(0, len).asByteBuffer();
                    while (bb.hasRemaining() && ch.read(bb, idx * cs + bb.position()) > 0) {
                        // read the whole chunk
                    }
                    if (bb.hasRemaining()) {
                        break; // shorter than replay saw it: not the version the lower has
                    }
                    store(o, idx, gen, seq, buf, len);
                    synchronized (o) {
                        if (o.gen != gen || o.writeSeq != seq || !o.chunks.containsKey(idx)) {
                            break; // changed meanwhile, or the cache is full
                        }
                    }
                }
            } catch (java.io.IOException e) {
                limited.warn("adopt", "cannot read the offline copy of {} into the cache: {}", path, e.getMessage());
            }
        } finally {
            synchronized (o) {
                o.adopting--;
            }
            releaseIfIdle(o);
        }
    }

    /** This generation's data file, acquired for the caller (release it). Call holding the object. */
    private Shared<Integer> dataLocked(CachedObject o) throws IndexException {
        if (o.data == null) {
            int fd = store.openDataFile(o.rec);
            o.data = new Shared<>(fd, Libc::close);
        }
        o.data.acquire();
        return o.data;
    }

    private Shared<LowerFile> reader(CachedObject o) throws ErrnoException {
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

    // ------------------------------------------------------------------ open and release

    /**
     * Opens regular file node {@code nodeid} ({@code st}: its attributes just read from the lower,
     * which is the open's revalidation).
     *
     * @param lowerFlags the flags for the lower's open of a writer
     * @param passthrough whether the kernel takes passthrough opens now
     */
    public Opened open(long nodeid, String path, Stat st, int flags, int lowerFlags, boolean passthrough)
            throws ErrnoException {
        CachedObject o = object(nodeid, path, st);
        long genBefore;
        synchronized (o) {
            genBefore = o.gen;
        }
        boolean pagesStale = revalidate(o, st);
        boolean changed;
        // A store in progress has written but not yet resealed: its own reseal covers the file then.
        boolean quiet = o.storeLock.tryLock();
        try {
            synchronized (o) {
                changed = o.gen != genBefore;
                if (quiet) {
                    checkSealLocked(o);
                }
            }
        } finally {
            if (quiet) {
                o.storeLock.unlock();
            }
        }
        int acc = flags & Libc.O_ACCMODE;
        boolean writer = acc != Libc.O_RDONLY || (flags & Libc.O_TRUNC) != 0;
        boolean direct = (flags & Libc.O_DIRECT) != 0;
        LowerFile f = writer ? lower.open(path, lowerFlags, 0) : null;
        try {
            if ((flags & Libc.O_TRUNC) != 0) {
                truncate(o, 0);
            }
            Opened p = passthrough ? passthroughOpen(o, f, writer, changed) : null;
            if (p != null) {
                return p;
            }
            if (!writer) {
                boolean full;
                synchronized (o) {
                    full = o.fullyCached(cs);
                }
                if (!full) {
                    reader(o).release(); // errors of the lower's open show now, as they would without the cache
                }
            }
            return daemonOpen(o, f, writer, direct, pagesStale, changed);
        } catch (ErrnoException | RuntimeException e) {
            if (f != null) {
                f.close();
            }
            throw e;
        }
    }

    /** A file created through the mount: its object starts fully cached (it is empty). */
    public Opened created(long nodeid, String path, LowerFile f, int flags) throws ErrnoException {
        Stat st = f.stat();
        CachedObject o = object(nodeid, path, st);
        revalidate(o, st);
        return daemonOpen(o, f, true, (flags & Libc.O_DIRECT) != 0, false, false);
    }

    /**
     * A passthrough open onto the cache file, or null when the daemon must serve it. Read-only
     * opens of fully cached files get one. While the inode has passthrough opens, the kernel
     * refuses any other kind (EIO), so a writer gets one too: it writes into the cache file,
     * which is copied to the lower at flush and fsync ({@link #written}).
     */
    private Opened passthroughOpen(CachedObject o, LowerFile writerFile, boolean writer, boolean changed)
            throws ErrnoException {
        List<Long> check;
        synchronized (o) {
            if (o.passthroughOpens > 0 && o.backingGen != o.gen) {
                // The kernel still reads the data file of a version the lower no longer has, and
                // only passthrough opens onto that same file are allowed until they close.
                log.info("{} changed on the lower while open for reading; new opens wait for those to close", o.path);
                throw new ErrnoException(Errno.ETXTBSY, "open of an older version still reading");
            }
            if (o.passthroughOpens == 0 && !mayStartPassthroughLocked(o, writer)) {
                return null;
            }
            check = List.copyOf(o.unverified);
        }
        for (long idx : check) {
            verify(o, idx);
        }
        Shared<Integer> df;
        long mtime;
        synchronized (o) {
            boolean joining = o.passthroughOpens > 0 && o.backingGen == o.gen;
            if (!joining && (!mayStartPassthroughLocked(o, writer) || !o.unverified.isEmpty())) {
                return null;
            }
            try {
                df = dataLocked(o);
                if (!joining) {
                    // The kernel reads the cache file up to its own end: make that the file's size.
                    Libc.ftruncate(df.value, o.size);
                    resealLocked(o);
                }
                mtime = Libc.fstat(df.value).mtimeNsTotal();
            } catch (IndexException e) {
                storeFailed(o, e);
                if (o.passthroughOpens > 0) {
                    throw new ErrnoException(Errno.EIO, e.getMessage());
                }
                return null;
            }
            o.passthroughOpens++;
            o.backingGen = o.gen;
            if (writer) {
                o.writers++;
            }
        }
        stats.passthroughOpens.increment();
        touch(o);
        Handle h = new Handle(o, writerFile, writer, Mode.PASSTHROUGH, df);
        h.syncedMtime = mtime;
        return new Opened(h, 0, df.value, changed);
    }

    /**
     * Whether a first passthrough open of {@code o} may be made: fully cached, no daemon-path open
     * of it now, and none chosen in the last second. The kernel applies an open's mode when the
     * opener wakes up, not when we reply, so a daemon-path open chosen just before could reach the
     * kernel after this one and fail with EIO (seen with eight concurrent O_DIRECT readers).
     */
    private boolean mayStartPassthroughLocked(CachedObject o, boolean writer) {
        return !writer && o.fullyCached(cs) && o.cachedIoOpens == 0 && o.directOpens == 0
                && (o.lastDaemonOpenNs == 0 || System.nanoTime() - o.lastDaemonOpenNs > 1_000_000_000L);
    }

    private Opened daemonOpen(CachedObject o, LowerFile f, boolean writer, boolean direct, boolean pagesStale,
                              boolean changed) {
        Mode mode;
        int flags = 0;
        synchronized (o) {
            if (direct) {
                mode = Mode.DIRECT_IO;
                flags = Fuse.FOPEN_DIRECT_IO;
                o.directOpens++;
            } else {
                mode = Mode.CACHED_IO;
                if (o.pageGen == o.gen && !pagesStale) {
                    flags = Fuse.FOPEN_KEEP_CACHE;
                }
                o.pageGen = o.gen;
                o.cachedIoOpens++;
            }
            if (writer) {
                o.writers++;
            }
            o.lastDaemonOpenNs = System.nanoTime();
        }
        stats.daemonOpens.increment();
        touch(o);
        return new Opened(new Handle(o, f, writer, mode, null), flags, -1, changed);
    }

    private void touch(CachedObject o) {
        try {
            index.touch(o.rec.id(), System.currentTimeMillis());
        } catch (IndexException e) {
            log.debug("recency not recorded: {}", e.getMessage());
        }
    }

    /**
     * After flush or fsync of a writer: a passthrough writer's data (in the cache file) is copied to
     * the lower; then the lower's version is ours.
     */
    public void written(Handle h) throws ErrnoException {
        if (h.writer && h.lower != null) {
            if (h.mode == Mode.PASSTHROUGH) {
                copyBack(h);
            }
            settle(h.obj, h.lower.stat());
        }
    }

    /** Copies the cache file to the lower if the kernel wrote to it since the last copy. */
    private void copyBack(Handle h) throws ErrnoException {
        CachedObject o = h.obj;
        int fd = h.backing.value;
        Stat st = Libc.fstat(fd);
        synchronized (h) {
            if (st.mtimeNsTotal() == h.syncedMtime) {
                return;
            }
            h.syncedMtime = st.mtimeNsTotal();
        }
        long size = st.size();
        MemorySegment buf = buffers.get();
        for (long off = 0; off < size; off += cs) {
            int n = preadFully(fd, buf, (int) Math.min(cs, size - off), off);
            h.lower.write(off, buf.asSlice(0, n));
            stats.writeBytes.add(n);
        }
        if (h.lower.stat().size() > size) {
            h.lower.truncate(size);
        }
        o.storeLock.lock();
        try {
            rechunkLocked(o, fd, size, buf);
        } finally {
            o.storeLock.unlock();
        }
    }

    /** After the kernel wrote the cache file itself (passthrough writer): every chunk anew. */
    private void rechunkLocked(CachedObject o, int fd, long size, MemorySegment buf) throws ErrnoException {
        synchronized (o) {
            o.writeSeq++;
            o.size = size;
            o.chunks.clear();
            o.unverified.clear();
            writer.submit(new IndexWriter.DropChunks(o.rec.id(), 0));
            for (long idx = 0; idx * cs < size; idx++) {
                int n = preadFully(fd, buf, o.expectedLength(idx, cs), idx * cs);
                chunkStoredLocked(o, new Chunk(idx, n, CacheStore.crc(buf.asSlice(0, n))));
            }
            if (size == 0) {
                setStateLocked(o, ObjectState.CACHED);
            }
        }
    }

    /** Node {@code nodeid} changed through the mount in a way we know ({@code st}: its attributes after). */
    public void ownChange(long nodeid, Stat st) {
        CachedObject o = byNode.get(nodeid);
        if (o != null && st.isRegular()) {
            settle(o, st);
        }
    }

    private void settle(CachedObject o, Stat st) {
        Fingerprint fp = Fingerprint.of(st);
        synchronized (o) {
            if (st.size() == o.size) {
                adoptLocked(o, fp);
            } else {
                invalidateLocked(o, fp); // someone else wrote too: trust nothing we hold
            }
        }
    }

    /** The last descriptor of the open file is gone. */
    public void release(Handle h) {
        CachedObject o = h.obj;
        if (h.writer && h.lower != null) {
            try {
                written(h);
            } catch (ErrnoException e) {
                log.warn("writing {} to the lower at close failed: {}", o.path, e.getMessage());
            }
        }
        if (h.lower != null) {
            h.lower.close();
        }
        if (h.backing != null) {
            h.backing.release();
        }
        Shared<LowerFile> idleReader = null;
        synchronized (o) {
            switch (h.mode) {
                case PASSTHROUGH -> {
                    if (--o.passthroughOpens == 0) {
                        o.backingGen = -1;
                    }
                }
                case CACHED_IO -> o.cachedIoOpens--;
                case DIRECT_IO -> o.directOpens--;
            }
            if (h.writer) {
                o.writers--;
            }
            if (o.opens() == 0 && o.reader != null && o.inflight.isEmpty()) {
                idleReader = o.reader;
                o.reader = null;
            }
        }
        if (idleReader != null) {
            idleReader.release();
        }
    }

    // ------------------------------------------------------------------ reads

    /** Reads {@code dst.byteSize()} bytes at {@code offset} (fewer at the end of the file). */
    public int read(Handle h, long offset, MemorySegment dst) throws ErrnoException {
        CachedObject o = h.obj;
        long size;
        synchronized (o) {
            size = o.size;
        }
        stats.readOps.increment();
        if (offset >= size) {
            return 0;
        }
        int want = (int) Math.min(dst.byteSize(), size - offset);
        int done = 0;
        boolean missed = false;
        while (done < want) {
            long pos = offset + done;
            long idx = pos / cs;
            int inChunk = (int) (pos - idx * cs);
            int n = Math.min(want - done, cs - inChunk);
            int r = readInChunk(o, idx, inChunk, dst.asSlice(done, n));
            if (r < 0) {
                missed = true;
                r = -r - 1;
            }
            if (r == 0) {
                break; // the lower is shorter than we knew: end of file
            }
            done += r;
        }
        stats.readBytes.add(done);
        (missed ? stats.missOps : stats.hitOps).increment();
        readAhead(h, offset, done);
        return done;
    }

    /** Copies from chunk {@code idx}; the count, or -(count+1) if it had to be fetched. */
    private int readInChunk(CachedObject o, long idx, int inChunk, MemorySegment dst) throws ErrnoException {
        for (int attempt = 0; ; attempt++) {
            Shared<Integer> df = null;
            Chunk c;
            boolean check;
            synchronized (o) {
                c = o.chunks.get(idx);
                if (c != null && c.length() != o.expectedLength(idx, cs)) {
                    c = null; // from before a size change we did not see through: fetch it again
                }
                check = c != null && o.unverified.contains(idx);
                if (c != null) {
                    try {
                        df = dataLocked(o);
                    } catch (IndexException e) {
                        c = null;
                    }
                }
            }
            if (c != null) {
                try {
                    if (check && !verify(o, idx)) {
                        continue;
                    }
                    int n = (int) Math.min(dst.byteSize(), c.length() - inChunk);
                    if (n <= 0) {
                        return 0;
                    }
                    preadFully(df.value, dst, n, idx * cs + inChunk);
                    stats.hitBytes.add(n);
                    return n;
                } finally {
                    df.release();
                }
            }
            Fetched f;
            try {
                f = fetch(o, idx, attempt >= 2);
            } catch (ErrnoException e) {
                throw damagedOr(o, idx, e);
            }
            if (f != null) {
                int n = (int) Math.max(0, Math.min(dst.byteSize(), f.length - inChunk));
                MemorySegment.copy(f.buffer, inChunk, dst, 0, n);
                stats.missBytes.add(n);
                return -n - 1;
            }
        }
    }

    /** Bytes of one chunk read from the lower, in this thread's buffer. */
    private record Fetched(MemorySegment buffer, int length) {}

    /**
     * Makes chunk {@code idx} present. Returns the data when this thread read it, or null when
     * another thread's fetch (now complete) did; {@code force}: read it here regardless.
     */
    private Fetched fetch(CachedObject o, long idx, boolean force) throws ErrnoException {
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

    private Fetched fetchNow(CachedObject o, long idx) throws ErrnoException {
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

    private int readLower(CachedObject o, Shared<LowerFile> r, long start, MemorySegment buf) throws ErrnoException {
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
    private void store(CachedObject o, long idx, long gen, long seq, MemorySegment buf, int len) {
        int crc = CacheStore.crc(buf.asSlice(0, len));
        o.storeLock.lock();
        try {
            Shared<Integer> df;
            synchronized (o) {
                if (o.gen != gen || o.writeSeq != seq) {
                    return;
                }
                if (!admit(o, len)) {
                    stats.uncachedBytes.add(len);
                    return;
                }
                try {
                    df = dataLocked(o);
                } catch (IndexException e) {
                    storeFailed(o, e);
                    return;
                }
            }
            try {
                pwriteFully(df.value, buf, len, idx * cs);
                synchronized (o) {
                    // An invalidation meanwhile: the bytes went to the old generation's file.
                    if (o.gen == gen && o.writeSeq == seq) {
                        chunkStoredLocked(o, new Chunk(idx, len, crc));
                        storedSince.addAndGet(len);
                    }
                }
            } catch (ErrnoException e) {
                storeFailed(o, e);
            } finally {
                df.release();
            }
        } finally {
            o.storeLock.unlock();
        }
    }

    private void storeFailed(CachedObject o, Exception e) {
        stats.uncachedBytes.add(cs);
        limited.warn("store", "cannot store cache data of {} ({}); reads are served from the lower", o.path, e.getMessage());
    }

    /** Checks a chunk loaded after a crash against its CRC; drops it if it fails. */
    private boolean verify(CachedObject o, long idx) {
        Chunk c;
        Shared<Integer> df;
        synchronized (o) {
            c = o.chunks.get(idx);
            if (c == null || !o.unverified.contains(idx)) {
                return c != null;
            }
            try {
                df = dataLocked(o);
            } catch (IndexException e) {
                return false;
            }
        }
        boolean ok;
        try {
            MemorySegment buf = buffers.get();
            int n = preadFully(df.value, buf, c.length(), idx * cs);
            ok = n == c.length() && CacheStore.crc(buf.asSlice(0, n)) == c.crc();
        } catch (ErrnoException e) {
            ok = false;
        } finally {
            df.release();
        }
        synchronized (o) {
            if (o.chunks.get(idx) != c) {
                return false;
            }
            if (ok) {
                o.unverified.remove(idx);
                if (o.unverified.isEmpty()) {
                    resealLocked(o); // every chunk checked: this is the file as we vouch for it now
                }
                return true;
            }
            // Only this chunk: the others have checksums of their own.
            o.chunks.remove(idx);
            o.unverified.remove(idx);
            o.damaged.add(idx);
            writer.submit(new IndexWriter.DropChunk(o.rec.id(), idx));
            setStateLocked(o, o.chunks.isEmpty() ? ObjectState.METADATA_ONLY : ObjectState.PARTIAL);
            if (o.unverified.isEmpty()) {
                resealLocked(o);
            }
        }
        stats.corruptChunks.increment();
        log.warn("cached chunk {} of {} fails its checksum; dropped, it is fetched again", idx, o.path);
        return false;
    }

    /**
     * A failed fetch of chunk {@code idx}: if the cache held that chunk until it failed its check,
     * the file is damaged here and the lower cannot give it again now (offline): EIO, logged and
     * counted, never the damaged bytes and never "not cached".
     */
    private ErrnoException damagedOr(CachedObject o, long idx, ErrnoException e) {
        boolean damaged;
        synchronized (o) {
            damaged = o.damaged.contains(idx);
        }
        if (!damaged) {
            return e;
        }
        stats.damagedReads.increment();
        limited.warn("damaged", "chunk {} of {} was damaged in the cache and cannot be fetched again ({}): EIO",
                idx, o.path, e.getMessage());
        return new ErrnoException(Errno.EIO, "damaged in the cache, and the lower cannot give it again: " + e.getMessage());
    }

    /** Takes the data file's seal as it is now (after cachefs wrote it). Call holding the object. */
    private void resealLocked(CachedObject o) {
        if (o.data == null) {
            o.seal = null;
            return;
        }
        try {
            o.seal = DataSeal.of(Libc.fstat(o.data.value));
        } catch (ErrnoException e) {
            o.seal = null;
        }
    }

    /**
     * Before an open serves cached data: if the data file is not as cachefs left it (its seal), it
     * was changed behind our back, so every chunk is checked against its CRC before it is served
     * (by the daemon path per chunk, by a passthrough open all at once). Skipped while the kernel
     * itself writes the file (passthrough writers) and while a check is already due.
     */
    private void checkSealLocked(CachedObject o) {
        if (o.chunks.isEmpty() || !o.unverified.isEmpty() || (o.passthroughOpens > 0 && o.writers > 0)) {
            return;
        }
        DataSeal now = null;
        try {
            Shared<Integer> df = dataLocked(o);
            try {
                now = DataSeal.of(Libc.fstat(df.value));
            } finally {
                df.release();
            }
        } catch (IndexException | ErrnoException e) {
            // unreadable: treated as changed
        }
        if (now != null && now.equals(o.seal)) {
            return;
        }
        o.unverified.addAll(o.chunks.keySet());
        log.info("the cache file of {} is not as cachefs left it ({}, now {}); its {} chunks are checked before use",
                o.path, o.seal, now, o.chunks.size());
        o.seal = null;
        stats.sealMismatches.increment();
    }

    /**
     * Writes the object's seal to the index if it changed; none while some chunk is still to be
     * checked (a seal vouches for every chunk). Call holding the object.
     */
    private void recordSealLocked(CachedObject o) {
        DataSeal s = o.unverified.isEmpty() ? o.seal : null;
        if (!java.util.Objects.equals(s, o.recordedSeal)) {
            writer.submit(new IndexWriter.SetSeal(o.rec.id(), s));
            o.recordedSeal = s;
        }
    }

    // ------------------------------------------------------------------ scrub (Scrubber)

    /** Checks every cached file now, as fast as it can (a command, tests); the files checked. */
    public int scrubNow() throws InterruptedException {
        return scrubber.pass(System.currentTimeMillis() + 1, 0);
    }

    /** The object of {@code id} if someone holds it now, else null. */
    CachedObject loaded(FileId id) {
        synchronized (objects) {
            return objects.get(id);
        }
    }

    /** The chunks of a loaded object to scrub, or null while the kernel writes its cache file itself. */
    List<Chunk> scrubbable(CachedObject o) {
        synchronized (o) {
            return o.passthroughOpens > 0 && o.writers > 0 ? null : List.copyOf(o.chunks.values());
        }
    }

    /** Checks chunk {@code c} of a loaded object (dropped if it fails, as any check does). */
    void scrubLoaded(CachedObject o, Chunk c) {
        synchronized (o) {
            if (o.chunks.get(c.index()) != c || (o.passthroughOpens > 0 && o.writers > 0)) {
                return; // changed meanwhile: that change recorded a fresh CRC
            }
            o.unverified.add(c.index());
        }
        verify(o, c.index());
    }

    /**
     * Chunk {@code c} of {@code rec}, which no one held, failed its check: dropped from the index;
     * or, if the object was loaded meanwhile, checked again through it before any use.
     */
    void scrubFailedUnloaded(ObjectRecord rec, Chunk c) {
        synchronized (objects) {
            CachedObject o = objects.get(rec.fileId());
            if (o != null) {
                synchronized (o) {
                    if (o.chunks.containsKey(c.index())) {
                        o.unverified.add(c.index());
                    }
                }
                return;
            }
            try {
                writer.flush(); // what the index says of it is complete
                if (!index.chunk(rec.id(), c.index()).map(c::equals).orElse(false)) {
                    return; // dropped or rewritten meanwhile (culled, evicted)
                }
                index.dropChunk(rec.id(), c.index());
                index.setState(rec.id(), index.chunks(rec.id()).isEmpty() ? ObjectState.METADATA_ONLY : ObjectState.PARTIAL);
            } catch (IndexException e) {
                log.warn("cannot drop a damaged chunk of {}: {}", rec.path(), e.getMessage());
                return;
            }
            scrubDamaged.computeIfAbsent(rec.id(), k -> ConcurrentHashMap.newKeySet()).add(c.index());
        }
        stats.corruptChunks.increment();
        log.warn("the scrub found chunk {} of {} damaged in the cache; dropped, it is fetched again", c.index(), rec.path());
    }

    /** Sequential reader: fetch the chunks after this read ahead of it, in parallel. */
    private void readAhead(Handle h, long offset, int n) {
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

    // ------------------------------------------------------------------ writes

    /** Writes through to the lower, then into present chunks of the cache. */
    public int write(Handle h, long offset, MemorySegment src) throws ErrnoException {
        int n = h.lower.write(offset, src);
        stats.writeBytes.add(n);
        CachedObject o = h.obj;
        o.storeLock.lock();
        try {
            writeLocked(h, o, offset, src, n);
        } finally {
            o.storeLock.unlock();
        }
        return n;
    }

    private void writeLocked(Handle h, CachedObject o, long offset, MemorySegment src, int n) {
        synchronized (o) {
            o.writeSeq++;
            if (h.mode == Mode.DIRECT_IO) {
                o.pageGen = -1; // the kernel's pages of this inode did not see this write
            }
            long old = o.size;
            long end = offset + n;
            long size = Math.max(old, end);
            try {
                o.size = size;
                extendLocked(o, old, size);
                for (long idx = offset / cs; idx * cs < end; idx++) {
                    patchLocked(o, idx, offset, src.asSlice(0, n), old);
                }
            } catch (IndexException | ErrnoException e) {
                dropFromLocked(o, offset / cs);
                storeFailed(o, e);
            }
        }
    }

    /** Copies the part of a write that falls in chunk {@code idx} into the cache, if the chunk can be complete. */
    private void patchLocked(CachedObject o, long idx, long offset, MemorySegment src, long oldSize)
            throws IndexException, ErrnoException {
        long cstart = idx * cs;
        long ws = Math.max(offset, cstart);
        long we = Math.min(offset + src.byteSize(), cstart + cs);
        Chunk c = o.chunks.get(idx);
        long contentEnd = cstart + o.expectedLength(idx, cs);
        boolean present = c != null && !o.unverified.contains(idx);
        long known; // end of what the chunk holds before the write
        if (present) {
            known = cstart + c.length();
        } else if (ws <= cstart && we >= contentEnd) {
            known = cstart;
        } else if (cstart >= oldSize) {
            known = cstart; // wholly past the old end: zeros up to the write
        } else {
            if (c != null) {
                dropFromLocked(o, idx);
            }
            return; // an absent chunk the write covers only in part: fetched when read
        }
        Shared<Integer> df = dataLocked(o);
        try {
            if (ws > known) {
                pwriteFully(df.value, zeros, (int) (ws - known), known);
            }
            pwriteFully(df.value, src.asSlice(ws - offset, we - ws), (int) (we - ws), ws);
            int len = (int) (Math.max(known, we) - cstart);
            MemorySegment buf = buffers.get();
            preadFully(df.value, buf, len, cstart);
            chunkStoredLocked(o, new Chunk(idx, len, CacheStore.crc(buf.asSlice(0, len))));
        } finally {
            df.release();
        }
    }

    /** The file grows from {@code old} to {@code size}: a present last chunk gains zeros. */
    private void extendLocked(CachedObject o, long old, long size) throws IndexException, ErrnoException {
        if (size <= old || old % cs == 0) {
            return;
        }
        long idx = old / cs;
        Chunk c = o.chunks.get(idx);
        if (c == null || o.unverified.contains(idx)) {
            return;
        }
        long cstart = idx * cs;
        long end = Math.min(cstart + cs, size);
        Shared<Integer> df = dataLocked(o);
        try {
            pwriteFully(df.value, zeros, (int) (end - cstart - c.length()), cstart + c.length());
            int len = (int) (end - cstart);
            MemorySegment buf = buffers.get();
            preadFully(df.value, buf, len, cstart);
            chunkStoredLocked(o, new Chunk(idx, len, CacheStore.crc(buf.asSlice(0, len))));
        } finally {
            df.release();
        }
    }

    private void dropFromLocked(CachedObject o, long idx) {
        o.chunks.tailMap(idx, true).clear();
        o.unverified.removeIf(i -> i >= idx);
        writer.submit(new IndexWriter.DropChunks(o.rec.id(), idx));
        setStateLocked(o, o.chunks.isEmpty() ? ObjectState.METADATA_ONLY : ObjectState.PARTIAL);
    }

    /** The file was truncated (or extended) to {@code size} on the lower through the mount. */
    public void truncated(long nodeid, long size) {
        CachedObject o = byNode.get(nodeid);
        if (o != null) {
            truncate(o, size);
        }
    }

    private void truncate(CachedObject o, long size) {
        o.storeLock.lock();
        try {
            truncateLocked(o, size);
        } finally {
            o.storeLock.unlock();
        }
    }

    private void truncateLocked(CachedObject o, long size) {
        synchronized (o) {
            o.writeSeq++;
            long old = o.size;
            try {
                if (size < old) {
                    long keep = size / cs; // the chunk holding the new end, if any part remains
                    dropFromLocked(o, size % cs == 0 ? keep : keep + 1);
                    o.size = size;
                    Shared<Integer> df = dataLocked(o);
                    try {
                        Libc.ftruncate(df.value, size);
                        resealLocked(o);
                        Chunk c = o.chunks.get(keep);
                        if (c != null && size % cs != 0) {
                            int len = (int) (size - keep * cs);
                            MemorySegment buf = buffers.get();
                            preadFully(df.value, buf, len, keep * cs);
                            chunkStoredLocked(o, new Chunk(keep, len, CacheStore.crc(buf.asSlice(0, len))));
                        }
                    } finally {
                        df.release();
                    }
                } else if (size > old) {
                    o.size = size;
                    extendLocked(o, old, size);
                }
                if (o.chunks.isEmpty()) {
                    setStateLocked(o, size == 0 ? ObjectState.CACHED : ObjectState.METADATA_ONLY);
                }
            } catch (IndexException | ErrnoException e) {
                o.size = size;
                dropFromLocked(o, 0);
                storeFailed(o, e);
            }
        }
    }

    /** Something changed the data in [offset, offset+length) other than a write (fallocate): forget it. */
    public void changed(long nodeid, long offset, Stat st) {
        CachedObject o = byNode.get(nodeid);
        if (o == null) {
            return;
        }
        o.storeLock.lock();
        try {
            changedLocked(o, offset, st);
        } finally {
            o.storeLock.unlock();
        }
    }

    private void changedLocked(CachedObject o, long offset, Stat st) {
        synchronized (o) {
            o.writeSeq++;
            o.pageGen = -1;
            dropFromLocked(o, offset / cs);
            try {
                Shared<Integer> df = dataLocked(o);
                try {
                    Libc.ftruncate(df.value, Math.min(o.size, (offset / cs) * cs));
                } finally {
                    df.release();
                }
            } catch (IndexException | ErrnoException e) {
                log.debug("cache file not truncated: {}", e.getMessage());
            }
            o.size = st.size();
            adoptLocked(o, Fingerprint.of(st));
        }
    }

    /** The lower descriptor for calls that need one (lseek) on an open served from the cache. */
    public LowerFile lowerFor(Handle h) throws ErrnoException {
        if (h.lower != null) {
            return h.lower;
        }
        Shared<LowerFile> r = reader(h.obj);
        r.release(); // the object keeps it while the file is open
        return r.value;
    }

    // ------------------------------------------------------------------ helpers

    private static int preadFully(int fd, MemorySegment dst, int n, long offset) throws ErrnoException {
        int done = 0;
        while (done < n) {
            long r = Libc.pread(fd, dst.asSlice(done), n - done, offset + done);
            if (r == 0) {
                break;
            }
            done += (int) r;
        }
        return done;
    }

    private static void pwriteFully(int fd, MemorySegment src, int n, long offset) throws ErrnoException {
        int done = 0;
        while (done < n) {
            done += (int) Libc.pwrite(fd, src.asSlice(done), n - done, offset + done);
        }
    }

    @Override
    public void close() {
        closing = true;
        scrubber.close();
        culler.interrupt();
        synchronized (this) {
            // a culling pass in progress has finished
        }
        fetchPool.shutdown();
        try {
            fetchPool.awaitTermination(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        synchronized (objects) {
            for (CachedObject o : objects.values()) {
                synchronized (o) {
                    recordSealLocked(o);
                }
            }
        }
        writer.close();
        synchronized (objects) {
            for (CachedObject o : objects.values()) {
                synchronized (o) {
                    if (o.data != null) {
                        o.data.release();
                        o.data = null;
                    }
                    if (o.reader != null) {
                        o.reader.release();
                        o.reader = null;
                    }
                }
            }
            objects.clear();
        }
        byNode.clear();
        ids.close();
    }
}
