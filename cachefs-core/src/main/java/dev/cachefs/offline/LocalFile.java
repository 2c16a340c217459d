package dev.cachefs.offline;

import dev.cachefs.index.CacheIndex;
import dev.cachefs.index.IndexException;
import dev.cachefs.index.ObjectRecord;
import dev.cachefs.lower.LocalLowerFs;
import dev.cachefs.nativeio.Errno;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Libc;
import dev.cachefs.nativeio.Stat;

/**
 * An open of a file's local copy: data from the copy (as any descriptor), attributes from the
 * index, owner and mode changes journaled.
 */
final class LocalFile extends LocalLowerFs.FdFile {
    private final OfflineFs fs;
    private final CacheIndex index;
    private final LocalCopies copies;
    private final String path;
    private final long objId;

    LocalFile(OfflineFs fs, CacheIndex index, LocalCopies copies, String path, long objId, int fd) {
        super(fd);
        this.fs = fs;
        this.index = index;
        this.copies = copies;
        this.path = path;
        this.objId = objId;
    }

    @Override
    public Stat stat() throws ErrnoException {
        try {
            ObjectRecord rec = index.get(objId).orElseThrow(() -> new ErrnoException(Errno.ESTALE));
            Stat st = index.stat(objId).orElseThrow(() -> new ErrnoException(Errno.ESTALE));
            if (rec.path() != null) {
                return fs.stat(rec.path());
            }
            Stat f = Libc.fstat(fd); // unlinked while open: the descriptor still has it
            return new Stat(st.ino(), f.size(), f.blocks(), st.mode(), 0, st.uid(), st.gid(), st.rdevMajor(),
                    st.rdevMinor(), st.blksize(), st.atimeSec(), st.atimeNsec(), f.mtimeSec(), f.mtimeNsec(),
                    f.ctimeSec(), f.ctimeNsec(), st.dev());
        } catch (IndexException e) {
            throw fs.indexFailed(e);
        }
    }

    /** Durable in the cache; with write-back's {@code sync_fsync}, on the lower too (see {@link OfflineFs#afterFsync}). */
    @Override
    public void fsync(boolean dataOnly) throws ErrnoException {
        super.fsync(dataOnly);
        fs.synced(objId);
    }

    @Override
    public boolean localCopy() {
        return true;
    }

    /** Set on the open that made the file (write-back's journaled create). */
    private volatile boolean made;

    LocalFile madeHere() {
        made = true;
        return this;
    }

    @Override
    public boolean notOnLowerYet() {
        return made;
    }

    /** Nothing to flush to: the copy is the file until replay. */
    @Override
    public void flush() {}

    @Override
    public void chown(int uid, int gid) throws ErrnoException {
        fs.chown(currentPath(), uid, gid);
    }

    @Override
    public void chmod(int mode) throws ErrnoException {
        fs.chmod(currentPath(), mode);
    }

    private String currentPath() throws ErrnoException {
        try {
            return index.get(objId).map(ObjectRecord::path).orElseThrow(() -> new ErrnoException(Errno.ESTALE));
        } catch (IndexException e) {
            throw fs.indexFailed(e);
        }
    }

    @Override
    public void close() {
        super.close();
        copies.closed(objId);
    }

    @Override
    public String toString() {
        return "local copy of " + path;
    }
}
