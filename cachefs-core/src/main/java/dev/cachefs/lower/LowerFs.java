package dev.cachefs.lower;

import dev.cachefs.nativeio.Errno;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Stat;
import dev.cachefs.nativeio.StatVfs;
import java.lang.foreign.MemorySegment;

/**
 * The lower filesystem, reached by ordinary system calls, by path relative to its root (the root
 * itself is the empty path). Paths are raw byte strings ({@link dev.cachefs.nativeio.RawPath}).
 *
 * <p>Errno contract: every method fails with the errno the same system call on the lower gives
 * (ENOENT, EEXIST, ENOTEMPTY, EACCES, ...), unchanged. No method follows a symlink in the last
 * component. Implementations are thread-safe.
 */
public interface LowerFs extends AutoCloseable {

    /** lstat. */
    Stat stat(String path) throws ErrnoException;

    String readlink(String path) throws ErrnoException;

    void mkdir(String path, int mode) throws ErrnoException;

    /** {@code dev} in glibc's dev_t encoding ({@link Stat#makedev}). */
    void mknod(String path, int mode, long dev) throws ErrnoException;

    void symlink(String target, String path) throws ErrnoException;

    void unlink(String path) throws ErrnoException;

    void rmdir(String path) throws ErrnoException;

    /** renameat2 with RENAME_NOREPLACE / RENAME_EXCHANGE flags. */
    void rename(String from, String to, int flags) throws ErrnoException;

    void link(String existing, String newPath) throws ErrnoException;

    void chmod(String path, int mode) throws ErrnoException;

    /** lchown; -1 leaves that id unchanged. */
    void chown(String path, int uid, int gid) throws ErrnoException;

    /** Like utimensat with AT_SYMLINK_NOFOLLOW; nanoseconds may be UTIME_NOW or UTIME_OMIT. */
    void utimens(String path, long atimeSec, long atimeNsec, long mtimeSec, long mtimeNsec) throws ErrnoException;

    void truncate(String path, long size) throws ErrnoException;

    /** faccessat with the real ids of this process. */
    void access(String path, int mask) throws ErrnoException;

    StatVfs statfs() throws ErrnoException;

    /** open(2); with O_CREAT, {@code mode} is the new file's mode. */
    LowerFile open(String path, int flags, int mode) throws ErrnoException;

    LowerDir openDir(String path) throws ErrnoException;

    /** lgetxattr; with an empty {@code dst} returns the size only. */
    int getxattr(String path, String name, MemorySegment dst) throws ErrnoException;

    int listxattr(String path, MemorySegment dst) throws ErrnoException;

    void setxattr(String path, String name, MemorySegment value, int flags) throws ErrnoException;

    void removexattr(String path, String name) throws ErrnoException;

    /**
     * Whether {@code path} is answered from a local copy that waits for its upload (write-back):
     * the disconnected layer keeps its index rows, a rename through the mount included.
     */
    default boolean queued(String path) {
        return false;
    }

    /**
     * The attributes of each of {@code paths} (names of one directory, as a READDIRPLUS lists
     * them) that can be had, in one go: a name that fails is left out (its own lookup says why).
     * A lower that is reached over a network issues them as it takes them best (several at once).
     */
    default java.util.Map<String, Stat> statAll(java.util.List<String> paths) throws ErrnoException {
        java.util.Map<String, Stat> out = new java.util.HashMap<>();
        for (String p : paths) {
            try {
                out.put(p, stat(p));
            } catch (ErrnoException e) {
                switch (e.errno()) {
                    case Errno.ENOENT, Errno.ENOTDIR, Errno.ESTALE, Errno.EACCES, Errno.ELOOP, Errno.ENAMETOOLONG -> { }
                    default -> throw e;
                }
            }
        }
        return out;
    }

    @Override
    void close();
}
