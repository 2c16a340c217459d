package dev.cachefs.offline;

import dev.cachefs.lower.LowerDir;
import dev.cachefs.lower.LowerFile;
import dev.cachefs.lower.LowerFs;
import dev.cachefs.nativeio.Errno;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Libc;
import dev.cachefs.nativeio.Stat;
import dev.cachefs.nativeio.StatVfs;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Set;

/**
 * The lower the mount uses: the real one under deadlines while online, the cache's
 * ({@link OfflineFs}) while offline. A query that finds the lower unreachable is answered from the
 * cache at once (the mount has gone offline meanwhile). A change by path that does is failed
 * with a retryable errno: the FUSE layer runs the request once more, and the second run, offline
 * now, is journaled, so a user who saves just as the network drops sees no error. (Had the change
 * reached the lower after all, replay finds the lower already holding it.) Files and directories
 * opened online keep their lower descriptors, under deadlines.
 */
public final class ModalLowerFs implements LowerFs {
    private final Guard guard;
    private final Connectivity connectivity;
    private final OfflineFs offline;
    private volatile LowerFs online;
    /** A view that always uses the real lower (replay, while the mount is still offline). */
    private final boolean onlineOnly;

    /** The open conflicts: their view under .cachefs, and the local versions they show (null: none). */
    private final ConflictView view;

    /** What write-back needs of the rest of the mount; null: writes go through to the lower. */
    private volatile WriteBack writeBack;

    /** Write-back ({@code -o writeback}): what it needs of the mount beyond this lower. */
    public interface WriteBack {
        /** The identity of what is at {@code path} on the lower now (under the deadline). */
        dev.cachefs.index.FileId idOf(String path) throws ErrnoException;

        /** Writes what the cache layer still holds for the index, before the queue reads it. */
        void flushIndex();

        /**
         * Uploads the queue now, returning once nothing at or under {@code paths} is queued (a
         * rename or link of a queued file needs it on the lower first); throws what stopped it.
         */
        void uploadNow(String... paths) throws ErrnoException;

        /**
         * Whether an fsync waits for the upload ({@code sync_fsync}): new files are then made on
         * the lower at their create (written through), so that an fsync can send their data.
         */
        boolean syncFsync();
    }

    /** Turns write-back on: files written online go to local copies, uploaded later. */
    public void writeBack(WriteBack wb) {
        this.writeBack = wb;
    }

    /** @param online the real lower, or null while it has never been reached */
    public ModalLowerFs(LowerFs online, Guard guard, Connectivity connectivity, OfflineFs offline, ConflictView view) {
        this(online, guard, connectivity, offline, false, view);
    }

    private ModalLowerFs(LowerFs online, Guard guard, Connectivity connectivity, OfflineFs offline, boolean onlineOnly,
                         ConflictView view) {
        this.onlineOnly = onlineOnly;
        this.view = view;
        this.online = online;
        this.guard = guard;
        this.connectivity = connectivity;
        this.offline = offline;
    }

    /** Uses {@code fresh} as the real lower from now on; returns the one it replaces. */
    public LowerFs replaceOnline(LowerFs fresh) {
        LowerFs old = online;
        online = fresh;
        return old;
    }

    public LowerFs online() {
        return online;
    }

    /** The real lower under deadlines whatever the mode; its failures are thrown, never answered from the cache. */
    public LowerFs guardedOnline() {
        return new ModalLowerFs(online, guard, connectivity, offline, true, null);
    }

    private static final int PLAIN = 0;
    private static final int VIEW = 1;
    private static final int SHADOWED = 2;
    /** Online, a path written back and not uploaded yet: answered from its local copy, changed there. */
    private static final int QUEUED = 3;

    /**
     * Whether {@code path} is answered by the conflicts view (VIEW), by the local version of an
     * open conflict (SHADOWED: online only; offline the local version is what the cache serves
     * anyway), or as usual.
     */
    private int special(String path) {
        if (view == null) {
            return PLAIN;
        }
        if (ConflictView.inView(path)) {
            return VIEW;
        }
        if (connectivity.offline()) {
            return PLAIN;
        }
        if (view.shadows(path)) {
            return SHADOWED;
        }
        return offline.queue().queued(path) ? QUEUED : PLAIN;
    }

