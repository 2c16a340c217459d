package dev.cachefs.offline;

import dev.cachefs.index.ErrnoMapping;
import dev.cachefs.index.CacheIndex;
import dev.cachefs.index.CacheStore;
import dev.cachefs.index.Fingerprint;
import dev.cachefs.index.IdentityMode;
import dev.cachefs.index.IndexException;
import dev.cachefs.index.ObjectRecord;
import dev.cachefs.nativeio.Errno;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Libc;
import dev.cachefs.nativeio.RawPath;
import dev.cachefs.nativeio.Stat;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The tree as the cache knows it, offline: what a path names ({@link Node}: its row, its
 * attributes, with a local copy's size and times), what is certainly not there (a name a current
 * listing lacks, or one the cache has never seen in a directory it knows: ENOENT) and what cannot
 * be told (ENOTCONN); index failures as the errno a caller should see (ENOSPC on a full disk).
 */
final class CachedTree {
    private static final Logger log = LoggerFactory.getLogger(CachedTree.class);
    private final CacheStore store;
    private final CacheIndex index;
    private final IdentityMode mode;
    private final LocalCopies copies;

    /** What the cache knows of one path. */
    record Node(ObjectRecord rec, Stat st, String local) {
        long id() {
            return rec.id();
        }
    }

    CachedTree(CacheStore store, IdentityMode mode, LocalCopies copies) {
        this.store = store;
        this.index = store.index();
        this.mode = mode;
        this.copies = copies;
    }

    static String parentOf(String path) {
        int slash = path.lastIndexOf('/');
        return slash < 0 ? "" : path.substring(0, slash);
    }

    static String nameOf(String path) {
        return path.substring(path.lastIndexOf('/') + 1);
    }

    ErrnoException indexFailed(IndexException e) {
        return ErrnoMapping.of(e, store.directory());
    }

    Node node(String path) throws ErrnoException {
        try {
            CacheIndex.PathEntry e = index.entryAt(path).orElse(null);
            if (e != null && e.st() != null) {
                if (!path.isEmpty()) {
                    CacheIndex.PathEntry parent = index.entryAt(parentOf(path)).orElse(null);
                    // An older row the listing no longer names; a row seen after the directory
                    // was (a lookup since) is newer evidence than its listing.
                    if (parent != null && e.seenMs() <= parent.seenMs() && listingCurrent(parent.rec(), parent.st())
                            && !hasEntry(parent.rec(), nameOf(path))) {
                        throw new ErrnoException(Errno.ENOENT);
                    }
                }
                return new Node(e.rec(), e.local() != null ? withLocalData(e.st(), e.local()) : e.st(), e.local());
            }
            if (path.isEmpty()) {
                throw OfflineFs.notCached("the root's attributes");
            }
            // A name the cache has never seen in a directory it knows: not there, as far as anyone
            // can tell offline (certainly so when the listing is current). Saying ENOTCONN instead
            // would make every create fail, since the kernel looks a name up before creating it;
            // a name made offline that the lower has too is a conflict for replay, never a loss.
            CacheIndex.PathEntry parent = index.entryAt(parentOf(path)).orElse(null);
            if (parent != null && parent.st() != null && parent.st().isDirectory()) {
                throw new ErrnoException(Errno.ENOENT);
            }
            throw OfflineFs.notCached("'" + path + "'");
        } catch (IndexException e) {
            throw indexFailed(e);
        }
    }

    Node nodeOrNull(String path) throws ErrnoException {
        try {
            return node(path);
        } catch (ErrnoException e) {
            if (e.errno() == Errno.ENOENT) {
                return null;
            }
            throw e;
        }
    }

    /** Whether the index has the whole listing of directory {@code dir} as it last was. */
    boolean listingCurrent(ObjectRecord dir) throws IndexException {
        if (!dir.dirComplete() || dir.fingerprint() == null) {
            return false;
        }
        return listingCurrent(dir, index.stat(dir.id()).orElse(null));
    }

    /** {@link #listingCurrent(ObjectRecord)} with the directory's attributes at hand. */
    boolean listingCurrent(ObjectRecord dir, Stat st) {
        return dir.dirComplete() && dir.fingerprint() != null && st != null && st.isDirectory()
                && dir.fingerprint().sameVersion(Fingerprint.of(st), mode);
    }

    boolean hasEntry(ObjectRecord dir, String name) throws IndexException {
        return index.listings().hasDirent(dir.id(), name);
    }

    /** The attributes of an object with a local copy: its data's size, blocks and times are the copy's. */
    Stat withLocalData(Stat st, String local) {
        try {
            Stat f = Libc.lstat(RawPath.fromText(copies.file(local).toString()));
            return new Stat(st.ino(), f.size(), f.blocks(), st.mode(), st.nlink(), st.uid(), st.gid(), st.rdevMajor(),
                    st.rdevMinor(), st.blksize(), st.atimeSec(), st.atimeNsec(), f.mtimeSec(), f.mtimeNsec(),
                    Math.max(f.ctimeSec(), st.ctimeSec()), f.ctimeSec() >= st.ctimeSec() ? f.ctimeNsec() : st.ctimeNsec(),
                    st.dev());
        } catch (ErrnoException e) {
            log.error("the local copy {} of an object changed offline is missing: {}", local, e.getMessage());
            return st;
        }
    }
}
