package dev.cachefs.fs;

import dev.cachefs.cache.CacheLayer;
import dev.cachefs.fuse.Attributes;
import dev.cachefs.fuse.Ctx;
import dev.cachefs.fuse.DevNumbers;
import dev.cachefs.fuse.DirSink;
import dev.cachefs.fuse.Entry;
import dev.cachefs.fuse.Fuse;
import dev.cachefs.fuse.FuseConnection;
import dev.cachefs.fuse.FuseFilesystem;
import dev.cachefs.fuse.OpenResult;
import dev.cachefs.fuse.SetAttr;
import dev.cachefs.fuse.StatFs;
import dev.cachefs.lower.LowerFile;
import dev.cachefs.lower.LowerFs;
import dev.cachefs.nativeio.Errno;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Libc;
import dev.cachefs.nativeio.Stat;
import dev.cachefs.nativeio.StatVfs;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The stacked filesystem: every FUSE request becomes the same operation on the lower, with the
 * lower's results and errno. Node ids map to lower paths through {@link NodeTable}; open files and
 * directories are lower descriptors kept in handle tables.
 *
 * <p>Under it is a {@link FileCache}: with the cache ({@link CachedFiles}), regular files' data is
 * served from the cache (see {@link CacheLayer}) and every fresh attribute read from the lower
 * revalidates it; without ({@link NoCache}), every open is passed through to the lower's own
 * descriptor.
 *
 * <p>Ownership: the kernel checks permissions (default_permissions) against the lower's owner and
 * mode before a request reaches us; we run as root, so objects we create are given to the caller
 * afterwards (uid, and gid unless the parent directory is set-group-ID).
 */
public final class StackedFs implements FuseFilesystem {
    private static final Logger log = LoggerFactory.getLogger(StackedFs.class);
    /** Tunables of the stacked filesystem. */
    /**
     * Tunables of the stacked filesystem.
     *
     * @param negativeTimeoutNs how long the kernel may remember that a name does not exist (0: not at all)
     */
    public record Options(long entryTimeoutNs, long attrTimeoutNs, boolean passthrough, long negativeTimeoutNs) {
        /** Without negative entries: some lowers (gvfs) briefly deny names they just made. */
        public Options(long entryTimeoutNs, long attrTimeoutNs, boolean passthrough) {
            this(entryTimeoutNs, attrTimeoutNs, passthrough, 0);
        }

        public static Options defaults() {
            return new Options(1_000_000_000L, 1_000_000_000L, true);
        }

        public Options withNegativeTimeout(long ns) {
            return new Options(entryTimeoutNs, attrTimeoutNs, passthrough, ns);
        }
    }

    private final LowerFs lower;
    private final Options options;
    private final NodeTable nodes;
    private final boolean root = Libc.geteuid() == 0;
    private final AtomicLong nextHandle = new AtomicLong(1);
    /** Files open through the mount: their handles, passthrough, closes. */
    private final OpenFiles files;
    private final FileCache cache;
    /** Extended attributes for the attribute timeout (with the cache and a non-zero timeout), else null. */
    private final dev.cachefs.cache.XattrCache xattrs;
    /** Sends kernel notifications outside the request that finds them needed (no deadlock on its inode). */

    private final OpenDirs dirs;

    /** Attributes the lower gave, trusted for meta_ttl (see {@link RecentAttributes}). */
    private final RecentAttributes recent;
    /** The config's caching rules (no-cache patterns, size limit). */
    private volatile dev.cachefs.cache.Policy policy = dev.cachefs.cache.Policy.NONE;
    /** What the kernel is told to forget. */
    private final KernelNotices notices;
    private final long nameMax;

    public StackedFs(LowerFs lower, Options options) throws ErrnoException {
        this(lower, options, new NoCache());
    }