    /** Changes of the view and of files in open conflict are refused. */
    private void writable(String... paths) throws ErrnoException {
        for (String p : paths) {
            switch (special(p)) {
                case VIEW -> throw new ErrnoException(Errno.EROFS, "the conflicts view is read-only");
                case SHADOWED -> throw new ErrnoException(Errno.EROFS, "'" + p + "' is in conflict; resolve it first"
                        + " (cachefs resolve)");
                default -> { }
            }
        }
    }

    private boolean useOnline(LowerFs l) throws ErrnoException {
        if (onlineOnly) {
            if (l == null) {
                throw new Guard.Unreachable(Errno.ENOTCONN, "the lower is not open");
            }
            return true;
        }
        return !connectivity.offline() && l != null;
    }

    public OfflineFs offline() {
        return offline;
    }

    private interface On<T> {
        T apply(LowerFs l) throws ErrnoException;
    }

    private interface Off<T> {
        T apply(OfflineFs o) throws ErrnoException;
    }

    private interface VoidOn {
        void apply(LowerFs l) throws ErrnoException;
    }

    private interface VoidOff {
        void apply(OfflineFs o) throws ErrnoException;
    }

    private <T> T query(String what, long bytes, On<T> on, Off<T> off) throws ErrnoException {
        LowerFs l = online;
        if (useOnline(l)) {
            try {
                return guard.call(what, bytes, () -> on.apply(l));
            } catch (Guard.Unreachable u) {
                if (onlineOnly) {
                    throw u;
                }
                // offline now: the cache answers
            }
        }
        return off.apply(offline);
    }

    private <T> T query(String what, On<T> on, Off<T> off) throws ErrnoException {
        return query(what, 0, on, off);
    }

    private void change(String what, VoidOn on, VoidOff off) throws ErrnoException {
        LowerFs l = online;
        if (useOnline(l)) {
            try {
                guard.call(what, () -> {
                    on.apply(l);
                    return null;
                });
            } catch (Guard.Unreachable u) {
                throw retryOffline(u);
            }
            return;
        }
        off.apply(offline);
    }

    /**
     * A change by path met an unreachable lower: if that put the mount offline, the request may
     * run again (offline, journaled); else (replay's own view) the failure as it is.
     */
    private ErrnoException retryOffline(Guard.Unreachable u) {
        if (onlineOnly || !connectivity.offline()) {
            return u;
        }
        return new ErrnoException(u.errno(), u.getMessage() + " (offline now: the request runs again)", true);
    }

    /** How the temporary names of uploads begin (resync's LowerCopies); the mount never shows one. */
    public static final String UPLOAD_TEMP = ".cachefs-upload-";

    /** Whether the last name of {@code path} is an upload's temporary one. */
    static boolean uploadTemp(String path) {
        return path.startsWith(UPLOAD_TEMP, path.lastIndexOf('/') + 1);
    }

    @Override
    public Stat stat(String path) throws ErrnoException {
        if (uploadTemp(path)) {
            // An upload's temporary file: renamed over its target in a moment, never shown.
            throw new ErrnoException(Errno.ENOENT, path);
        }
        switch (special(path)) {
            case VIEW -> {
                return view.stat(path);
            }
            case SHADOWED, QUEUED -> {
                return offline.stat(path);
            }
            default -> { }
        }
        if (hidden(path)) {
            throw new ErrnoException(Errno.ENOENT, path);
        }
        return query("stat", l -> l.stat(path), o -> o.stat(path));
    }

    /**
     * Write-back: a name a rename in the queue left, which the upload makes on the lower for a
     * moment (the create, then the rename) while the mount goes on: not shown, as the mount never
     * showed it. (Listed and stat'ed there mid-upload, then gone at the open: RandomOpsIT.)
     */
    private boolean hidden(String path) {
        return writeBack != null && !connectivity.offline() && offline.queue().vacated(path);
    }

    /** Names taken by one lower thread in {@link #statAll}; the rest go to other threads at once. */
    private static final int STATS_PER_CALL = 16;
    /** At most this many threads stat one batch (a network lower answers several at once). */
    private static final int STAT_THREADS = 8;

