package dev.cachefs.offline;

import dev.cachefs.index.ErrnoMapping;
import dev.cachefs.index.CacheIndex;
import dev.cachefs.index.CacheStore;
import dev.cachefs.index.FileId;
import dev.cachefs.index.Fingerprint;
import dev.cachefs.index.IdentityMode;
import dev.cachefs.index.IndexException;
import dev.cachefs.index.JournalRecord;
import dev.cachefs.index.ObjectRecord;
import dev.cachefs.index.ObjectState;
import dev.cachefs.lower.LowerDir;
import dev.cachefs.lower.LowerFile;
import dev.cachefs.lower.LowerFs;
import dev.cachefs.nativeio.Errno;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Libc;
import dev.cachefs.nativeio.RawPath;
import dev.cachefs.nativeio.Stat;
import dev.cachefs.nativeio.StatVfs;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The lower as the cache knows it, for disconnected operation: a {@link LowerFs} answered from the
 * index (attributes, listings, symlink targets, xattr values as last seen) and changed in it.
 *
 * <p>Every change is applied to the index and appended to the journal in one transaction that is
 * on disk before the call returns (the index runs with synchronous=FULL while offline). With each
 * entry goes the base: the lower object's attributes before its first offline change. A file whose
 * data changes offline gets a local copy ({@code local/<object id>}), made from its cached data at
 * the first change, and its cached data is kept beside as the base ({@code base/<object id>}) for
 * the three-way comparison of a later replay; from then on its opens are served by that local file
 * (with passthrough). Objects made offline get provisional identities.
 *
 * <p>What the cache cannot answer is ENOTCONN ("not connected"): data not cached, a listing not
 * cached (or older than the directory's last seen version). A name the cache has never seen in a
 * directory it knows is ENOENT (see {@link #node}). See docs/architecture.md, "Disconnected
 * operation".
 */
public final class OfflineFs implements LowerFs {
    private static final Logger log = LoggerFactory.getLogger(OfflineFs.class);
    /** A full disk refuses every offline change: a line and an event a minute, not one per change. */
    private final dev.cachefs.cache.LogLimiter limited = new dev.cachefs.cache.LogLimiter(log, 60_000);
    /** Inode numbers of objects made offline: far above what lowers hand out. */
    private static final long PROVISIONAL_INO = 1L << 60;
    private static final int DT_DIR = 4;
    private static final int DT_REG = 8;
    private static final int DT_LNK = 10;

    /** Opens the same path on the lower once it is back (the wait-for-reconnection policy). */
    public interface Reopen {
        LowerFile open(String path) throws ErrnoException;
    }

    private final CacheStore store;
    private final CacheIndex index;
    private final byte[] fsid;
    private final IdentityMode mode;
    private final Connectivity connectivity;
    private final long missWaitMs;
    private final Reopen reopen;
    private final Object changes = new Object();
    /** The local copies of files changed offline, and their bases. */
    private final LocalCopies copies;
    /** What the cache knows of each path. */
    private final CachedTree tree;
    /** Files written online in write-back mode, waiting for their upload. */
    private final WriteQueue queue;

    /**
     * @param missWaitMs how long a read of data the cache lacks waits for the lower (0: fail at once)
     */
    public OfflineFs(CacheStore store, byte[] fsid, IdentityMode mode, Connectivity connectivity, long missWaitMs,
                     Reopen reopen) {
        this.store = store;
        this.index = store.index();
        this.fsid = fsid.clone();
        this.mode = mode;
        this.connectivity = connectivity;
        this.missWaitMs = missWaitMs;
        this.reopen = reopen;
        this.copies = new LocalCopies(store);
        this.tree = new CachedTree(store, mode, copies);
        this.queue = new WriteQueue(this, index, tree, copies);
    }

    /** Write-back's side of the local copies (online changes waiting for upload). */
    public WriteQueue queue() {
        return queue;
    }

    static ErrnoException notCached(String what) {
        return new ErrnoException(Errno.ENOTCONN, "offline, and the cache does not hold " + what);
    }

    private Path localFile(String name) {
        return copies.file(name);
    }

    // ------------------------------------------------------------------ reads

    @Override
    public Stat stat(String path) throws ErrnoException {
        return tree.node(path).st();
    }

    @Override
    public String readlink(String path) throws ErrnoException {
        CachedTree.Node n = tree.node(path);
        if (!n.st().isSymlink()) {
            throw new ErrnoException(Errno.EINVAL);
        }
        if (n.rec().symlinkTarget() == null) {
            throw notCached("the target of symlink '" + path + "'");
        }
        return n.rec().symlinkTarget();
    }

    @Override
    public void access(String path, int mask) throws ErrnoException {
        tree.node(path); // the kernel has checked the cached owner and mode (default_permissions)
    }

    @Override
    public StatVfs statfs() throws ErrnoException {
        // Offline, what changes use is the cache disk: its free space is the one that matters.
        int fd = Libc.open(RawPath.fromText(store.directory().toString()), Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0);
        try {
            return Libc.fstatvfs(fd);
        } finally {
            Libc.close(fd);
        }
    }

    @Override
    public LowerDir openDir(String path) throws ErrnoException {
        CachedTree.Node n = tree.node(path);
        if (!n.st().isDirectory()) {
            throw new ErrnoException(Errno.ENOTDIR);
        }
        List<LowerDir.DirEntry> entries = new ArrayList<>();
        try {
            if (!tree.listingCurrent(n.rec(), n.st())) {
                throw notCached("the listing of '" + path + "'");
            }
            for (CacheIndex.Dirent d : index.listings().listing(n.id())) {
                entries.add(new LowerDir.DirEntry(d.name(), d.ino(), d.type(), entries.size() + 1));
            }
        } catch (IndexException e) {
            throw tree.indexFailed(e);
        }
        return new ListedDir(entries);
    }

    @Override
    public int getxattr(String path, String name, MemorySegment dst) throws ErrnoException {
        CachedTree.Node n = tree.node(path);
        byte[] v;
        try {
            v = index.listings().xattr(n.id(), name).orElseThrow(() -> new ErrnoException(Errno.ENODATA));
        } catch (IndexException e) {
            throw tree.indexFailed(e);
        }
        return copyOut(v, dst);
    }

    private static int copyOut(byte[] v, MemorySegment dst) throws ErrnoException {
        return dev.cachefs.cache.XattrCache.copyOut(v, dst);
    }

    @Override
    public int listxattr(String path, MemorySegment dst) throws ErrnoException {
        CachedTree.Node n = tree.node(path);
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        try {
            for (String name : index.listings().xattrNames(n.id())) {
                out.writeBytes(RawPath.bytes(name));
                out.write(0);
            }
        } catch (IndexException e) {
            throw tree.indexFailed(e);
        }
        return copyOut(out.toByteArray(), dst);
    }

    /** The identity of what is at {@code path} (offline, the index's). */
    public FileId idOf(String path) throws ErrnoException {
        return tree.node(path).rec().fileId();
    }

    /** Whether {@code path} has a local copy (changed or made offline). */
    public boolean servesLocalData(String path) {
        try {
            return tree.node(path).local() != null;
        } catch (ErrnoException e) {
            return false;
        }
    }

    /** For {@code user.cachefs.state}: dirty, cached, partial or metadata-only. */
    public String state(String path) throws ErrnoException {
        CachedTree.Node n = tree.node(path);
        return n.local() != null ? "dirty" : n.rec().state().name().toLowerCase(java.util.Locale.ROOT).replace('_', '-');
    }

    // ------------------------------------------------------------------ changes

    /** Nanoseconds now, split as a Stat wants them. */
    private static long[] now() {
        java.time.Instant t = java.time.Instant.now();
        return new long[] {t.getEpochSecond(), t.getNano()};
    }

    private static Stat withTimes(Stat s, long aSec, long aNsec, long mSec, long mNsec, long cSec, long cNsec) {
        return new Stat(s.ino(), s.size(), s.blocks(), s.mode(), s.nlink(), s.uid(), s.gid(), s.rdevMajor(), s.rdevMinor(),
                s.blksize(), aSec, (int) aNsec, mSec, (int) mNsec, cSec, (int) cNsec, s.dev());
    }

    private static Stat changedNow(Stat s) {
        long[] t = now();
        return withTimes(s, s.atimeSec(), s.atimeNsec(), s.mtimeSec(), s.mtimeNsec(), t[0], t[1]);
    }

    /** The base to journal with a change of {@code n}: the lower's attributes before its first offline change. */
    private byte[] base(CachedTree.Node n) throws IndexException {
        if (n.rec().fileId().isProvisional()) {
            return null; // the lower never had it
        }
        byte[] first = index.offlineJournal().firstBase(n.id());
        return first != null ? first : index.stat(n.id()).map(Stat::encode).orElse(null);
    }

    /** A change: applied to the index and journaled in one durable transaction, or not at all. */
    interface Change {
        void apply() throws java.sql.SQLException, IndexException, ErrnoException;
    }

    void commit(String what, Change c) throws ErrnoException {
        try {
            commitOnce(what, c);
        } catch (ErrnoException e) {
            if (e.errno() != Errno.ENOSPC || !store.releaseReserve()) {
                throw e;
            }
            log.error("the cache disk is full: the journal's reserve of {} bytes is used now; free space"
                    + " (cachefs evict, or delete files) before making more changes offline", CacheStore.RESERVE_BYTES);
            connectivity.report(Connectivity.Kind.CACHE_DISK_FULL, "the cache disk is full; its last reserve is in use");
            commitOnce(what, c);
        }
    }

    /**
     * Commits made on this thread now are relaxed (write-back's creates and copies: durable at
     * the next synced commit or at an fsync of the file, {@link #synced}, as a local disk's).
     */
    private static final ThreadLocal<Boolean> relaxed = ThreadLocal.withInitial(() -> false);

    interface Relaxed<T> {
        T run() throws ErrnoException;
    }

    /** Runs {@code r} with its commits relaxed (see {@link #relaxed}). */
    <T> T relaxed(Relaxed<T> r) throws ErrnoException {
        boolean was = relaxed.get();
        relaxed.set(true);
        try {
            return r.run();
        } finally {
            relaxed.set(was);
        }
    }

    private void commitOnce(String what, Change c) throws ErrnoException {
        ErrnoException[] thrown = new ErrnoException[1];
        CacheIndex.SqlBody body = () -> {
            try {
                c.apply();
            } catch (ErrnoException e) {
                thrown[0] = e;
                throw new IndexException("refused: " + e.getMessage());
            }
        };
        try {
            if (relaxed.get()) {
                index.relaxedTransaction(body);
            } else {
                index.transaction(body);
            }
        } catch (IndexException e) {
            if (thrown[0] != null) {
                throw thrown[0];
            }
            ErrnoException ee = tree.indexFailed(e);
            if (limited.error("refused", "offline change refused, nothing was changed ({}): {}", what, e.getMessage())) {
                connectivity.report(Connectivity.Kind.LOCAL_CHANGE_FAILED, what + ": " + Errno.name(ee.errno()) + " (" + e.getMessage() + ")");
            }
            throw ee;
        }
    }

    /**
     * The parent of a new name: a directory the cache knows. Its listing gets the name if the cache
     * holds it current; if not, the name is made all the same (replay finds out whether the lower
     * made it too).
     */
    private CachedTree.Node parentForNew(String path) throws ErrnoException {
        CachedTree.Node p = tree.node(CachedTree.parentOf(path));
        if (!p.st().isDirectory()) {
            throw new ErrnoException(Errno.ENOTDIR);
        }
        return p;
    }

    /** Records a namespace change of directory {@code dir}: new times (and link count); its listing stays current. */
    private void dirChanged(CachedTree.Node dir, int nlinkDelta) throws IndexException {
        long[] t = now();
        Stat s = dir.st();
        Stat n = new Stat(s.ino(), s.size(), s.blocks(), s.mode(), s.nlink() + nlinkDelta, s.uid(), s.gid(), s.rdevMajor(),
                s.rdevMinor(), s.blksize(), s.atimeSec(), s.atimeNsec(), t[0], (int) t[1], t[0], (int) t[1], s.dev());
        boolean current = tree.listingCurrent(dir.rec(), dir.st());
        index.setStat(dir.id(), n);
        if (current) {
            index.setFingerprint(dir.id(), Fingerprint.of(n));
        }
    }

    /** A new object made offline at {@code path}: its row, attributes and listing entry. */
    private long made(CachedTree.Node parent, String path, int mode, long size, int type) throws IndexException {
        FileId id = FileId.provisional(fsid);
        ObjectRecord rec = index.upsert(id, path, ObjectState.DIRTY, null);
        long[] t = now();
        Stat p = parent.st();
        int nlink = (mode & Libc.S_IFMT) == Libc.S_IFDIR ? 2 : 1;
        Stat st = new Stat(PROVISIONAL_INO + rec.id(), size, 0, mode, nlink, 0, 0, 0, 0, 4096,
                t[0], (int) t[1], t[0], (int) t[1], t[0], (int) t[1], p.dev());
        index.setStat(rec.id(), st);
        if (tree.listingCurrent(parent.rec(), parent.st())) {
            index.listings().putDirent(parent.id(), new CacheIndex.Dirent(CachedTree.nameOf(path), rec.id(), type, st.ino()));
        }
        dirChanged(parent, type == DT_DIR ? 1 : 0);
        return rec.id();
    }

    @Override
    public void mkdir(String path, int mode) throws ErrnoException {
        synchronized (changes) {
            queue.awaitSent(path);
            CachedTree.Node parent = parentForNew(path);
            if (tree.nodeOrNull(path) != null) {
                throw new ErrnoException(Errno.EEXIST);
            }
            commit("mkdir " + path, () -> {
                long id = made(parent, path, Libc.S_IFDIR | (mode & 07777), 4096, DT_DIR);
                Stat st = index.stat(id).orElseThrow();
                index.listings().putListing(id, List.of(new CacheIndex.Dirent(".", id, DT_DIR, st.ino()),
                        new CacheIndex.Dirent("..", parent.id(), DT_DIR, parent.st().ino())), true);
                index.setFingerprint(id, Fingerprint.of(st));
                index.offlineJournal().append(new JournalRecord.Mkdir(path, mode & 07777), id, null);
            });
        }
    }

    @Override
    public void mknod(String path, int mode, long dev) throws ErrnoException {
        if ((mode & Libc.S_IFMT) != Libc.S_IFREG && (mode & Libc.S_IFMT) != 0) {
            throw new ErrnoException(Errno.EOPNOTSUPP, "device nodes, fifos and sockets cannot be made offline");
        }
        open(path, Libc.O_CREAT | Libc.O_EXCL | Libc.O_WRONLY, mode & 07777).close();
    }

    @Override
    public void symlink(String target, String path) throws ErrnoException {
        synchronized (changes) {
            queue.awaitSent(path);
            CachedTree.Node parent = parentForNew(path);
            if (tree.nodeOrNull(path) != null) {
                throw new ErrnoException(Errno.EEXIST);
            }
            commit("symlink " + path, () -> {
                long id = made(parent, path, Libc.S_IFLNK | 0777, RawPath.bytes(target).length, DT_LNK);
                index.setSymlinkTarget(id, target);
                index.offlineJournal().append(new JournalRecord.Symlink(path, target), id, null);
            });
        }
    }

    @Override
    public void unlink(String path) throws ErrnoException {
        synchronized (changes) {
            queue.awaitSent(path);
            CachedTree.Node n = tree.node(path);
            if (n.st().isDirectory()) {
                throw new ErrnoException(Errno.EISDIR);
            }
            CachedTree.Node parent = tree.node(CachedTree.parentOf(path));
            commit("unlink " + path, () -> {
                byte[] base = base(n);
                removeName(parent, path, 0);
                index.paths().forgetPath(path, false);
                index.offlineJournal().append(new JournalRecord.Unlink(path, null), n.id(), base);
                index.setLocal(n.id(), null);
            });
            dropLocal(n);
        }
    }

    /**
     * An object changed offline is gone: its local copy is not needed for replay any more (the
     * journal's earlier "write" of it then has none), so its space comes back at once. Open
     * descriptors of it keep working (the file is only unlinked); its base copy stays.
     */
    private void dropLocal(CachedTree.Node n) {
        try {
            if (n.local() == null || index.localUsers(n.local()) > 0) {
                return; // another name (a hard link made offline) still has it
            }
        } catch (IndexException e) {
            return;
        }
        try {
            Files.deleteIfExists(localFile(n.local()));
        } catch (IOException e) {
            log.warn("cannot remove the local copy {}: {}", n.local(), e.getMessage());
        }
    }

    private void removeName(CachedTree.Node parent, String path, int nlinkDelta) throws IndexException {
        if (tree.listingCurrent(parent.rec(), parent.st())) {
            index.listings().removeDirent(parent.id(), CachedTree.nameOf(path));
        }
        dirChanged(parent, nlinkDelta);
    }

    /** The entries of a directory other than . and ..; null when its listing is not cached. */
    private List<CacheIndex.Dirent> children(CachedTree.Node dir) throws IndexException {
        if (!tree.listingCurrent(dir.rec(), dir.st())) {
            return null;
        }
        List<CacheIndex.Dirent> out = new ArrayList<>();
        for (CacheIndex.Dirent d : index.listings().listing(dir.id())) {
            if (!d.name().equals(".") && !d.name().equals("..")) {
                out.add(d);
            }
        }
        return out;
    }

    private void checkEmpty(CachedTree.Node dir, String path) throws ErrnoException {
        try {
            List<CacheIndex.Dirent> c = children(dir);
            if (c == null) {
                throw notCached("the listing of '" + path + "' (needed to know it is empty)");
            }
            if (!c.isEmpty()) {
                throw new ErrnoException(Errno.ENOTEMPTY);
            }
        } catch (IndexException e) {
            throw tree.indexFailed(e);
        }
    }

    @Override
    public void rmdir(String path) throws ErrnoException {
        synchronized (changes) {
            queue.awaitSent(path);
            CachedTree.Node n = tree.node(path);
            if (!n.st().isDirectory()) {
                throw new ErrnoException(Errno.ENOTDIR);
            }
            checkEmpty(n, path);
            CachedTree.Node parent = tree.node(CachedTree.parentOf(path));
            commit("rmdir " + path, () -> {
                byte[] base = base(n);
                removeName(parent, path, -1);
                index.paths().forgetPath(path, true);
                index.offlineJournal().append(new JournalRecord.Rmdir(path, null), n.id(), base);
            });
        }
    }

    @Override
    public void rename(String from, String to, int flags) throws ErrnoException {
        if ((flags & Libc.RENAME_EXCHANGE) != 0) {
            throw new ErrnoException(Errno.EOPNOTSUPP, "RENAME_EXCHANGE is not available offline");
        }
        synchronized (changes) {
            queue.awaitSent(from);
            queue.awaitSent(to);
            CachedTree.Node n = tree.node(from);
            CachedTree.Node toParent = parentForNew(to);
            CachedTree.Node fromParent = tree.node(CachedTree.parentOf(from));
            CachedTree.Node there = tree.nodeOrNull(to);
            if (there != null && there.id() == n.id()) {
                return; // the same object: rename(2) does nothing
            }
            if (there != null) {
                if ((flags & Libc.RENAME_NOREPLACE) != 0) {
                    throw new ErrnoException(Errno.EEXIST);
                }
                if (n.st().isDirectory() && !there.st().isDirectory()) {
                    throw new ErrnoException(Errno.ENOTDIR);
                }
                if (!n.st().isDirectory() && there.st().isDirectory()) {
                    throw new ErrnoException(Errno.EISDIR);
                }
                if (there.st().isDirectory()) {
                    checkEmpty(there, to);
                }
            }
            boolean dir = n.st().isDirectory();
            commit("rename " + from + " to " + to, () -> {
                if (there != null) {
                    byte[] b = base(there);
                    index.paths().forgetPath(to, true);
                    index.offlineJournal().append(dir ? new JournalRecord.Rmdir(to, from) : new JournalRecord.Unlink(to, from), there.id(), b);
                    index.setLocal(there.id(), null);
                }
                byte[] base = base(n);
                boolean sameDir = fromParent.id() == toParent.id();
                if (tree.listingCurrent(fromParent.rec(), fromParent.st())) {
                    index.listings().removeDirent(fromParent.id(), CachedTree.nameOf(from));
                }
                if (tree.listingCurrent(toParent.rec(), toParent.st())) {
                    index.listings().putDirent(toParent.id(), new CacheIndex.Dirent(CachedTree.nameOf(to), n.id(), n.st().fileType() >>> 12,
                            n.st().ino()));
                }
                // A directory is a link of its parent (its ".."): moving one moves a link count.
                dirChanged(toParent, dir ? (sameDir ? 0 : 1) - (there != null ? 1 : 0) : 0);
                if (!sameDir) {
                    dirChanged(fromParent, dir ? -1 : 0);
                }
                index.paths().movePaths(from, to);
                index.setStat(n.id(), changedNow(n.st()));
                index.offlineJournal().append(new JournalRecord.Rename(from, to, flags), n.id(), base);
            });
            if (there != null) {
                dropLocal(there);
            }
        }
    }

    @Override
    public void link(String existing, String newPath) throws ErrnoException {
        synchronized (changes) {
            queue.awaitSent(existing);
            queue.awaitSent(newPath);
            CachedTree.Node n = tree.node(existing);
            if (n.st().isDirectory()) {
                throw new ErrnoException(Errno.EPERM);
            }
            if (!n.st().isRegular()) {
                throw new ErrnoException(Errno.EOPNOTSUPP, "offline, only regular files can be hard linked");
            }
            CachedTree.Node parent = parentForNew(newPath);
            if (tree.nodeOrNull(newPath) != null) {
                throw new ErrnoException(Errno.EEXIST);
            }
            // Both names share one local copy, so a write through either is seen through both.
            String local = ensureLocal(existing, n, false);
            CachedTree.Node now = tree.node(existing);
            commit("link " + existing + " to " + newPath, () -> {
                long id = made(parent, newPath, now.st().mode(), 0, DT_REG);
                Stat s = changedNow(index.stat(n.id()).orElse(now.st()));
                Stat linked = new Stat(s.ino(), s.size(), s.blocks(), s.mode(), s.nlink() + 1, s.uid(), s.gid(),
                        s.rdevMajor(), s.rdevMinor(), s.blksize(), s.atimeSec(), s.atimeNsec(), s.mtimeSec(), s.mtimeNsec(),
                        s.ctimeSec(), s.ctimeNsec(), s.dev());
                index.setStat(n.id(), linked);
                index.setStat(id, linked); // the same inode under a second name
                if (tree.listingCurrent(parent.rec(), parent.st())) {
                    index.listings().putDirent(parent.id(), new CacheIndex.Dirent(CachedTree.nameOf(newPath), id, DT_REG, linked.ino()));
                }
                index.setLocal(id, local);
                index.offlineJournal().append(new JournalRecord.Link(existing, newPath, id), n.id(), base(n));
            });
        }
    }

    /** Replaces the attributes of {@code path} by {@code change} of them, journaling {@code op}. */
    private void setAttrs(JournalRecord r, java.util.function.UnaryOperator<Stat> change) throws ErrnoException {
        String path = r.path();
        synchronized (changes) {
            queue.awaitSent(path);
            CachedTree.Node n = tree.node(path);
            commit(r.getClass().getSimpleName().toLowerCase(java.util.Locale.ROOT) + " " + path, () -> {
                byte[] base = base(n);
                index.setStat(n.id(), changedNow(change.apply(index.stat(n.id()).orElse(n.st()))));
                index.offlineJournal().append(r, n.id(), base);
            });
        }
    }

    @Override
    public void chmod(String path, int mode) throws ErrnoException {
        setAttrs(new JournalRecord.Chmod(path, mode & 07777), s -> new Stat(s.ino(), s.size(),
                s.blocks(), (s.mode() & Libc.S_IFMT) | (mode & 07777), s.nlink(), s.uid(), s.gid(), s.rdevMajor(),
                s.rdevMinor(), s.blksize(), s.atimeSec(), s.atimeNsec(), s.mtimeSec(), s.mtimeNsec(), s.ctimeSec(),
                s.ctimeNsec(), s.dev()));
    }

    @Override
    public void chown(String path, int uid, int gid) throws ErrnoException {
        setAttrs(new JournalRecord.Chown(path, uid, gid), s -> new Stat(s.ino(), s.size(), s.blocks(),
                // chown clears set-user-ID and set-group-ID of a non-directory, as on Linux
                !s.isDirectory() && (uid != -1 || gid != -1) ? s.mode() & ~06000 : s.mode(), s.nlink(),
                uid == -1 ? s.uid() : uid, gid == -1 ? s.gid() : gid, s.rdevMajor(), s.rdevMinor(), s.blksize(),
                s.atimeSec(), s.atimeNsec(), s.mtimeSec(), s.mtimeNsec(), s.ctimeSec(), s.ctimeNsec(), s.dev()));
    }

    @Override
    public void utimens(String path, long atimeSec, long atimeNsec, long mtimeSec, long mtimeNsec) throws ErrnoException {
        long[] t = now();
        long as = atimeNsec == Libc.UTIME_NOW ? t[0] : atimeSec;
        long an = atimeNsec == Libc.UTIME_NOW ? t[1] : atimeNsec;
        long ms = mtimeNsec == Libc.UTIME_NOW ? t[0] : mtimeSec;
        long mn = mtimeNsec == Libc.UTIME_NOW ? t[1] : mtimeNsec;
        String local = nodeLocal(path);
        if (local != null) { // the copy's times are the file's
            Libc.utimensat(Libc.AT_FDCWD, RawPath.fromText(localFile(local).toString()), as, an, ms, mn, 0);
        }
        setAttrs(new JournalRecord.Utimens(path, as, an, ms, mn), s -> withTimes(s,
                an == Libc.UTIME_OMIT ? s.atimeSec() : as, an == Libc.UTIME_OMIT ? s.atimeNsec() : an,
                mn == Libc.UTIME_OMIT ? s.mtimeSec() : ms, mn == Libc.UTIME_OMIT ? s.mtimeNsec() : mn,
                s.ctimeSec(), s.ctimeNsec()));
    }

    private String nodeLocal(String path) throws ErrnoException {
        return tree.node(path).local();
    }

    @Override
    public void truncate(String path, long size) throws ErrnoException {
        synchronized (changes) {
            queue.awaitSent(path);
            CachedTree.Node n = tree.node(path);
            if (!n.st().isRegular()) {
                throw new ErrnoException(n.st().isDirectory() ? Errno.EISDIR : Errno.EINVAL);
            }
            String local = ensureLocal(path, n, size == 0);
            Libc.truncate(RawPath.fromText(localFile(local).toString()), size);
            commit("truncate " + path, () -> index.offlineJournal().append(new JournalRecord.Truncate(path, size), n.id(), base(n)));
        }
    }

    /**
     * The local copy of {@code n}'s data, made at its first offline change from the cached data
     * (which must be whole, unless {@code discard}: the change replaces it all), with the cached
     * data kept as the base.
     */
    private String ensureLocal(String path, CachedTree.Node n, boolean discard) throws ErrnoException {
        return ensureLocal(path, n, discard, null);
    }

    /** Fetches a file's whole data from the lower into {@code target} (write-back, online). */
    @FunctionalInterface
    interface Fetch {
        void into(Path target) throws ErrnoException;
    }

    /** {@link #ensureLocal(String, CachedTree.Node, boolean)}; what the cache lacks comes from {@code fetch} (if not null). */
    String ensureLocal(String path, CachedTree.Node n, boolean discard, Fetch fetch) throws ErrnoException {
        if (n.local() != null) {
            return n.local();
        }
        Path fetched = null;
        try {
            String name = Long.toString(n.id());
            boolean provisional = n.rec().fileId().isProvisional();
            Path data = store.dataPath(n.rec());
            boolean whole = n.rec().fingerprint() != null
                    && n.rec().fingerprint().sameVersion(Fingerprint.of(n.st()), mode)
                    && index.data().presentRanges(n.id(), store.chunkSize()).contains(0, n.st().size())
                    && (n.st().size() == 0 || Files.exists(data));
            if (!discard && !whole && !provisional && n.st().size() > 0 && fetch != null) {
                fetched = localFile("fetch-" + java.util.UUID.randomUUID());
                fetch.into(fetched);
                data = fetched;
                whole = true;
            }
            if (!discard && !whole && !provisional && n.st().size() > 0) {
                throw notCached("all of '" + path + "' (a file is changed offline only when its whole data is cached,"
                        + " or replaced from its start; pin it to keep it whole)");
            }
            boolean withBase = whole && n.st().size() > 0 && !provisional;
            copies.make(name, data, n.st(), withBase, discard);
            commit("write " + path, () -> {
                index.setLocal(n.id(), name);
                index.setState(n.id(), ObjectState.DIRTY);
                index.offlineJournal().append(new JournalRecord.Write(path, name, withBase ? name : "none"), n.id(), base(n));
            });
            return name;
        } catch (IndexException e) {
            throw tree.indexFailed(e);
        } catch (IOException e) {
            connectivity.report(Connectivity.Kind.LOCAL_CHANGE_FAILED, "copy of " + path + ": " + e.getMessage());
            throw ErrnoMapping.of(e, "cannot make the local copy of " + path, store.directory());
        } finally {
            if (fetched != null) {
                try {
                    Files.deleteIfExists(fetched);
                } catch (IOException e) {
                    log.warn("cannot remove {}: {}", fetched, e.getMessage());
                }
            }
        }
    }

    @Override
    public LowerFile open(String path, int flags, int mode) throws ErrnoException {
        boolean writable = (flags & Libc.O_ACCMODE) != Libc.O_RDONLY || (flags & Libc.O_TRUNC) != 0;
        if (!writable && (flags & Libc.O_CREAT) == 0) {
            CachedTree.Node n = tree.node(path);
            if (n.local() != null) {
                return localOpen(path, n, n.local(), Libc.O_RDONLY);
            }
            if (!n.st().isRegular()) {
                throw notCached("the special file '" + path + "'");
            }
            return new MissingData(this, path, n.st(), missWaitMs, connectivity, reopen);
        }
        synchronized (changes) {
            queue.awaitSent(path);
            CachedTree.Node n = tree.nodeOrNull(path);
            if (n == null) {
                if ((flags & Libc.O_CREAT) == 0) {
                    throw new ErrnoException(Errno.ENOENT);
                }
                CachedTree.Node parent = parentForNew(path);
                // The local file first: a journal entry never names a file that is not there.
                String local = "new-" + java.util.UUID.randomUUID();
                Path f;
                try {
                    f = localFile(local);
                    CacheStore.openPrivate(f).close();
                } catch (IOException e) {
                    throw ErrnoMapping.of(e, "cannot make the local file of " + path, store.directory());
                }
                try {
                    commit("create " + path, () -> {
                        long id = made(parent, path, Libc.S_IFREG | (mode & 07777), 0, DT_REG);
                        index.setLocal(id, local);
                        index.offlineJournal().append(new JournalRecord.Create(path, mode & 07777, local), id, null);
                    });
                } catch (ErrnoException e) {
                    try {
                        Files.deleteIfExists(f);
                    } catch (IOException ignored) {
                        // an orphan in local/, harmless
                    }
                    throw e;
                }
                n = tree.node(path);
            } else if ((flags & Libc.O_CREAT) != 0 && (flags & Libc.O_EXCL) != 0) {
                throw new ErrnoException(Errno.EEXIST);
            }
            if (n.st().isDirectory()) {
                throw new ErrnoException(Errno.EISDIR);
            }
            if (!n.st().isRegular()) {
                throw notCached("the special file '" + path + "'");
            }
            String local = ensureLocal(path, n, (flags & Libc.O_TRUNC) != 0);
            return localOpen(path, n, local, flags & (Libc.O_ACCMODE | Libc.O_APPEND | Libc.O_TRUNC));
        }
    }

    /** What an fsync of a local copy also waits for (write-back's sync_fsync: its upload). */
    @FunctionalInterface
    public interface AfterFsync {
        void synced(long objId) throws ErrnoException;
    }

    private volatile AfterFsync afterFsync;

    /** Sets what an fsync of a local copy waits for beyond the copy's own durability (null: nothing). */
    public void afterFsync(AfterFsync a) {
        this.afterFsync = a;
    }

    void synced(long objId) throws ErrnoException {
        try {
            index.sync(); // its journal entry and row, if their commit was relaxed
        } catch (IndexException e) {
            throw tree.indexFailed(e);
        }
        AfterFsync a = afterFsync;
        if (a != null && !connectivity.offline()) { // offline, durable in the cache is what there is
            a.synced(objId);
        }
    }

    /** The lock every offline change takes: held, no change can happen (replay's last step). */
    public Object changesLock() {
        return changes;
    }

    ErrnoException indexFailed(IndexException e) {
        return tree.indexFailed(e);
    }

    /** Open descriptors of local copies right now. */
    public int localOpens() {
        return copies.opens();
    }

    /** The local copy of an object, if it has one. */
    public Path localCopy(long objId) throws IndexException {
        var name = index.local(objId);
        return name.isPresent() ? localFile(name.get()) : null;
    }

    LowerFile localOpen(String path, CachedTree.Node n, String local, int flags) throws ErrnoException {
        int fd = Libc.open(RawPath.fromText(localFile(local).toString()), flags | Libc.O_CLOEXEC | Libc.O_NOFOLLOW, 0);
        copies.opened(n.id());
        return new LocalFile(this, index, copies, path, n.id(), fd);
    }

    @Override
    public void setxattr(String path, String name, MemorySegment value, int flags) throws ErrnoException {
        byte[] v = value.toArray(ValueLayout.JAVA_BYTE);
        synchronized (changes) {
            queue.awaitSent(path);
            CachedTree.Node n = tree.node(path);
            commit("setxattr " + path, () -> {
                boolean exists = index.listings().xattr(n.id(), name).isPresent();
                if ((flags & 1) != 0 && exists) { // XATTR_CREATE
                    throw new ErrnoException(Errno.EEXIST);
                }
                if ((flags & 2) != 0 && !exists) { // XATTR_REPLACE
                    throw new ErrnoException(Errno.ENODATA);
                }
                byte[] base = base(n);
                index.listings().putXattr(n.id(), name, v);
                index.setStat(n.id(), changedNow(index.stat(n.id()).orElse(n.st())));
                index.offlineJournal().append(new JournalRecord.SetXattr(path, name, v, flags), n.id(), base);
            });
        }
    }

    @Override
    public void removexattr(String path, String name) throws ErrnoException {
        synchronized (changes) {
            queue.awaitSent(path);
            CachedTree.Node n = tree.node(path);
            commit("removexattr " + path, () -> {
                if (index.listings().xattr(n.id(), name).isEmpty()) {
                    throw new ErrnoException(Errno.ENODATA);
                }
                byte[] base = base(n);
                index.listings().removeXattr(n.id(), name);
                index.setStat(n.id(), changedNow(index.stat(n.id()).orElse(n.st())));
                index.offlineJournal().append(new JournalRecord.RemoveXattr(path, name), n.id(), base);
            });
        }
    }

    @Override
    public void close() {}
}