    /** @param cache the layer under the adapter: the cache, or {@link NoCache} */
    public StackedFs(LowerFs lower, Options options, FileCache cache) throws ErrnoException {
        this.lower = lower;
        this.options = options;
        this.cache = cache;
        this.recent = new RecentAttributes(lower, cache.remembers() ? cache.stats() : null, System::nanoTime,
                cache.remembers() ? new RecentAttributes.Kept() {
                    @Override
                    public FileCache.Remembered remembered(String path, long sinceMs) {
                        return cache.remembered(path, sinceMs);
                    }

                    @Override
                    public java.util.Map<String, FileCache.Remembered> rememberedAll(java.util.List<String> paths, long sinceMs) {
                        return cache.rememberedAll(paths, sinceMs);
                    }

                    @Override
                    public void changed(String path, boolean under) {
                        cache.changed(path, under);
                    }

                    @Override
                    public boolean online() {
                        return cache.online();
                    }
                } : null, cache::nowMs);
        this.dirs = new OpenDirs(lower, cache, recent, nextHandle);
        this.xattrs = cache.remembers() && options.attrTimeoutNs() > 0
                ? new dev.cachefs.cache.XattrCache(options.attrTimeoutNs(), cache.stats()) : null;
        Stat rootStat = lower.stat("");
        this.nodes = new NodeTable(rootStat);
        this.notices = new KernelNotices(nodes);
        this.files = new OpenFiles(nextHandle, cache, notices, options.passthrough());
        cache.attrs("", rootStat); // a mount that starts offline next time needs the root
        long max;
        try {
            max = lower.statfs().namemax();
        } catch (ErrnoException e) {
            max = 255;
        }
        // Linux names are at most 255 bytes (NAME_MAX); a FUSE client claiming more passes on what
        // its server then chokes on.
        this.nameMax = max > 0 ? Math.min(max, 255) : 255;
    }

    /**
     * The lower path of a new or looked-up name. A name longer than the lower's NAME_MAX is refused
     * here with ENAMETOOLONG: some clients break on it for good (smbnetfs answers EIO to every call
     * after one 256-byte name).
     */
    private String child(long parent, String name) throws ErrnoException {
        if (name.length() > nameMax) { // names are bytes, one char each
            throw new ErrnoException(Errno.ENAMETOOLONG, "name longer than the lower's " + nameMax + " bytes");
        }
        return nodes.childPath(parent, name);
    }

    @Override
    public void init(FuseConnection connection) {
        notices.connect(connection);
    }

    @Override
    public void destroy() {
        files.closeAll();
        notices.shutdown();
        dirs.closeAll();
    }

    /**
     * {@code cachefs invalidate}: forget what is remembered of {@code rel} (and with
     * {@code recursive}, of all below it) instead of trusting it until a timeout: the kernel's
     * attributes, pages and names, cached listings and xattrs; the lower is asked now, and cached
     * data whose version changed is dropped. Returns the number of nodes the kernel held there.
     */
    public int invalidate(String rel, boolean recursive) throws ErrnoException {
        if (!cache.remembers()) {
            return 0;
        }
        recent.touched(rel, true);
        cache.listingsChangedUnder(rel);
        if (xattrs != null) {
            xattrs.dropUnder(rel);
        }
        cache.namesChanged(rel);
        Map<Long, String> at = nodes.at(rel, recursive);
        for (var e : at.entrySet()) {
            try {
                observed(e.getKey(), lower.stat(e.getValue()));
            } catch (ErrnoException gone) {
                // gone or unreachable: the kernel asks again below
            }
        }
        if (notices.connection() != null) {
            cache.stats().kernelInvalidations.add(at.size());
        }
        notices.forget(at.keySet(), List.of(rel)); // the name itself too: looked up afresh
        return at.size();
    }

    /**
     * Replay changed these paths on the lower, a file it uploaded by replacing it (a new lower
     * object under the old name): the kernel forgets its names for them, so that the next lookup
     * finds what is there now rather than the node of the object before, which an open would
     * otherwise keep using beside a new node a later lookup makes (two kernel inodes of one file,
     * disagreeing on its size: found by FsxIT). Returns once the kernel has been told (bounded);
     * call it on no FUSE request thread and holding no lock an offline change takes.
     */
    public void renewNames(java.util.Collection<String> paths) {
        for (String p : paths) {
            recent.touched(p, false); // what the daemon remembers of the object before goes too
        }
        notices.forget(List.of(), paths);
    }

    public void policy(dev.cachefs.cache.Policy p) {
        this.policy = p;
    }

