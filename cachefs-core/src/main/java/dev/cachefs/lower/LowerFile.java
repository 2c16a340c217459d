package dev.cachefs.lower;

import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Stat;
import java.lang.foreign.MemorySegment;

/** An open file of the lower filesystem. Positional I/O only, so it is safe to share between threads. */
public interface LowerFile extends AutoCloseable {
    /** Fills {@code dst} from {@code offset}; returns the bytes read, fewer only at end of file. */
    int read(long offset, MemorySegment dst) throws ErrnoException;

    /** Writes all of {@code src} at {@code offset}; returns {@code src.byteSize()}. */
    int write(long offset, MemorySegment src) throws ErrnoException;

    Stat stat() throws ErrnoException;

    void truncate(long size) throws ErrnoException;

    void fsync(boolean dataOnly) throws ErrnoException;

    /** Reports errors of data written so far, as close(2) would, without closing (close of a dup). */
    void flush() throws ErrnoException;

    void fallocate(int mode, long offset, long length) throws ErrnoException;

    long lseek(long offset, int whence) throws ErrnoException;

    void chown(int uid, int gid) throws ErrnoException;

    void chmod(int mode) throws ErrnoException;

    /** The kernel descriptor, for FUSE passthrough; -1 if this file has none. */
    int fd();

    @Override
    void close();
}