    /**
     * Online: the names split among up to {@value #STAT_THREADS} lower threads, each a guarded
     * call statting its share in turn (one handoff per share, not per name); what does not come
     * back in time is left out. Offline (or in the conflicts view): one by one, as stat would.
     */
    @Override
    public java.util.Map<String, Stat> statAll(java.util.List<String> paths) throws ErrnoException {
        LowerFs l = online;
        if (!useOnline(l) || paths.stream().anyMatch(p -> special(p) != PLAIN || hidden(p))) {
            return LowerFs.super.statAll(paths);
        }
        int shares = Math.min(STAT_THREADS, (paths.size() + STATS_PER_CALL - 1) / STATS_PER_CALL);
        java.util.Map<String, Stat> out = new java.util.concurrent.ConcurrentHashMap<>();
        if (shares <= 1) {
            out.putAll(guard.call("stat", () -> l.statAll(paths)));
            return out;
        }
        java.util.List<Thread> threads = new java.util.ArrayList<>();
        java.util.concurrent.atomic.AtomicReference<ErrnoException> failed = new java.util.concurrent.atomic.AtomicReference<>();
        for (int i = 0; i < shares; i++) {
            java.util.List<String> share = new java.util.ArrayList<>();
            for (int j = i; j < paths.size(); j += shares) {
                share.add(paths.get(j));
            }
            threads.add(Thread.ofVirtual().start(() -> {
                try {
                    out.putAll(guard.call("stat", () -> l.statAll(share)));
                } catch (ErrnoException e) {
                    failed.compareAndSet(null, e);
                }
            }));
        }
        for (Thread t : threads) {
            try {
                t.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new ErrnoException(Errno.EINTR, "stat");
            }
        }
        if (failed.get() instanceof Guard.Unreachable u && !onlineOnly) {
            throw u; // offline now: the lookups that follow ask the cache
        }
        return out;
    }

    @Override
    public String readlink(String path) throws ErrnoException {
        switch (special(path)) {
            case VIEW -> throw new ErrnoException(Errno.EINVAL, path);
            case SHADOWED, QUEUED -> {
                return offline.readlink(path);
            }
            default -> { }
        }
        return query("readlink", l -> l.readlink(path), o -> o.readlink(path));
    }

    @Override
    public void mkdir(String path, int mode) throws ErrnoException {
        writable(path);
        uploadedFirst(path);
        change("mkdir", l -> l.mkdir(path, mode), o -> o.mkdir(path, mode));
    }

    @Override
    public void mknod(String path, int mode, long dev) throws ErrnoException {
        writable(path);
        uploadedFirst(path);
        change("mknod", l -> l.mknod(path, mode, dev), o -> o.mknod(path, mode, dev));
    }

    @Override
    public void symlink(String target, String path) throws ErrnoException {
        writable(path);
        uploadedFirst(path);
        change("symlink", l -> l.symlink(target, path), o -> o.symlink(target, path));
    }

    @Override
    public void unlink(String path) throws ErrnoException {
        writable(path);
        // A new file renamed over one the lower still has (replacing) is uploaded first, below,
        // so that the lower's old file goes too (by the conflict rules).
        if (special(path) == QUEUED && !offline.queue().replacing(path)) {
            // Deleted before its upload: the lower loses the file, and the queue its changes.
            synchronized (offline.changesLock()) {
                offline.queue().awaitSent(path);
                if (offline.queue().isNew(path)) {
                    offline.queue().discardNew(path); // never on the lower: nothing to tell it
                    return;
                }
                change("unlink", l -> l.unlink(path), o -> o.unlink(path));
                if (!connectivity.offline()) {
                    offline.queue().cancel(path);
                }
            }
            return;
        }
        uploadedFirst(path);
        change("unlink", l -> l.unlink(path), o -> o.unlink(path));
    }

    @Override
    public void rmdir(String path) throws ErrnoException {
        writable(path);
        if (writeBack != null && !path.isEmpty() && offline.queue().queuedUnder(path)) {
            // Files in it wait for their upload (new ones are not on the lower at all): not empty.
            throw new ErrnoException(Errno.ENOTEMPTY, "rmdir " + path + ": files in it wait for their upload");
        }
        uploadedFirst(path);
        change("rmdir", l -> l.rmdir(path), o -> o.rmdir(path));
    }