    /** How long attributes the lower gave are trusted without asking again (see {@link RecentAttributes}); 0 = never. */
    public void metaTtl(long millis) {
        recent.ttl(millis);
    }

    /**
     * Which answers of the lower count as round trips, after which opens in a row revalidate their
     * directory as a whole (default 500 us; tests over a fast lower: 0, every answer).
     */
    public void roundTripAtLeast(long nanos) {
        recent.roundTripAtLeast(nanos);
    }

    /** Forgets every attribute remembered for {@link RecentAttributes} (the lower may have changed a lot: replay, reconnection). */
    public void forgetRecentAttributes() {
        recent.forgetAll();
    }

    /** Number of nodes the kernel currently holds (for tests and stats). */
    public int liveNodes() {
        return nodes.size();
    }

    /** Open files (for tests and stats). */
    public int openFiles() {
        return files.count();
    }

    private Entry entry(long parent, String name, String path, Stat st) throws ErrnoException {
        long id = nodes.remember(parent, name, st);
        observed(id, st);
        cache.attrs(path, st);
        long trusted = recent.trustedForNs(path);
        return new Entry(id, 0, st, Math.max(options.entryTimeoutNs(), trusted), attrTtl(path, trusted));
    }

    /**
     * How long the kernel may keep attributes of {@code path}: none for a local copy open for
     * writing (offline, or write-back's queue), whose size moves with writes through whichever
     * kernel node opened it, while a lookup since (an upload renews the names) may have made
     * another node of the same file: found by FsxIT with write-back.
     */
    private long attrTtl(String path, long trustedNs) {
        if (cache.remembers() && recent.openForWriting(path) && !cache.caches(path, Libc.O_RDONLY)) {
            return 0;
        }
        return Math.max(options.attrTimeoutNs(), trustedNs);
    }

    /** Fresh attributes of a node: the cache checks its version against them. */
    private void observed(long nodeid, Stat st) {
        if (cache.observe(nodeid, st)) {
            if (notices.dropData(nodeid)) {
                cache.stats().kernelInvalidations.increment();
            }
        }
    }

    private Attributes attrs(Stat st) {
        return new Attributes(st, options.attrTimeoutNs());
    }

    /** Gives a new object to the caller, as the kernel would have made it for them. */
    private void ownNew(Ctx ctx, long parent, String path, Stat made) throws ErrnoException {
        if (!root || (made.uid() == ctx.uid() && made.gid() == ctx.gid())) {
            return;
        }
        Stat dir = lower.stat(nodes.path(parent));
        int gid = (dir.mode() & 02000) != 0 ? -1 : ctx.gid();
        try {
            lower.chown(path, ctx.uid(), gid);
        } catch (ErrnoException e) {
            // A lower that cannot give files away (SMB, gvfs, a squashing server) keeps them as
            // its one remote user, as it does for everybody: the object is made, so say so.
            log.debug("cannot give {} to {}:{} on the lower ({}); it stays as the lower made it", path, ctx.uid(), gid, e.getMessage());
            return;
        }
        // chown clears set-user-ID / set-group-ID bits; the caller asked for them, so restore them.
        if ((made.mode() & 06000) != 0 && !made.isSymlink()) {
            lower.chmod(path, made.mode() & 07777);
        }
    }

    // ------------------------------------------------------------------ names

    @Override
    public Entry lookup(Ctx ctx, long parent, String name) throws ErrnoException {
        String path = child(parent, name);
        Stat st;
        try {
            st = recent.stat(path);
        } catch (ErrnoException e) {
            if (e.errno() == Errno.ENOENT && !(e instanceof RecentAttributes.KnownAbsent)) {
                cache.gone(path, true); // (known absent: nothing there to forget, and a create may follow at once)
            }
            if (e.errno() == Errno.ENOENT && options.negativeTimeoutNs() > 0) {
                // A negative entry: the kernel answers ENOENT itself for this long (like NFS's
                // lookupcache), and still asks us before creating the name.
                return new Entry(0, 0, NO_STAT, options.negativeTimeoutNs(), 0);
            }
            throw e;
        }
        return entry(parent, name, path, st);
    }

