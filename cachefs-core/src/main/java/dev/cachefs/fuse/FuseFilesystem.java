package dev.cachefs.fuse;

import dev.cachefs.nativeio.Errno;
import dev.cachefs.nativeio.ErrnoException;
import java.lang.foreign.MemorySegment;

/**
 * An inode-based filesystem served over the FUSE kernel protocol, one method per request.
 *
 * <p>Contract for every method: return the result, or throw {@link ErrnoException} with the errno
 * the caller's system call should fail with. Any other exception is logged once by the session and
 * answered with EIO. A method that is not overridden answers ENOSYS, which the kernel remembers
 * for most operations (it stops sending them).
 *
 * <p>Node ids: 1 is the root. Every {@link Entry} returned by lookup, mknod, mkdir, symlink, link,
 * create or READDIRPLUS adds one to the node's lookup count; {@link #forget} takes counts away;
 * a node id may be reused only after its count reached zero.
 *
 * <p>Threads: methods are called concurrently from several worker threads, also for the same node.
 * Names and paths are raw byte strings in Latin-1 {@code String}s ({@link dev.cachefs.nativeio.RawPath}).
 */
public interface FuseFilesystem {

    /** Called once when the kernel connection is initialised, before any other request. */
    default void init(FuseConnection connection) {}

    /** Called when the session ends (unmount or shutdown). */
    default void destroy() {}

    default Entry lookup(Ctx ctx, long parent, String name) throws ErrnoException {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /** The kernel dropped {@code nlookup} references to the node. No reply; must not throw. */
    default void forget(long nodeid, long nlookup) {}

    /** {@code fh} is the open file's handle for fstat(2) on it, else -1. */
    default Attributes getattr(Ctx ctx, long nodeid, long fh) throws ErrnoException {
        throw new ErrnoException(Errno.ENOSYS);
    }

    default Attributes setattr(Ctx ctx, long nodeid, SetAttr change) throws ErrnoException {
        throw new ErrnoException(Errno.ENOSYS);
    }

    default String readlink(Ctx ctx, long nodeid) throws ErrnoException {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /** {@code rdev} is in the kernel's new_encode_dev format (see {@link DevNumbers}). */
    default Entry mknod(Ctx ctx, long parent, String name, int mode, int rdev) throws ErrnoException {
        throw new ErrnoException(Errno.ENOSYS);
    }

    default Entry mkdir(Ctx ctx, long parent, String name, int mode) throws ErrnoException {
        throw new ErrnoException(Errno.ENOSYS);
    }

    default Entry symlink(Ctx ctx, long parent, String name, String target) throws ErrnoException {
        throw new ErrnoException(Errno.ENOSYS);
    }

    default void unlink(Ctx ctx, long parent, String name) throws ErrnoException {
        throw new ErrnoException(Errno.ENOSYS);
    }

    default void rmdir(Ctx ctx, long parent, String name) throws ErrnoException {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /** {@code flags}: RENAME_NOREPLACE, RENAME_EXCHANGE (renameat2). */
    default void rename(Ctx ctx, long parent, String name, long newParent, String newName, int flags)
            throws ErrnoException {
        throw new ErrnoException(Errno.ENOSYS);
    }

    default Entry link(Ctx ctx, long nodeid, long newParent, String newName) throws ErrnoException {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /** {@code flags} are the open(2) flags (O_CREAT, O_EXCL and O_NOCTTY already handled). */
    default OpenResult open(Ctx ctx, long nodeid, int flags) throws ErrnoException {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /**
     * Reads up to {@code dst.byteSize()} bytes at {@code offset} into {@code dst}; returns the bytes
     * read, fewer only at the end of the file.
     */
    default int read(Ctx ctx, long nodeid, long fh, long offset, MemorySegment dst) throws ErrnoException {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /** Writes all of {@code src} at {@code offset}; returns the bytes written. */
    default int write(Ctx ctx, long nodeid, long fh, long offset, MemorySegment src, int writeFlags)
            throws ErrnoException {
        throw new ErrnoException(Errno.ENOSYS);
    }

    default StatFs statfs(Ctx ctx, long nodeid) throws ErrnoException {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /** Called on every close(2) of a descriptor of the open file. */
    default void flush(Ctx ctx, long nodeid, long fh, long lockOwner) throws ErrnoException {}

    /** The last descriptor of the open file is gone. Errors are not seen by anyone. */
    default void release(Ctx ctx, long nodeid, long fh, int flags) throws ErrnoException {}

    default void fsync(Ctx ctx, long nodeid, long fh, boolean dataOnly) throws ErrnoException {
        throw new ErrnoException(Errno.ENOSYS);
    }

    default void setxattr(Ctx ctx, long nodeid, String name, MemorySegment value, int flags)
            throws ErrnoException {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /**
     * Copies the attribute's value into {@code dst} and returns its length; with an empty
     * {@code dst} only returns the length. ERANGE when {@code dst} is too small.
     */
    default int getxattr(Ctx ctx, long nodeid, String name, MemorySegment dst) throws ErrnoException {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /** Like {@link #getxattr}, for the NUL-separated list of names. */
    default int listxattr(Ctx ctx, long nodeid, MemorySegment dst) throws ErrnoException {
        throw new ErrnoException(Errno.ENOSYS);
    }

    default void removexattr(Ctx ctx, long nodeid, String name) throws ErrnoException {
        throw new ErrnoException(Errno.ENOSYS);
    }

    default OpenResult opendir(Ctx ctx, long nodeid, int flags) throws ErrnoException {
        return new OpenResult(0, 0);
    }

    /** Fills {@code sink} with entries from {@code offset} (0: the start) until it is full or the end. */
    default void readdir(Ctx ctx, long nodeid, long fh, long offset, DirSink sink) throws ErrnoException {
        throw new ErrnoException(Errno.ENOSYS);
    }

    default void releasedir(Ctx ctx, long nodeid, long fh) throws ErrnoException {}

    default void fsyncdir(Ctx ctx, long nodeid, long fh, boolean dataOnly) throws ErrnoException {
        throw new ErrnoException(Errno.ENOSYS);
    }

    default void access(Ctx ctx, long nodeid, int mask) throws ErrnoException {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /** Creates and opens a regular file (O_CREAT). */
    default Created create(Ctx ctx, long parent, String name, int flags, int mode) throws ErrnoException {
        throw new ErrnoException(Errno.ENOSYS);
    }

    default void fallocate(Ctx ctx, long nodeid, long fh, int mode, long offset, long length)
            throws ErrnoException {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /** SEEK_DATA / SEEK_HOLE (the kernel handles the other whences itself). */
    default long lseek(Ctx ctx, long nodeid, long fh, long offset, int whence) throws ErrnoException {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /** The reply to create: the new name's entry and the open file. */
    record Created(Entry entry, OpenResult open) {}
}