    @Override
    public void rename(String from, String to, int flags) throws ErrnoException {
        writable(from, to);
        if (renamedInQueue(from, to, flags)) {
            return;
        }
        uploadedFirst(from, to);
        change("rename", l -> l.rename(from, to, flags), o -> o.rename(from, to, flags));
    }

    @Override
    public boolean queued(String path) {
        return writeBack != null && offline.queue().queued(path);
    }

    /**
     * Write-back: a new file not uploaded yet that is renamed (an editor's or git's save: a
     * temporary file renamed over the real one) is renamed in the queue, journaled as an offline
     * rename, after one stat of the target on the lower. Its upload makes the file on the lower,
     * removes what the rename replaced if the lower still has that version (else a conflict, both
     * kept), and renames it in place. Exchanges, targets that are not plain files with one link
     * the index knows, targets with queued files below them, and names whose directory the index
     * does not know take the way of other renames (the queue uploaded first). False: not renamed.
     */
    private boolean renamedInQueue(String from, String to, int flags) throws ErrnoException {
        WriteBack wb = writeBack;
        if (wb == null || connectivity.offline() || (flags & Libc.RENAME_EXCHANGE) != 0 || !offline.queue().isNew(from)) {
            return false;
        }
        wb.flushIndex(); // the kernel's lookup of the target, still queued, must be in the index
        WriteQueue q = offline.queue();
        // What the rename replaces is the lower's version now, as a rename on the lower would: its
        // row (the base the upload's removal compares with) may lag behind the lower's attributes,
        // and the index may not know a name the lower has.
        Stat replacedNow = null;
        LowerFs l = online;
        if (l == null) {
            return false;
        }
        try {
            replacedNow = guard.call("stat", () -> l.stat(to));
        } catch (Guard.Unreachable u) {
            return false; // offline now: renamed as offline renames are
        } catch (ErrnoException e) {
            if (e.errno() != Errno.ENOENT) {
                throw e;
            }
        }
        boolean known = q.known(to);
        if (replacedNow != null && (!known || !replacedNow.isRegular() || replacedNow.nlink() > 1)) {
            // Unknown to the index, a directory or another kind, or one name of a hard-linked
            // file: renamed on the lower, after the upload.
            return false;
        }
        synchronized (offline.changesLock()) {
            q.awaitSent(from);
            q.awaitSent(to);
            if (!q.isNew(from) || q.replacing(from) || (q.queuedAtOrUnder(to) && !q.queued(to))) {
                return false;
            }
            boolean replaced = replacedNow != null;
            if (replaced && !q.queued(to)) {
                q.rebase(to, replacedNow);
            }
            try {
                offline.rename(from, to, flags);
            } catch (ErrnoException e) {
                if (e.errno() == Errno.ENOENT) {
                    return false; // the index does not know the target's directory: nothing was changed
                }
                throw e;
            }
            q.renamed(from, to, replaced);
        }
        return true;
    }

    /**
     * Write-back: a change written through to the lower names queued files by their paths there,
     * so what is queued at or under its paths (files, what is below a directory, or the journal's
     * entries at a path a rename in the queue left) is uploaded first.
     */
    private void uploadedFirst(String... paths) throws ErrnoException {
        WriteBack wb = writeBack;
        if (wb == null || connectivity.offline()) {
            return;
        }
        for (String p : paths) {
            if (offline.queue().pendingAtOrUnder(p)) {
                wb.uploadNow(paths);
                return;
            }
        }
    }

    @Override
    public void link(String existing, String newPath) throws ErrnoException {
        writable(existing, newPath);
        uploadedFirst(existing, newPath);
        change("link", l -> l.link(existing, newPath), o -> o.link(existing, newPath));
    }

    /** A change of a queued file's local copy. */
    private interface LocalChange {
        void run() throws ErrnoException;
    }