    private static final Stat NO_STAT = new Stat(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);

    @Override
    public void forget(long nodeid, long nlookup) {
        if (nodes.forget(nodeid, nlookup)) {
            cache.forgetNode(nodeid);
        }
    }

    @Override
    public Attributes getattr(Ctx ctx, long nodeid, long fh) throws ErrnoException {
        OpenFile f = files.find(fh);
        String path = nodes.path(nodeid);
        Stat st;
        if (f != null && f.lower() != null) {
            st = f.lower().stat();
        } else {
            try {
                st = recent.stat(path);
            } catch (ErrnoException e) {
                // fstat(2) of a file whose name is gone: the kernel asks without the handle.
                Stat open = (e.errno() == Errno.ENOENT || e.errno() == Errno.ESTALE) ? files.openedWith(nodeid) : null;
                if (open == null) {
                    throw e;
                }
                return attrs(open);
            }
        }
        observed(nodeid, st);
        cache.attrs(path, st);
        nodes.told(nodeid, st);
        return new Attributes(st, attrTtl(path, recent.trustedForNs(path)));
    }

    @Override
    public Attributes setattr(Ctx ctx, long nodeid, SetAttr c) throws ErrnoException {
        String path = nodes.path(nodeid);
        recent.touched(path, false);
        if (xattrs != null) {
            xattrs.drop(path); // a mode change rewrites the ACL
        }
        OpenFile open = files.find(c.fh());
        LowerFile f = open != null ? open.lower() : null;
        boolean local = servedLocally(path);
        if (c.has(Fuse.FATTR_MODE)) {
            if (f != null) {
                f.chmod(c.mode() & 07777);
            } else {
                lower.chmod(path, c.mode() & 07777);
            }
        }
        if (c.has(Fuse.FATTR_UID) || c.has(Fuse.FATTR_GID)) {
            int uid = c.has(Fuse.FATTR_UID) ? c.uid() : -1;
            int gid = c.has(Fuse.FATTR_GID) ? c.gid() : -1;
            lower.chown(path, uid, gid);
        }
        if (c.has(Fuse.FATTR_SIZE)) {
            if (f != null) {
                f.truncate(c.size());
            } else {
                lower.truncate(path, c.size());
            }
            local |= servedLocally(path);
            if (!local) {
                cache.truncated(nodeid, c.size());
            }
        }
        if (c.has(Fuse.FATTR_ATIME) || c.has(Fuse.FATTR_MTIME)) {
            long as = 0, an = Libc.UTIME_OMIT, ms = 0, mn = Libc.UTIME_OMIT;
            if (c.has(Fuse.FATTR_ATIME_NOW)) {
                an = Libc.UTIME_NOW;
            } else if (c.has(Fuse.FATTR_ATIME)) {
                as = c.atimeSec();
                an = c.atimeNsec();
            }
            if (c.has(Fuse.FATTR_MTIME_NOW)) {
                mn = Libc.UTIME_NOW;
            } else if (c.has(Fuse.FATTR_MTIME)) {
                ms = c.mtimeSec();
                mn = c.mtimeNsec();
            }
            lower.utimens(path, as, an, ms, mn);
        }
        Stat st = f != null ? f.stat() : lower.stat(path);
        ownChange(nodeid, path, st, local); // new times or ctime, the data we hold is still the lower's
        cache.attrs(path, st); // what the lower says now, dated now
        return attrs(st);
    }

    @Override
    public String readlink(Ctx ctx, long nodeid) throws ErrnoException {
        String path = nodes.path(nodeid);
        String target = lower.readlink(path);
        cache.symlink(path, target);
        return target;
    }

    @Override
    public Entry mknod(Ctx ctx, long parent, String name, int mode, int rdev) throws ErrnoException {
        String path = child(parent, name);
        lower.mknod(path, mode, Stat.makedev(DevNumbers.major(rdev), DevNumbers.minor(rdev)));
        recent.nameAdded(path);
        return created(ctx, parent, name, path);
    }

    @Override
    public Entry mkdir(Ctx ctx, long parent, String name, int mode) throws ErrnoException {
        String path = child(parent, name);
        lower.mkdir(path, mode);
        recent.madeDir(path);
        return created(ctx, parent, name, path);
    }

