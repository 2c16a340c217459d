package dev.cachefs.cache;

import dev.cachefs.index.CacheIndex;
import dev.cachefs.index.CacheStore;
import dev.cachefs.index.Chunk;
import dev.cachefs.index.FileId;
import dev.cachefs.index.Fingerprint;
import dev.cachefs.index.IdentityMode;
import dev.cachefs.index.IndexException;
import dev.cachefs.index.LowerIdentity;
import dev.cachefs.index.ObjectRecord;
import dev.cachefs.lower.LowerFile;
import dev.cachefs.lower.LowerFs;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Libc;
import dev.cachefs.nativeio.Stat;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
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
 *
 * <p>This class is the layer's face: open, read, release and revalidation. Each other concern has
 * a room of its own in this package: {@link ObjectTable} (the objects held in memory),
 * {@link DataFiles} (an object's data file and chunk records), {@link Integrity} (checks, seals,
 * damage), {@link OpenModes} (passthrough or daemon), {@link Fetcher} (reading the lower, readahead),
 * {@link WritePath} (local writes, truncation, adoption of replayed data), {@link CacheSpace}
 * (limits and culling), {@link Pinner} and {@link Scrubber}. The lock order for all of them is in
 * this package's {@code package-info.java}.
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

        /** Whether finding an identity asks the lower (file handles); path identities are computed. */
        default boolean asksLower() {
            return true;
        }

        /**
         * The identities of {@code paths} that can be had, in one go (one lower call where the
         * identifier guards calls); a path that fails is left out.
         */
        default Map<String, FileId> idsOf(java.util.List<String> paths) throws ErrnoException {
            Map<String, FileId> out = new java.util.HashMap<>();
            for (String p : paths) {
                try {
                    out.put(p, idOf(p));
                } catch (ErrnoException e) {
                    // gone, or no handle: its own lookup says so
                }
            }
            return out;
        }

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
            public boolean asksLower() {
                return identity.mode() == IdentityMode.HANDLE;
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
    private final ObjectTable table;
    private final ThreadLocal<MemorySegment> buffers;
    private final MemorySegment zeros;
    /** Failures that repeat per request: a line a minute per kind. */
    private final LogLimiter limited = new LogLimiter(log, 60_000);
    private final DirCache dirs;
    private final MetaCopy meta;
    // The layer's rooms, each in a file of its own; built in this order, each uses only those before it.
    private final DataFiles files;
    private final Integrity integrity;
    private final CacheSpace space;
    private final Fetcher fetcher;
    private final WritePath writes;
    private final Pinner pinner;
    private final OpenModes opens;
    private final Scrubber scrubber;

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
        // Page-aligned, chunk-sized: what O_DIRECT reads of the lower need.
        this.buffers = ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(cs, 4096));
        this.zeros = Arena.ofAuto().allocate(cs, 4096);
        this.dirs = new DirCache(index, writer, ids, identityMode, stats, index.clock());
        this.meta = new MetaCopy(index, writer, ids);
        this.files = new DataFiles(store, writer, stats, limited);
        Map<FileId, CachedObject> objects = new HashMap<>();
        this.integrity = new Integrity(files, index, writer, stats, cs, buffers, limited, objects);
        this.table = new ObjectTable(objects, store, writer, ids, identityMode, stats, integrity, limited);
        this.space = new CacheSpace(store, writer, stats, options, files, limited, objects);
        this.fetcher = new Fetcher(lower, options, stats, cs, buffers, files, space);
        this.writes = new WritePath(files, stats, writer, cs, buffers, zeros, limited);
        this.pinner = new Pinner(this, lower, options, writer, meta, dirs, space, fetcher, cs);
        this.opens = new OpenModes(index, stats, cs, files, integrity, index.clock());
        this.scrubber = new Scrubber(integrity, store, stats, options.scrub(), index.clock());
    }

    // ------------------------------------------------------------------ space (CacheSpace)

    /** One culling pass (the culler runs them by itself; tests and commands may ask for one). */
    public void cull() {
        space.cull();
    }

    /** Unpins {@code rel} (and all under it); the number of objects unpinned. */
    public int unpin(String rel, boolean recursive) throws IndexException {
        return space.unpin(rel, recursive);
    }

    /** What an eviction did: objects whose data was dropped, bytes freed, objects left because they are open. */
    public record Evicted(int objects, long bytes, int busy) {}

    /** Drops the cached data of {@code rel} (and all under it), unpinning it; open files keep theirs. */
    public Evicted evictPath(String rel, boolean recursive) throws IndexException {
        return space.evictPath(rel, recursive);
    }

    /** Every pin: its lower path and the bytes it holds. */
    public Map<String, Long> pins() throws IndexException {
        return space.pins();
    }

    /** Bytes of data the cache holds (as of the last pass, plus what was stored since). */
    public long usedBytes() {
        return space.usedBytes();
    }

    /** What the cache holds against its limits (for status). */
    public Map<String, String> usage() {
        return space.usage();
    }

    /** The same as {@link #usage()}, as numbers for metrics: bytes, files, percent; a limit of 0 is none. */
    public Map<String, Long> usageGauges() {
        return space.usageGauges();
    }

    // ------------------------------------------------------------------ pins (Pinner)

    /** How far a pin is: files and bytes done, of the totals found by its walk. */
    public record PinProgress(long files, long bytes, long totalFiles, long totalBytes) {}

    /** Told of a pin's progress now and then; may throw to abort it (the client went away). */
    public interface PinListener {
        void progress(PinProgress p) throws java.io.IOException;
    }

    /**
     * Pins {@code rel} (a lower path; with {@code recursive}, a directory and all under it): its
     * data is fetched into the cache and kept, never culled, outside the size limit; listings,
     * symlink targets and attributes are copied up. Safe to interrupt and run again.
     */
    public PinProgress pin(String rel, boolean recursive, PinListener listener) throws ErrnoException, java.io.IOException {
        return pinner.pin(rel, recursive, listener);
    }

    /** Pins what the config's pin patterns match; the files pinned. */
    public int pinByPolicy(Policy policy) {
        return pinner.pinByPolicy(policy);
    }

    // ------------------------------------------------------------------ objects (ObjectTable)

    /** The object of a lower file outside any kernel node (pinning). */
    CachedObject objectFor(String path, Stat st) throws ErrnoException {
        FileId id = ids.idOf(path);
        CachedObject o;
        synchronized (table.objects) {
            o = table.loadedLocked(id, path, st);
        }
        revalidate(o, st);
        return o;
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

    /** Metadata copied up into the index. */
    public MetaCopy meta() {
        return meta;
    }

    /** Directory listings copied up. */
    public DirCache dirs() {
        return dirs;
    }

    /** The wall clock (ms) of the index's dates. */
    public long nowMs() {
        return index.clock().millis();
    }

    public CacheStats stats() {
        return stats;
    }

    public int chunkSize() {
        return cs;
    }

    // ------------------------------------------------------------------ versions

    /** Whether node {@code nodeid} has opens served by this layer now (any mode). */
    public boolean hasOpens(long nodeid) {
        CachedObject o = table.byNode.get(nodeid);
        if (o == null) {
            return false;
        }
        synchronized (o) {
            return o.opens() > 0;
        }
    }

    /**
     * Waits (at most {@code maxMs}) until the kernel has released every passthrough open of node
     * {@code nodeid} onto its cache file: the kernel allows one backing file per inode, and fails
     * an open onto another one (a local copy made offline) with EIO while an old one lives. close(2)
     * returns before the kernel's RELEASE reaches us, so a close-then-open races without this.
     */
    public void awaitNoPassthrough(long nodeid, long maxMs) {
        CachedObject o = table.byNode.get(nodeid);
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

    /**
     * Fresh attributes of node {@code nodeid} came from the lower (lookup, getattr, open): if they
     * show another version than the cached one, the cached data is dropped.
     *
     * @return true if the kernel may hold pages of the dropped version (send it an invalidation)
     */
    public boolean observe(long nodeid, Stat st) {
        CachedObject o = table.byNode.get(nodeid);
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
                files.adoptLocked(o, now); // our own writes changed it
                return false;
            }
            log.debug("{} changed on the lower: {} now {}", o.path, o.fp, now);
            return invalidateLocked(o, now);
        }
    }

    /** Drops every chunk: the lower has another version now. */
    private boolean invalidateLocked(CachedObject o, Fingerprint now) {
        boolean pages = o.pageGen == o.gen;
        files.dropDataLocked(o);
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

    /** Lets go of every lower descriptor kept for fetching (the lower came back); the next miss reopens. */
    public void dropReaders() {
        table.dropReaders();
    }

    /** The name of node {@code nodeid} was removed or replaced on the lower through the mount. */
    public void detach(long nodeid) {
        table.detach(nodeid);
    }

    /**
     * {@code from} was renamed to {@code to} through the mount (path identity re-keys what moved;
     * other identities move their rows' paths, online: offline, or for a rename journaled in
     * write-back's queue ({@code rows} false), the disconnected layer has).
     */
    public void renamed(String from, String to, boolean rows) {
        table.renamed(from, to, rows && meta.copying());
    }

    /** Where an exchange puts one side while the other moves: no lower path starts with a NUL byte. */
    private static final String EXCHANGE_ASIDE = "\u0000cachefs-exchange";

    /**
     * {@code a} and {@code b} were exchanged through the mount: as three renames (a aside, b to a,
     * the aside to b), so that identities and rows follow each side as {@link #renamed} does.
     */
    public void exchanged(String a, String b) {
        boolean rows = meta.copying();
        table.renamed(a, EXCHANGE_ASIDE, rows);
        table.renamed(b, a, rows);
        table.renamed(EXCHANGE_ASIDE, b, rows);
    }

    /** Objects kept loaded though no one uses them (see {@link ObjectTable#releaseIfIdle}). */
    int idleObjects() {
        return table.idleObjects();
    }

    /** Whether the cache holds an object for node {@code nodeid}. */
    public boolean knows(long nodeid) {
        return table.knows(nodeid);
    }

    /** The kernel forgot node {@code nodeid}. */
    public void forgetNode(long nodeid) {
        table.forgetNode(nodeid);
    }

    void releaseIfIdle(CachedObject o) {
        table.releaseIfIdle(o);
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
        writes.adopt(table, fetcher, path, id, st, from);
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
        CachedObject o = table.object(nodeid, path, st);
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
                    integrity.checkSealLocked(o);
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
                writes.truncate(o, 0);
            }
            Opened p = passthrough ? opens.passthroughOpen(o, f, writer, changed) : null;
            if (p != null) {
                return p;
            }
            if (!writer) {
                boolean full;
                synchronized (o) {
                    full = o.fullyCached(cs);
                }
                if (!full) {
                    fetcher.reader(o).release(); // errors of the lower's open show now, as they would without the cache
                }
            }
            return opens.daemonOpen(o, f, writer, direct, pagesStale, changed);
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
        CachedObject o = table.object(nodeid, path, st);
        revalidate(o, st);
        return opens.daemonOpen(o, f, true, (flags & Libc.O_DIRECT) != 0, false, false);
    }

    /**
     * After flush or fsync of a writer: a passthrough writer's data (in the cache file) is copied to
     * the lower; then the lower's version is ours.
     */
    public void written(Handle h) throws ErrnoException {
        if (h.writer && h.lower != null) {
            if (h.mode == Mode.PASSTHROUGH) {
                writes.copyBack(h);
            }
            settle(h.obj, h.lower.stat());
        }
    }

    /** Node {@code nodeid} changed through the mount in a way we know ({@code st}: its attributes after). */
    public void ownChange(long nodeid, Stat st) {
        CachedObject o = table.byNode.get(nodeid);
        if (o != null && st.isRegular()) {
            settle(o, st);
        }
    }

    /**
     * The lower's attributes after our own change become the object's version, and its row's
     * attributes too: offline the row is what the mount answers, and an open there compares it
     * with the version in memory (a row left as the lookup before a write or a rename saw it
     * would drop the data as changed on the lower).
     */
    private void settle(CachedObject o, Stat st) {
        Fingerprint fp = Fingerprint.of(st);
        IndexWriter.PutAttrs row;
        synchronized (o) {
            if (identityMode != IdentityMode.PATH && o.fp != null && o.fp.ino() != 0 && o.fp.ino() != fp.ino()) {
                // Another file is at the node's path now (an upload replaced it, and the kernel
                // still uses the node of the one before): neither its version nor its row is ours.
                return;
            }
            if (st.size() == o.size) {
                files.adoptLocked(o, fp);
            } else {
                invalidateLocked(o, fp); // someone else wrote too: trust nothing we hold
            }
            row = new IndexWriter.PutAttrs(o.rec.fileId(), o.path, st);
        }
        if (meta.copying()) { // offline the disconnected layer keeps the rows
            writer.submit(row);
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
        fetcher.readAhead(h, offset, done);
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
                        df = files.dataLocked(o);
                    } catch (IndexException e) {
                        c = null;
                    }
                }
            }
            if (c != null) {
                try {
                    if (check && !integrity.verify(o, idx)) {
                        continue;
                    }
                    int n = (int) Math.min(dst.byteSize(), c.length() - inChunk);
                    if (n <= 0) {
                        return 0;
                    }
                    files.preadFully(df.value, dst, n, idx * cs + inChunk);
                    stats.hitBytes.add(n);
                    return n;
                } finally {
                    df.release();
                }
            }
            Fetcher.Fetched f;
            try {
                f = fetcher.fetch(o, idx, attempt >= 2);
            } catch (ErrnoException e) {
                throw integrity.damagedOr(o, idx, e);
            }
            if (f != null) {
                int n = (int) Math.max(0, Math.min(dst.byteSize(), f.length() - inChunk));
                MemorySegment.copy(f.buffer(), inChunk, dst, 0, n);
                stats.missBytes.add(n);
                return -n - 1;
            }
        }
    }

    // ------------------------------------------------------------------ scrub (Scrubber)

    /** Checks every cached file now, as fast as it can (a command, tests); the files checked. */
    public int scrubNow() throws InterruptedException {
        return scrubber.pass(index.clock().millis() + 1, 0);
    }

    // ------------------------------------------------------------------ writes (WritePath)

    /** Writes through to the lower, then into present chunks of the cache. */
    public int write(Handle h, long offset, MemorySegment src) throws ErrnoException {
        return writes.write(h, offset, src);
    }

    /** The file was truncated (or extended) to {@code size} on the lower through the mount. */
    public void truncated(long nodeid, long size) {
        CachedObject o = table.byNode.get(nodeid);
        if (o != null) {
            writes.truncate(o, size);
        }
    }

    /**
     * The daemon writes node {@code nodeid}'s file on the lower past this layer (write-back leaves
     * a hard link's data there): the layer's data of it goes, since a write in the same tick of the
     * lower's clock as the version it holds leaves the fingerprint as it was.
     */
    public void writtenPast(long nodeid) {
        CachedObject o = table.byNode.get(nodeid);
        if (o != null) {
            synchronized (o) {
                invalidateLocked(o, o.fp);
            }
        }
    }

    /** Something changed the data in [offset, offset+length) other than a write (fallocate): forget it. */
    public void changed(long nodeid, long offset, Stat st) {
        CachedObject o = table.byNode.get(nodeid);
        if (o == null) {
            return;
        }
        o.storeLock.lock();
        try {
            writes.changedLocked(o, offset, st);
        } finally {
            o.storeLock.unlock();
        }
    }

    /** The lower descriptor for calls that need one (lseek) on an open served from the cache. */
    public LowerFile lowerFor(Handle h) throws ErrnoException {
        if (h.lower != null) {
            return h.lower;
        }
        Shared<LowerFile> r = fetcher.reader(h.obj);
        r.release(); // the object keeps it while the file is open
        return r.value;
    }

    // ------------------------------------------------------------------ helpers

    @Override
    public void close() {
        scrubber.close();
        space.close();
        fetcher.close();
        synchronized (table.objects) {
            for (CachedObject o : table.objects.values()) {
                synchronized (o) {
                    integrity.recordSealLocked(o);
                }
            }
        }
        writer.close();
        synchronized (table.objects) {
            for (CachedObject o : table.objects.values()) {
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
            table.objects.clear();
        }
        table.byNode.clear();
        ids.close();
    }
}