    /**
     * Makes {@code change} to the local copy of queued {@code path}, under the changes lock once an
     * upload of it in flight is over; false (nothing done) if the path is not queued, or if that
     * upload retired the copy meanwhile: the change then goes to the lower like any other. (Asked
     * only before the wait, a truncate that waited for the upload went to the retired copy and was
     * lost from the mount's view: found by RandomOpsIT's write-back variant.)
     */
    private boolean whileQueued(String path, LocalChange change) throws ErrnoException {
        if (special(path) != QUEUED) {
            return false;
        }
        synchronized (offline.changesLock()) {
            offline.queue().awaitSent(path);
            if (!offline.queue().queued(path)) {
                return false;
            }
            change.run();
            return true;
        }
    }

    @Override
    public void chmod(String path, int mode) throws ErrnoException {
        writable(path);
        if (whileQueued(path, () -> offline.chmod(path, mode))) {
            return;
        }
        change("chmod", l -> l.chmod(path, mode), o -> o.chmod(path, mode));
    }

    @Override
    public void chown(String path, int uid, int gid) throws ErrnoException {
        writable(path);
        if (whileQueued(path, () -> offline.chown(path, uid, gid))) {
            return;
        }
        change("chown", l -> l.chown(path, uid, gid), o -> o.chown(path, uid, gid));
    }

    @Override
    public void utimens(String path, long as, long an, long ms, long mn) throws ErrnoException {
        writable(path);
        if (whileQueued(path, () -> offline.utimens(path, as, an, ms, mn))) {
            return;
        }
        change("utimens", l -> l.utimens(path, as, an, ms, mn), o -> o.utimens(path, as, an, ms, mn));
    }

    @Override
    public void truncate(String path, long size) throws ErrnoException {
        writable(path);
        if (whileQueued(path, () -> offline.truncate(path, size))) {
            return;
        }
        change("truncate", l -> l.truncate(path, size), o -> o.truncate(path, size));
    }

    @Override
    public void access(String path, int mask) throws ErrnoException {
        switch (special(path)) {
            case QUEUED -> {
                offline.access(path, mask);
                return;
            }
            case VIEW, SHADOWED -> {
                stat(path);
                if ((mask & 2) != 0) { // W_OK
                    throw new ErrnoException(Errno.EROFS, path);
                }
                return;
            }
            default -> { }
        }
        query("access", l -> {
            l.access(path, mask);
            return null;
        }, o -> {
            o.access(path, mask);
            return null;
        });
    }

    @Override
    public StatVfs statfs() throws ErrnoException {
        return query("statfs", LowerFs::statfs, OfflineFs::statfs);
    }

    @Override
    public LowerFile open(String path, int flags, int mode) throws ErrnoException {
        boolean changes = (flags & (Libc.O_ACCMODE | Libc.O_CREAT | Libc.O_TRUNC)) != Libc.O_RDONLY;
        switch (special(path)) {
            case VIEW -> {
                return view.open(path, flags);
            }
            case SHADOWED -> {
                if (changes) {
                    writable(path);
                }
                return offline.open(path, flags, mode);
            }
            case QUEUED -> {
                LowerFile f = offline.queue().openQueued(path, flags);
                if (f != null) {
                    return f;
                }
                // uploaded meanwhile: opened as any other file
            }
            default -> { }
        }
        if ((flags & Libc.O_CREAT) == 0 && hidden(path)) {
            throw new ErrnoException(Errno.ENOENT, path);
        }
        LowerFs l = online;
        WriteBack wb = writeBack;
        if (changes && wb != null && useOnline(l) && !onlineOnly) {
            try {
                LowerFile f = openWrittenBack(l, wb, path, flags, mode);
                if (f != null) {
                    return f;
                }
            } catch (Guard.Unreachable u) {
                throw retryOffline(u);
            }
        }
        if (useOnline(l)) {
            try {
                return new GuardedFile(path, guard.call("open", () -> l.open(path, flags, mode)));
            } catch (Guard.Unreachable u) {
                if (changes || onlineOnly) {
                    throw retryOffline(u);
                }
            }
        }
        return offline.open(path, flags, mode);
    }