    @Override
    public Entry symlink(Ctx ctx, long parent, String name, String target) throws ErrnoException {
        String path = child(parent, name);
        lower.symlink(target, path);
        recent.nameAdded(path);
        return created(ctx, parent, name, path);
    }

    private Entry created(Ctx ctx, long parent, String name, String path) throws ErrnoException {
        dirChanged(parent);
        Stat st = lower.stat(path);
        if (root && (st.uid() != ctx.uid() || st.gid() != ctx.gid())) {
            ownNew(ctx, parent, path, st);
            st = lower.stat(path);
        }
        return entry(parent, name, path, st);
    }

    @Override
    public void unlink(Ctx ctx, long parent, String name) throws ErrnoException {
        String path = child(parent, name);
        lower.unlink(path);
        recent.nameRemoved(path);
        dirChanged(parent);
        namesGone(path, false); // a file: nothing below it to look for
        cache.gone(path, false);
        detach(nodes.removed(parent, name));
    }

    private void detach(long nodeid) {
        if (nodeid != 0) {
            cache.detach(nodeid);
        }
    }

    @Override
    public void rmdir(Ctx ctx, long parent, String name) throws ErrnoException {
        String path = child(parent, name);
        lower.rmdir(path);
        recent.nameRemoved(path);
        dirChanged(parent);
        cache.listingsChangedUnder(path);
        cache.gone(path, true);
        namesGone(path);
        nodes.removed(parent, name);
    }

    @Override
    public void rename(Ctx ctx, long parent, String name, long newParent, String newName, int flags)
            throws ErrnoException {
        String from = child(parent, name);
        String to = child(newParent, newName);
        lower.rename(from, to, flags);
        if ((flags & Libc.RENAME_EXCHANGE) == 0) {
            recent.nameRemoved(from);
            recent.nameAdded(to);
        }
        dirChanged(parent);
        dirChanged(newParent);
        cache.listingsChangedUnder(from); // a directory moved: its listings were keyed by its old path
        cache.listingsChangedUnder(to);
        namesGone(from);
        namesGone(to);
        recent.movedOpen(from, to);
        long displaced = nodes.renamed(parent, name, newParent, newName, (flags & Libc.RENAME_EXCHANGE) != 0);
        detach(displaced);
        if ((flags & Libc.RENAME_EXCHANGE) == 0) {
            // Renamed in write-back's queue: the disconnected layer has moved the rows itself.
            cache.renamed(from, to, !lower.queued(to));
            settleMoved(newParent, newName, to);
        } else {
            cache.exchanged(from, to);
            settleMoved(newParent, newName, to);
            settleMoved(parent, name, from);
        }
    }

    /**
     * Whether {@code path} is served from a local copy (write-back's queue, offline changes, an
     * open conflict): the disconnected layer owns its row and data then, and the cache layer's
     * object of the node holds the lower's version, which a change made to the copy must not
     * touch. (Telling the cache layer of a truncate of a queued file gave the node's object, of
     * an older identity, the path in the index: the queue then lost the file, and the mount
     * showed the lower's version until the upload. Found by RandomOpsIT's write-back seed 12.)
     */
    private boolean servedLocally(String path) {
        return !cache.caches(path, Libc.O_RDONLY);
    }

    /**
     * Our own change of node {@code nodeid} at {@code path} ({@code st}: its attributes after) for
     * the cache layer, unless the file is served locally ({@code local}, or now).
     */
    private void ownChange(long nodeid, String path, Stat st, boolean local) {
        if (!local && !servedLocally(path)) {
            cache.ownChange(nodeid, st);
        }
    }

    /** Most lowers move the ctime with a rename: that is us, not a new version of what moved to {@code path}. */
    private void settleMoved(long dir, String name, String path) {
        long moved = nodes.lookupChild(dir, name);
        if (moved != 0 && cache.knows(moved)) {
            try {
                ownChange(moved, path, lower.stat(path), false);
            } catch (ErrnoException e) {
                // renamed again since: the next revalidation decides
            }
        }
    }

