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

    /**
     * Copies the whole file into {@code out} from its start, in reads of 1 MiB (each one of this
     * file's reads, so a guarded file keeps its deadlines), and syncs {@code out}.
     */
    default void copyTo(java.nio.channels.FileChannel out) throws ErrnoException, java.io.IOException {
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(1 << 20);
            long off = 0;
            for (int n; (n = read(off, buf)) > 0; off += n) {
                java.nio.ByteBuffer bb = buf.asSlice(0, n).asByteBuffer();
                while (bb.hasRemaining()) {
                    out.write(bb, off + bb.position());
                }
            }
            out.force(true);
        }
    }

    /** The kernel descriptor, for FUSE passthrough; -1 if this file has none. */
    int fd();

    /**
     * Whether this is a local copy of the cache's (a write-back or offline change): a local file,
     * whose descriptor the kernel may read and write directly (passthrough) without a deadline.
     */
    default boolean localCopy() {
        return false;
    }

    /**
     * Whether this file was just made in the cache alone (write-back's journaled create): the
     * lower, its directory included, is unchanged until the upload.
     */
    default boolean notOnLowerYet() {
        return false;
    }

    @Override
    void close();
}
