package dev.cachefs.offline;

import dev.cachefs.lower.LowerFile;
import dev.cachefs.nativeio.Errno;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Stat;
import java.lang.foreign.MemorySegment;

/**
 * An open of an unchanged file offline: the cache layer serves what it holds; a read of what it
 * does not reaches here and fails (or waits for the lower, by policy).
 */
final class MissingData implements LowerFile {
    private final OfflineFs fs;
    private final String path;
    private final Stat st;
    private final long missWaitMs;
    private final Connectivity connectivity;
    private final OfflineFs.Reopen reopen;
    private LowerFile reopened;

    MissingData(OfflineFs fs, String path, Stat st, long missWaitMs, Connectivity connectivity, OfflineFs.Reopen reopen) {
        this.fs = fs;
        this.path = path;
        this.st = st;
        this.missWaitMs = missWaitMs;
        this.connectivity = connectivity;
        this.reopen = reopen;
    }

    @Override
    public synchronized int read(long offset, MemorySegment dst) throws ErrnoException {
        if (reopened == null && missWaitMs > 0) {
            try {
                if (connectivity.awaitOnline(missWaitMs)) {
                    reopened = reopen.open(path);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new ErrnoException(Errno.EINTR);
            }
        }
        if (reopened != null) {
            return reopened.read(offset, dst);
        }
        throw OfflineFs.notCached("this part of '" + path + "'");
    }

    @Override
    public int write(long offset, MemorySegment src) throws ErrnoException {
        throw new ErrnoException(Errno.EBADF);
    }

    @Override
    public Stat stat() {
        return st;
    }

    @Override
    public void truncate(long size) throws ErrnoException {
        throw new ErrnoException(Errno.EBADF);
    }

    @Override
    public void fsync(boolean dataOnly) {}

    @Override
    public void flush() {}

    @Override
    public void fallocate(int mode, long offset, long length) throws ErrnoException {
        throw new ErrnoException(Errno.EBADF);
    }

    @Override
    public long lseek(long offset, int whence) throws ErrnoException {
        throw OfflineFs.notCached("'" + path + "' for SEEK_DATA/SEEK_HOLE");
    }

    @Override
    public void chown(int uid, int gid) throws ErrnoException {
        fs.chown(path, uid, gid);
    }

    @Override
    public void chmod(int mode) throws ErrnoException {
        fs.chmod(path, mode);
    }

    @Override
    public int fd() {
        return -1;
    }

    @Override
    public synchronized void close() {
        if (reopened != null) {
            reopened.close();
        }
    }
}