    @Override
    public Entry link(Ctx ctx, long nodeid, long newParent, String newName) throws ErrnoException {
        String existing = nodes.path(nodeid);
        String path = child(newParent, newName);
        lower.link(existing, path);
        recent.nameAdded(path);
        recent.touched(existing, false);
        dirChanged(newParent);
        Stat st = lower.stat(path);
        ownChange(nodeid, path, st, false); // the link count and ctime changed, not the data
        return entry(newParent, newName, path, st);
    }

    // ------------------------------------------------------------------ files

    /**
     * The flags for the lower's open: the caller's, O_DIRECT included (the lower then does direct
     * I/O, or refuses it with the errno it would give the caller directly).
     */
    private int lowerFlags(int flags) {
        return flags & ~(Libc.O_CREAT | Libc.O_EXCL | Libc.O_NOCTTY);
    }

    @Override
    public OpenResult open(Ctx ctx, long nodeid, int flags) throws ErrnoException {
        String path = nodes.path(nodeid);
        OpenResult r = openAtPath(nodeid, path, flags);
        recent.openAt(r.fh(), path, flags);
        if ((flags & Libc.O_ACCMODE) == Libc.O_RDONLY && (flags & Libc.O_TRUNC) == 0) {
            // A reader's close has nothing to flush (flush writes back writers only): the kernel
            // then sends no FLUSH for it, one request fewer per open and close of a small file.
            r = new OpenResult(r.fh(), r.openFlags() | Fuse.FOPEN_NOFLUSH, r.passthroughFd());
        }
        return r;
    }

    private OpenResult openAtPath(long nodeid, String path, int flags) throws ErrnoException {
        if (cache.caches(path, flags)) {
            Stat st = recent.fresh(nodeid, path, notices.connection()); // close-to-open: every open checks the lower's version
            if (nodes.toldOtherThan(nodeid, st) && notices.connection() != null) {
                // The kernel may keep attributes for meta_ttl: it must not read the new version with the old size.
                notices.connection().invalidateInode(nodeid, -1, 0);
            }
            nodes.told(nodeid, st);
            if (!cache.caches(path, flags)) {
                // That stat is what found the lower gone: offline now, opened as offline opens are.
                return openAtPath(nodeid, path, flags);
            }
            if (st.isRegular() && policy.uncached(path, st.size())) {
                // Kept out of the cache by the config: served by the daemon (under deadlines), never
                // by passthrough onto the lower's descriptor, where a hung lower would hang the reader.
                cache.stats().policyUncachedOpens.increment();
                return files.lower(nodeid, lower.open(path, lowerFlags(flags), 0), flags, false);
            }
            if (st.isRegular()) {
                files.awaitNoLocalOpens(nodeid);
                return files.cached(nodeid, cache.open(nodeid, path, st, flags, lowerFlags(flags), files.passthroughNow()), st);
            }
        }
        // The kernel fails a daemon-path open while passthrough opens of the inode live.
        cache.awaitNoPassthrough(nodeid, 2000);
        LowerFile f = lower.open(path, lowerFlags(flags), 0);
        // Other local files (the open conflicts' versions) are served by the daemon: the kernel
        // allows one backing file per inode and no mix of passthrough and other opens (a mapping
        // left by an earlier open counts), and fails the open with EIO.
        return files.lower(nodeid, f, flags, cache.passesLowerThrough());
    }

    @Override
    public Created create(Ctx ctx, long parent, String name, int flags, int mode) throws ErrnoException {
        String path = child(parent, name);
        Created c = createAtPath(ctx, parent, name, path, flags, mode);
        recent.openAt(c.open().fh(), path, flags | Libc.O_WRONLY);
        return c;
    }