    /**
     * Write-back: an open for writing goes to a local copy of the file's current version. A new
     * file is made on the lower first (names are written through), then written locally. Null:
     * not a regular file, opened on the lower as usual.
     */
    private LowerFile openWrittenBack(LowerFs l, WriteBack wb, String path, int flags, int mode) throws ErrnoException {
        Stat now;
        if ((flags & Libc.O_CREAT) != 0) {
            wb.flushIndex(); // a lookup's "gone" still queued must not undo the create
            LowerFile journaled = wb.syncFsync() ? null : offline.queue().createNew(path, flags, mode);
            if (journaled != null) {
                return journaled; // the upload makes it on the lower
            }
            int create = Libc.O_WRONLY | Libc.O_CREAT | (flags & Libc.O_EXCL);
            now = guard.call("create", () -> {
                LowerFile made = l.open(path, create, mode);
                try {
                    return made.stat();
                } finally {
                    made.close();
                }
            });
        } else {
            now = guard.call("stat", () -> l.stat(path)); // close-to-open: the version the copy starts from
        }
        if (!now.isRegular() || now.nlink() > 1) {
            // A hard link's other names are the lower's: a local copy would show them the old data,
            // and its upload (a new file renamed over the name) would split them. Written through.
            return null;
        }
        wb.flushIndex();
        dev.cachefs.index.FileId id = wb.idOf(path);
        return offline.queue().openForWriting(path, flags & ~(Libc.O_CREAT | Libc.O_EXCL), id, now,
                target -> fetchWhole(l, path, target));
    }

    /** Reads the lower's {@code path} whole into the new file {@code target}, under the deadlines. */
    private void fetchWhole(LowerFs l, String path, java.nio.file.Path target) throws ErrnoException {
        LowerFile f = new GuardedFile(path, guard.call("open", () -> l.open(path, Libc.O_RDONLY, 0)));
        try (java.nio.channels.FileChannel out = java.nio.channels.FileChannel.open(target,
                java.nio.file.StandardOpenOption.CREATE_NEW, java.nio.file.StandardOpenOption.WRITE)) {
            f.copyTo(out);
        } catch (java.io.IOException e) {
            throw dev.cachefs.index.ErrnoMapping.of(e, "cannot fetch " + path + " for its local copy");
        } finally {
            f.close();
        }
    }


    /** Opens {@code path} for reading on the real lower (a read that waited for reconnection). */
    public LowerFile reopenOnline(String path) throws ErrnoException {
        LowerFs l = online;
        if (l == null || connectivity.offline()) {
            throw OfflineFs.notCached("'" + path + "' (the lower went away again)");
        }
        return new GuardedFile(path, guard.call("open", () -> l.open(path, Libc.O_RDONLY, 0)));
    }

    @Override
    public LowerDir openDir(String path) throws ErrnoException {
        if (special(path) == VIEW) {
            return view.openDir(path);
        }
        return query("opendir", l -> {
            LowerDir d = new GuardedDir(l.openDir(path), writeBack == null ? Set.of() : offline.queue().vacatedIn(path));
            java.util.Map<String, Stat> extra = offline.queue().newIn(path);
            return extra.isEmpty() ? d : new MergedDir(d, extra);
        }, o -> o.openDir(path));
    }

    /**
     * Write-back: a directory of the lower listed with the new files made in it through the mount
     * and not uploaded yet. Read whole at the first batch; offsets are positions in it.
     */
    private static final class MergedDir implements LowerDir {
        private final LowerDir d;
        private final java.util.Map<String, Stat> extra;
        private List<DirEntry> all;
        private int pos;

        MergedDir(LowerDir d, java.util.Map<String, Stat> extra) {
            this.d = d;
            this.extra = extra;
        }

        @Override
        public List<DirEntry> next() throws ErrnoException {
            if (all == null) {
                java.util.List<DirEntry> read = new java.util.ArrayList<>();
                java.util.Set<String> names = new java.util.HashSet<>();
                for (List<DirEntry> b; !(b = d.next()).isEmpty(); ) {
                    for (DirEntry e : b) {
                        names.add(e.name());
                        read.add(new DirEntry(e.name(), e.ino(), e.type(), read.size() + 1));
                    }
                }
                extra.forEach((name, st) -> {
                    if (!names.contains(name)) {
                        read.add(new DirEntry(name, st.ino(), 8 /* DT_REG */, read.size() + 1));
                    }
                });
                all = read;
            }
            List<DirEntry> out = all.subList(Math.min(pos, all.size()), all.size());
            pos = all.size();
            return List.copyOf(out);
        }

