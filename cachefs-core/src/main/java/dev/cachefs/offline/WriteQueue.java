package dev.cachefs.offline;

import dev.cachefs.index.CacheIndex;
import dev.cachefs.index.FileId;
import dev.cachefs.index.IndexException;
import dev.cachefs.index.ObjectRecord;
import dev.cachefs.index.ObjectState;
import dev.cachefs.lower.LowerFile;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Libc;
import dev.cachefs.nativeio.Stat;
import java.io.IOException;
import java.nio.file.Files;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Write-back ({@code -o writeback}): a file written while online takes the offline path. Its
 * first open for writing makes a local copy of its current version (from the cache, or fetched
 * whole from the lower) and journals it with the lower's attributes as the base, in one durable
 * transaction, exactly as an offline change; the uploader ({@code mount.Uploader}) replays the
 * journal later and retires the copy. Until then the path is <em>queued</em>: the mount answers it
 * from the local copy, so reads see the local version at once.
 *
 * <p>Every method that changes the queue runs under {@link OfflineFs#changesLock()}, as the
 * uploader's cycle does: a copy is never retired while an open for writing is being made.
 */
public final class WriteQueue {
    private static final Logger log = LoggerFactory.getLogger(WriteQueue.class);
    private final OfflineFs fs;
    private final CacheIndex index;
    private final CachedTree tree;
    private final LocalCopies copies;
    /** The queued paths (a set in memory: asked on every request of the mount). */
    private final Set<String> paths = ConcurrentHashMap.newKeySet();

    WriteQueue(OfflineFs fs, CacheIndex index, CachedTree tree, LocalCopies copies) {
        this.fs = fs;
        this.index = index;
        this.tree = tree;
        this.copies = copies;
    }

    /** Whether {@code path} has changes waiting for upload. */
    public boolean queued(String path) {
        return !paths.isEmpty() && paths.contains(path);
    }

    /**
     * Whether {@code path} is a name a rename in the queue left (see {@link #vacated}): the upload
     * makes the file there on the lower for a moment (its create, then its rename), which the
     * mount must not show.
     */
    public boolean vacated(String path) {
        return !vacated.isEmpty() && vacated.contains(path);
    }

    /** The names in directory {@code dir} that {@link #vacated} holds. */
    public Set<String> vacatedIn(String dir) {
        if (vacated.isEmpty()) {
            return Set.of();
        }
        String prefix = dir.isEmpty() ? "" : dir + "/";
        Set<String> out = new HashSet<>();
        for (String p : vacated) {
            if (p.startsWith(prefix) && p.indexOf('/', prefix.length()) < 0) {
                out.add(p.substring(prefix.length()));
            }
        }
        return out;
    }

    /** Whether {@code dir} or anything below it is queued. */
    public boolean queuedAtOrUnder(String dir) {
        return atOrUnder(paths, dir);
    }

    /**
     * Whether the upload has something to do at or under {@code dir}: a queued path, or a path the
     * journal names that the mount shows no longer (see {@link #vacated}).
     */
    public boolean pendingAtOrUnder(String dir) {
        return atOrUnder(paths, dir) || atOrUnder(vacated, dir);
    }

    /** Whether something below directory {@code dir} (not the root) is queued. */
    public boolean queuedUnder(String dir) {
        return under(paths, dir);
    }

    /** Whether one of {@code set} is {@code dir} or below it. */
    private static boolean atOrUnder(Set<String> set, String dir) {
        if (set.isEmpty()) {
            return false;
        }
        return dir.isEmpty() || set.contains(dir) || under(set, dir);
    }

    /** Whether one of {@code set} is below directory {@code dir}. */
    private static boolean under(Set<String> set, String dir) {
        String prefix = dir + "/";
        for (String p : set) {
            if (p.startsWith(prefix)) {
                return true;
            }
        }
        return false;
    }

    /**
     * The paths an upload is sending now, without the changes lock (the uploader marks them under
     * it): changes to them, or to what is above them, wait in {@link #awaitSent} until it is done.
     */
    private final Set<String> sending = ConcurrentHashMap.newKeySet();

    /** The uploader sends {@code paths} now. Call under the changes lock. */
    public void sending(Set<String> paths) {
        sending.addAll(paths);
    }

    /** The upload of what {@link #sending} named is over, done or not. Call under the changes lock. */
    public void sent() {
        sending.clear();
        fs.changesLock().notifyAll();
    }

    /**
     * Under the changes lock, before a change to {@code path}: while an upload sends it or
     * something below it, waits (letting the lock go meanwhile), so that a copy is never changed,
     * retired or renamed under its upload. Changes to other paths go on beside the upload.
     */
    void awaitSent(String path) throws ErrnoException {
        while (atOrUnder(sending, path)) {
            try {
                fs.changesLock().wait(200);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new ErrnoException(dev.cachefs.nativeio.Errno.EINTR, "interrupted waiting for the upload of " + path);
            }
        }
    }

    /** How many paths are queued. */
    public int size() {
        return paths.size();
    }

    /** Whether a descriptor of object {@code objId}'s local copy is open (its upload waits for the close). */
    public boolean busy(long objId) {
        return copies.open(objId);
    }

    /**
     * Reads again which paths are queued: those whose objects have a local copy and changes not
     * yet replayed (at start, after each upload, after a replay). Call under the changes lock.
     */
    public void reload() throws IndexException {
        Set<Long> pending = index.offlineJournal().pendingObjects();
        Set<String> now = new HashSet<>();
        if (!pending.isEmpty()) {
            for (ObjectRecord r : index.changedOffline()) {
                if (r.path() != null && pending.contains(r.id()) && index.local(r.id()).isPresent()) {
                    now.add(r.path());
                }
            }
        }
        paths.retainAll(now);
        paths.addAll(now);
        Set<String> replaced = new HashSet<>();
        Set<String> named = new HashSet<>();
        if (!pending.isEmpty()) {
            for (CacheIndex.JournalEntry e : index.offlineJournal().entries()) {
                if (e.op().equals("rename")) {
                    named.add(e.path());
                } else if (e.op().equals("unlink")
                        && e.record() instanceof dev.cachefs.index.JournalRecord.Unlink u && u.replacedBy() != null) {
                    replaced.add(u.path());
                }
            }
        }
        named.removeAll(now);
        replacing.retainAll(replaced);
        replacing.addAll(replaced);
        vacated.retainAll(named);
        vacated.addAll(named);
    }

    /**
     * Opens {@code path} for writing through its local copy, making it first if the path is not
     * queued yet: the row gets {@code lowerNow} (the lower's attributes just asked, the base its
     * upload compares with), and the copy the cached data if it is that version and whole, else
     * the data {@code fetch} brings from the lower, else nothing (the open replaces it all).
     */
    public LowerFile openForWriting(String path, int flags, FileId id, Stat lowerNow, OfflineFs.Fetch fetch)
            throws ErrnoException {
        return fs.relaxed(() -> openForWritingRelaxed(path, flags, id, lowerNow, fetch));
    }

    /** Its commits are relaxed: durable with the next synced one, or an fsync of the file. */
    private LowerFile openForWritingRelaxed(String path, int flags, FileId id, Stat lowerNow, OfflineFs.Fetch fetch)
            throws ErrnoException {
        synchronized (fs.changesLock()) {
            awaitSent(path);
            CachedTree.Node n = tree.nodeOrNull(path);
            if (n == null || n.local() == null) {
                CachedTree.Node parent = tree.node(CachedTree.parentOf(path));
                fs.commit("write-back " + path, () -> {
                    long row = index.putAttrs(id, path, lowerNow);
                    // Named in its directory's listing, if the cache holds that one: a restart that
                    // comes up offline must find the file the queue holds.
                    String name = CachedTree.nameOf(path);
                    if (tree.listingCurrent(parent.rec(), parent.st()) && !tree.hasEntry(parent.rec(), name)) {
                        index.listings().putDirent(parent.id(), new CacheIndex.Dirent(name, row, 8 /* DT_REG */, lowerNow.ino()));
                    }
                });
                n = tree.node(path);
            }
            String local = fs.ensureLocal(path, n, (flags & Libc.O_TRUNC) != 0 || lowerNow.size() == 0, fetch);
            log.debug("queued {} (row {}, {}): copy {}, base {}", path, n.id(), n.rec().fileId(), local, lowerNow);
            paths.add(path);
            return fs.localOpen(path, tree.node(path), local, flags & (Libc.O_ACCMODE | Libc.O_APPEND | Libc.O_TRUNC));
        }
    }

    /**
     * Creates {@code path} as a new file journaled like an offline create, the lower untouched
     * until the upload (which makes the file there with its data, or meets a file made there
     * meanwhile: a conflict, both kept). The kernel asked for the name just before (a negative
     * lookup), so it is taken as absent on the lower. Null when the index cannot say so: it has a
     * row at the path, or does not know the directory (the create is then written through).
     */
    public LowerFile createNew(String path, int flags, int mode) throws ErrnoException {
        synchronized (fs.changesLock()) {
            awaitSent(path);
            if (tree.nodeOrNull(path) != null) {
                return null;
            }
            CachedTree.Node parent = tree.nodeOrNull(CachedTree.parentOf(path));
            if (parent == null || !parent.st().isDirectory()) {
                return null;
            }
            LowerFile f = fs.relaxed(() -> fs.open(path, flags | Libc.O_CREAT | Libc.O_EXCL, mode));
            if (f instanceof LocalFile l) {
                l.madeHere();
            }
            paths.add(path);
            log.debug("queued new {}", path);
            return f;
        }
    }

    /**
     * Paths the journal still names that the mount no longer shows there (the source of a rename
     * in the queue: the create before it makes the file there first). A change written through to
     * the lower there, or above, would meet those entries out of order: the queue goes up first.
     */
    private final Set<String> vacated = ConcurrentHashMap.newKeySet();

    /**
     * Paths where a rename in the queue replaced a file the lower still has (its removal waits in
     * the journal): the new file there cannot simply be discarded or moved on, or the mount would
     * show the lower's old file again; such a path is uploaded first.
     */
    private final Set<String> replacing = ConcurrentHashMap.newKeySet();

    /**
     * Queued {@code from} was renamed to {@code to} in the queue (journaled); {@code replaced}:
     * over a file the index knew there. Call under the changes lock.
     */
    public void renamed(String from, String to, boolean replaced) {
        paths.remove(from);
        paths.add(to);
        vacated.add(from);
        if (replaced) {
            replacing.add(to);
        }
    }

    /** The lower's attributes of {@code path} now become its row's. Call under the changes lock. */
    public void rebase(String path, Stat lowerNow) throws ErrnoException {
        CachedTree.Node n = tree.nodeOrNull(path);
        if (n != null) {
            fs.commit("the lower's version of " + path, () -> index.setStat(n.id(), lowerNow));
        }
    }

    /** Whether the index has an object at {@code path}. */
    public boolean known(String path) throws ErrnoException {
        return tree.nodeOrNull(path) != null;
    }

    /** Whether a rename in the queue replaced a file at {@code path} that the lower still has. */
    public boolean replacing(String path) {
        return !replacing.isEmpty() && replacing.contains(path);
    }

    /** Whether queued {@code path} was made through the mount and is not on the lower yet. */
    public boolean isNew(String path) throws ErrnoException {
        if (!queued(path)) {
            return false;
        }
        synchronized (fs.changesLock()) {
            CachedTree.Node n = tree.nodeOrNull(path);
            return n != null && n.rec().fileId().isProvisional();
        }
    }

    /**
     * A new file not uploaded yet is deleted: its create and everything after it cancel out, so
     * the lower never sees it. Open descriptors keep working on the unlinked copy.
     */
    public void discardNew(String path) throws ErrnoException {
        synchronized (fs.changesLock()) {
            awaitSent(path);
            CachedTree.Node n = tree.node(path);
            fs.unlink(path);
            fs.commit("cancel the upload of " + path, () -> index.offlineJournal().doneFor(n.id()));
            paths.remove(path);
        }
    }

    /** The queued new files directly in {@code dir} (names, with their attributes), for its listing. */
    public java.util.Map<String, Stat> newIn(String dir) {
        java.util.Map<String, Stat> out = new java.util.TreeMap<>();
        if (paths.isEmpty()) {
            return out;
        }
        String prefix = dir.isEmpty() ? "" : dir + "/";
        for (String p : paths) {
            if (p.startsWith(prefix) && p.indexOf('/', prefix.length()) < 0) {
                try {
                    if (isNew(p)) {
                        out.put(p.substring(prefix.length()), fs.stat(p));
                    }
                } catch (ErrnoException e) {
                    // gone meanwhile
                }
            }
        }
        return out;
    }

    /** An open of a queued path: its local copy, or null when its upload has retired it meanwhile. */
    public LowerFile openQueued(String path, int flags) throws ErrnoException {
        synchronized (fs.changesLock()) {
            if ((flags & Libc.O_ACCMODE) != Libc.O_RDONLY || (flags & Libc.O_TRUNC) != 0) {
                awaitSent(path); // a reader reads the copy beside its upload
            }
            CachedTree.Node n = tree.nodeOrNull(path);
            if (n == null || n.local() == null) {
                paths.remove(path);
                return null;
            }
            return fs.localOpen(path, n, n.local(), flags & (Libc.O_ACCMODE | Libc.O_APPEND | Libc.O_TRUNC));
        }
    }

    /**
     * The queued file at {@code path} is gone from the lower (deleted, or replaced by a rename
     * through the mount): its waiting changes are settled without upload and its copies go (open
     * descriptors keep working). Call under the changes lock, after the lower's change.
     */
    public void cancel(String path) throws ErrnoException {
        CachedTree.Node n = tree.nodeOrNull(path);
        paths.remove(path);
        if (n == null || n.local() == null) {
            return;
        }
        String local = n.local();
        fs.commit("cancel the upload of " + path, () -> {
            index.offlineJournal().doneFor(n.id());
            index.setLocal(n.id(), null);
            index.setState(n.id(), ObjectState.METADATA_ONLY);
        });
        try {
            if (index.localUsers(local) == 0) {
                Files.deleteIfExists(copies.file(local));
            }
            Files.deleteIfExists(copies.baseFile(local));
        } catch (IOException e) {
            log.warn("cannot remove the copies of {}: {}", path, e.getMessage());
        }
    }
}