    private Created createAtPath(Ctx ctx, long parent, String name, String path, int flags, int mode) throws ErrnoException {
        LowerFile f;
        boolean made = true;
        try {
            f = lower.open(path, lowerFlags(flags) | Libc.O_CREAT | Libc.O_EXCL, mode);
        } catch (ErrnoException e) {
            if (e.errno() != Errno.EEXIST || (flags & Libc.O_EXCL) != 0) {
                throw e;
            }
            // Created on the lower after the kernel's lookup: open the existing file.
            f = lower.open(path, lowerFlags(flags), 0);
            made = false;
        }
        try {
            Stat st = f.stat();
            if (made) {
                recent.nameAdded(path);
                ownNew(ctx, parent, path, st);
                st = f.stat();
            }
            Entry e = entry(parent, name, path, st);
            if (made && f.notOnLowerYet()) {
                // The lower's directory is as it was: what is remembered of it stays true.
                listingChanged(parent);
            } else if (made) {
                dirChanged(parent);
            }
            if (st.isRegular() && cache.caches(path, flags) && !policy.uncached(path, 0)) {
                try {
                    return new Created(e, files.cached(e.nodeid(), cache.created(e.nodeid(), path, f, flags), null));
                } catch (ErrnoException | RuntimeException ex) {
                    forget(e.nodeid(), 1);
                    throw ex;
                }
            }
            // Not cached: a local file (offline) or a lower file kept out of the cache by the
            // config is served by the daemon (see open for why local files are not passed through).
            return new Created(e, files.lower(e.nodeid(), f, flags, cache.passesLowerThrough()));
        } catch (ErrnoException | RuntimeException e) {
            f.close();
            throw e;
        }
    }

    @Override
    public int read(Ctx ctx, long nodeid, long fh, long offset, MemorySegment dst) throws ErrnoException {
        OpenFile f = files.get(fh);
        return f.cached() != null ? cache.read(f.cached(), offset, dst) : f.need().read(offset, dst);
    }

    @Override
    public int write(Ctx ctx, long nodeid, long fh, long offset, MemorySegment src, int writeFlags)
            throws ErrnoException {
        OpenFile f = files.get(fh);
        return f.cached() != null ? cache.write(f.cached(), offset, src) : f.need().write(offset, src);
    }

    @Override
    public void flush(Ctx ctx, long nodeid, long fh, long lockOwner) throws ErrnoException {
        OpenFile f = files.get(fh);
        if (f.lower() != null) {
            f.lower().flush();
            if (f.cached() != null) {
                cache.written(f.cached());
            }
        }
    }

    @Override
    public void release(Ctx ctx, long nodeid, long fh, int flags) {
        recent.closedAt(fh);
        files.release(fh);
    }

    @Override
    public void fsync(Ctx ctx, long nodeid, long fh, boolean dataOnly) throws ErrnoException {
        OpenFile f = files.get(fh);
        if (f.lower() != null) {
            f.lower().fsync(dataOnly);
            if (f.cached() != null) {
                cache.written(f.cached());
            }
        }
    }

    @Override
    public void fallocate(Ctx ctx, long nodeid, long fh, int mode, long offset, long length) throws ErrnoException {
        OpenFile f = files.get(fh);
        f.need().fallocate(mode, offset, length);
        if (f.cached() != null) {
            cache.changed(nodeid, offset, f.lower().stat());
        }
    }

    @Override
    public long lseek(Ctx ctx, long nodeid, long fh, long offset, int whence) throws ErrnoException {
        OpenFile f = files.get(fh);
        return (f.cached() != null ? cache.lowerFor(f.cached()) : f.need()).lseek(offset, whence);
    }

    @Override
    public StatFs statfs(Ctx ctx, long nodeid) throws ErrnoException {
        StatVfs v = lower.statfs();
        return new StatFs(v.blocks(), v.bfree(), v.bavail(), v.files(), v.ffree(), (int) v.bsize(),
                (int) v.namemax(), (int) v.frsize());
    }

    @Override
    public void access(Ctx ctx, long nodeid, int mask) throws ErrnoException {
        lower.access(nodes.path(nodeid), mask);
    }

    // ------------------------------------------------------------------ xattrs