        @Override
        public void seek(long offset) throws ErrnoException {
            if (all == null && offset == 0) {
                return;
            }
            if (all == null) {
                next();
            }
            pos = (int) Math.min(offset, all.size());
        }

        @Override
        public boolean keepable() {
            return false;
        }

        @Override
        public void fsync(boolean dataOnly) throws ErrnoException {
            d.fsync(dataOnly);
        }

        @Override
        public void close() {
            d.close();
        }
    }

    /** A query that fills the caller's buffer: through a bounce buffer online (see {@link Guard#fill}). */
    private int queryInto(String what, MemorySegment dst, FillOn on, Off<Integer> off) throws ErrnoException {
        LowerFs l = online;
        if (useOnline(l)) {
            try {
                return guard.fill(what, dst, b -> on.apply(l, b));
            } catch (Guard.Unreachable u) {
                if (onlineOnly) {
                    throw u;
                }
                // offline now: the cache answers
            }
        }
        return off.apply(offline);
    }

    private interface FillOn {
        int apply(LowerFs l, MemorySegment buf) throws ErrnoException;
    }

    @Override
    public int getxattr(String path, String name, MemorySegment dst) throws ErrnoException {
        switch (special(path)) {
            case VIEW -> throw new ErrnoException(Errno.ENODATA, name);
            case SHADOWED, QUEUED -> {
                return offline.getxattr(path, name, dst);
            }
            default -> { }
        }
        return queryInto("getxattr", dst, (l, b) -> l.getxattr(path, name, b), o -> o.getxattr(path, name, dst));
    }

    @Override
    public int listxattr(String path, MemorySegment dst) throws ErrnoException {
        switch (special(path)) {
            case VIEW -> {
                return 0;
            }
            case SHADOWED, QUEUED -> {
                return offline.listxattr(path, dst);
            }
            default -> { }
        }
        return queryInto("listxattr", dst, (l, b) -> l.listxattr(path, b), o -> o.listxattr(path, dst));
    }

    @Override
    public void setxattr(String path, String name, MemorySegment value, int flags) throws ErrnoException {
        writable(path);
        if (whileQueued(path, () -> offline.setxattr(path, name, value, flags))) {
            return;
        }
        LowerFs l = online;
        if (useOnline(l)) {
            try {
                guard.drain("setxattr", value, b -> {
                    l.setxattr(path, name, b, flags);
                    return null;
                });
            } catch (Guard.Unreachable u) {
                throw retryOffline(u);
            }
            return;
        }
        offline.setxattr(path, name, value, flags);
    }

    @Override
    public void removexattr(String path, String name) throws ErrnoException {
        writable(path);
        if (whileQueued(path, () -> offline.removexattr(path, name))) {
            return;
        }
        change("removexattr", l -> l.removexattr(path, name), o -> o.removexattr(path, name));
    }

    /**
     * Whether an open of {@code path} with {@code flags} is served by a local file (while
     * disconnected: a file changed or made offline, or about to be; the conflicts view and the
     * local versions of open conflicts always), so that it goes straight to that file instead of
     * through the cache.
     */
    public boolean opensLocally(String path, int flags) {
        if (special(path) != PLAIN) {
            return true; // the view's files and the local versions of open conflicts are never cached
        }
        boolean changes = (flags & (Libc.O_ACCMODE | Libc.O_TRUNC)) != Libc.O_RDONLY;
        if (!connectivity.offline()) {
            // write-back: a regular file's opens for writing go to local copies
            return writeBack != null && (changes || (flags & Libc.O_CREAT) != 0);
        }
        return changes || offline.servesLocalData(path);
    }

    @Override
    public void close() {
        LowerFs l = online;
        if (l != null) {
            guard.detached("close of the lower", l::close);
        }
    }

    /** A close: under the deadline too, and nothing to tell the caller if it fails. */
    private void quietly(String what, Guard.Call<Void> c) {
        if (connectivity.offline() && !onlineOnly) { // the lower is gone: do not wait for it
            guard.detached(what, () -> {
                try {
                    c.call();
                } catch (ErrnoException e) {
                    // as below
                }
            });
            return;
        }
        try {
            guard.call(what, c);
        } catch (ErrnoException e) {
            // the descriptor is gone either way (or stuck with a dead lower)
        }
    }

    /** A lower file opened online: every call under the deadline. */
    private final class GuardedFile implements LowerFile {
        private final String path;
        private final LowerFile f;

        GuardedFile(String path, LowerFile f) {
            this.path = path;
            this.f = f;
        }

        @Override
        public int read(long offset, MemorySegment dst) throws ErrnoException {
            stillOnline();
            return guard.fill("read", dst, b -> f.read(offset, b));
        }

        @Override
        public int write(long offset, MemorySegment src) throws ErrnoException {
            stillOnline();
            return guard.drain("write", src, b -> f.write(offset, b));
        }

        /** Offline, a descriptor of the lower is not tried again (each try would wait out the deadline). */
        private void stillOnline() throws ErrnoException {
            if (connectivity.offline() && !onlineOnly) {
                throw new ErrnoException(Errno.ENOTCONN, "offline: this file was opened on the lower, which is unreachable");
            }
        }

        /** Offline, the cache's attributes of the path it was opened at. */
        @Override
        public Stat stat() throws ErrnoException {
            if (connectivity.offline() && !onlineOnly) {
                return offline.stat(path);
            }
            try {
                return guard.call("fstat", f::stat);
            } catch (Guard.Unreachable u) {
                if (onlineOnly) {
                    throw u;
                }
                return offline.stat(path);
            }
        }

        @Override
        public void truncate(long size) throws ErrnoException {
            guard.call("ftruncate", () -> {
                f.truncate(size);
                return null;
            });
        }

        @Override
        public void fsync(boolean dataOnly) throws ErrnoException {
            guard.call("fsync", () -> {
                f.fsync(dataOnly);
                return null;
            });
        }

        @Override
        public void flush() throws ErrnoException {
            guard.call("flush", () -> {
                f.flush();
                return null;
            });
        }

        @Override
        public void fallocate(int mode, long offset, long length) throws ErrnoException {
            guard.call("fallocate", () -> {
                f.fallocate(mode, offset, length);
                return null;
            });
        }

        @Override
        public long lseek(long offset, int whence) throws ErrnoException {
            return guard.call("lseek", () -> f.lseek(offset, whence));
        }

        @Override
        public void chown(int uid, int gid) throws ErrnoException {
            guard.call("fchown", () -> {
                f.chown(uid, gid);
                return null;
            });
        }

        @Override
        public void chmod(int mode) throws ErrnoException {
            guard.call("fchmod", () -> {
                f.chmod(mode);
                return null;
            });
        }

        @Override
        public int fd() {
            return f.fd();
        }

        @Override
        public void close() {
            quietly("close", () -> {
                f.close();
                return null;
            });
        }
    }

    /** A lower directory opened online: every call under the deadline. */
    private final class GuardedDir implements LowerDir {
        private final LowerDir d;
        /** Names not listed: those a rename in the upload queue left ({@link #hidden}). */
        private final Set<String> hiddenNames;

        GuardedDir(LowerDir d, Set<String> hiddenNames) {
            this.d = d;
            this.hiddenNames = hiddenNames;
        }

        private boolean shown(DirEntry e) {
            return !uploadTemp(e.name()) && !hiddenNames.contains(e.name());
        }

        @Override
        public List<DirEntry> next() throws ErrnoException {
            while (true) {
                List<DirEntry> batch = guard.call("readdir", d::next);
                if (batch.isEmpty() || batch.stream().allMatch(this::shown)) {
                    return batch;
                }
                // Uploads' temporary files are not listed (an empty batch would end the listing).
                List<DirEntry> shown = batch.stream().filter(this::shown).toList();
                if (!shown.isEmpty()) {
                    return shown;
                }
            }
        }

        @Override
        public void seek(long offset) throws ErrnoException {
            guard.call("seekdir", () -> {
                d.seek(offset);
                return null;
            });
        }

        @Override
        public void fsync(boolean dataOnly) throws ErrnoException {
            guard.call("fsyncdir", () -> {
                d.fsync(dataOnly);
                return null;
            });
        }

        @Override
        public void close() {
            quietly("closedir", () -> {
                d.close();
                return null;
            });
        }
    }
}