    @Override
    public int getxattr(Ctx ctx, long nodeid, String name, MemorySegment dst) throws ErrnoException {
        String path = nodes.path(nodeid);
        if (cache.remembers() && name.startsWith(STATE_XATTR_PREFIX)) {
            return stateXattr(path, name, dst);
        }
        int n = xattrs != null ? xattrs.get(path, name, dst, buf -> lower.getxattr(path, name, buf))
                : lower.getxattr(path, name, dst);
        if (dst.byteSize() > 0) {
            cache.xattr(path, name, dst.asSlice(0, n).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE));
        }
        return n;
    }

    /** Virtual, read-only attributes that tell what the cache holds of a file (not listed). */
    static final String STATE_XATTR_PREFIX = "user.cachefs.";

    private int stateXattr(String path, String name, MemorySegment dst) throws ErrnoException {
        CacheLayer.State st = cache.stateOf(path);
        String value = switch (name) {
            case STATE_XATTR_PREFIX + "state" -> st.state();
            case STATE_XATTR_PREFIX + "pinned" -> st.pinned() ? "yes" : "no";
            default -> throw new ErrnoException(Errno.ENODATA);
        };
        return dev.cachefs.cache.XattrCache.copyOut(value.getBytes(java.nio.charset.StandardCharsets.US_ASCII), dst);
    }

    @Override
    public int listxattr(Ctx ctx, long nodeid, MemorySegment dst) throws ErrnoException {
        // Not cached: listing is rare next to getxattr, and some lowers break on any other buffer
        // size than the caller's (smbnetfs answers a size query of the list with EIO, then EIO to
        // everything).
        return lower.listxattr(nodes.path(nodeid), dst);
    }

    @Override
    public void setxattr(Ctx ctx, long nodeid, String name, MemorySegment value, int flags) throws ErrnoException {
        String path = nodes.path(nodeid);
        if (cache.remembers() && name.startsWith(STATE_XATTR_PREFIX)) {
            throw new ErrnoException(Errno.EPERM, "user.cachefs.* attributes are the cache's, read-only");
        }
        try {
            lower.setxattr(path, name, value, flags);
        } finally {
            xattrsChanged(nodeid, path);
        }
    }

    @Override
    public void removexattr(Ctx ctx, long nodeid, String name) throws ErrnoException {
        String path = nodes.path(nodeid);
        try {
            lower.removexattr(path, name);
        } finally {
            xattrsChanged(nodeid, path);
        }
    }

    /** Our own xattr change: drop what we remember, and keep the data (only ctime moved). */
    private void xattrsChanged(long nodeid, String path) {
        recent.touched(path, false);
        if (xattrs != null) {
            xattrs.drop(path);
        }
        if (cache.remembers()) { // one stat more: the layer keeps the data of the version it holds
            try {
                ownChange(nodeid, path, lower.stat(path), false);
            } catch (ErrnoException e) {
                // gone: the next lookup says so
            }
        }
    }

    private void namesGone(String path) {
        namesGone(path, true);
    }

    /** {@code under}: also what is below {@code path} (a scan of everything remembered; directories only). */
    private void namesGone(String path, boolean under) {
        recent.touched(path, under);
        if (xattrs != null) {
            xattrs.dropUnder(path);
        }
        cache.namesChanged(path);
    }

    // ------------------------------------------------------------------ directories

    @Override
    public OpenResult opendir(Ctx ctx, long nodeid, int flags) throws ErrnoException {
        return dirs.open(nodes.path(nodeid));
    }

    @Override
    public void readdir(Ctx ctx, long nodeid, long fh, long offset, DirSink sink) throws ErrnoException {
        dirs.read(fh, offset, sink, name -> lookup(ctx, nodeid, name), id -> forget(id, 1));
    }

    @Override
    public void releasedir(Ctx ctx, long nodeid, long fh) {
        dirs.release(fh);
    }

    @Override
    public void fsyncdir(Ctx ctx, long nodeid, long fh, boolean dataOnly) throws ErrnoException {
        dirs.fsync(fh, dataOnly);
    }

    /** A namespace change in directory node {@code parent} through the mount. */
    private void dirChanged(long parent) {
        try {
            String p = nodes.path(parent);
            recent.forget(p);
        } catch (ErrnoException e) {
            recent.forgetAll();
        }
        listingChanged(parent);
    }

    /** The listing of directory node {@code parent} changed through the mount (its attributes on the lower need not have). */
    private void listingChanged(long parent) {
        try {
            cache.listingChanged(nodes.path(parent));
        } catch (ErrnoException e) {
            cache.listingChanged(null);
        }
    }
}
