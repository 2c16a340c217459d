package dev.cachefs.lower;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Libc;
import dev.cachefs.nativeio.RawPath;
import dev.cachefs.nativeio.Stat;
import dev.cachefs.nativeio.StatVfs;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * A lower filesystem that is a directory of this machine (a network mount, or a plain local
 * directory): every call is the system call relative to a descriptor of the root, so the lower's
 * own results and errno come back unchanged.
 */
public final class LocalLowerFs implements LowerFs {
    private final String root;
    private final int rootFd;

    /** @param root absolute raw path of the lower directory */
    public LocalLowerFs(String root) throws ErrnoException {
        this.root = root.endsWith("/") && root.length() > 1 ? root.substring(0, root.length() - 1) : root;
        this.rootFd = Libc.open(this.root, Libc.O_PATH | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0);
    }

    /** The path as *at calls want it: the root is ".". */
    private static String rel(String path) {
        return path.isEmpty() ? "." : path;
    }

    /** The absolute path, for calls that have no *at form. */
    private String abs(String path) {
        return path.isEmpty() ? root : root + "/" + path;
    }

    /** Longest path (with its NUL) the kernel takes in one argument. */
    private static final int PATH_MAX = 4096;

    /** A call that has no *at form: it takes a path. */
    private interface PathCall<T> {
        T apply(String path) throws ErrnoException;
    }

    /**
     * Runs {@code call} on {@code path} as the kernel can take it: the absolute path while that
     * fits in PATH_MAX; past it (the root's prefix made a path the lower accepts too long),
     * {@code /proc/self/fd/N/NAME} on a descriptor of its parent, so that every path the lower
     * takes relative to its root works here too.
     */
    private <T> T byPath(String path, PathCall<T> call) throws ErrnoException {
        String a = abs(path);
        if (a.length() < PATH_MAX) {
            return call.apply(a);
        }
        int slash = path.lastIndexOf('/');
        String parent = slash < 0 ? "." : path.substring(0, slash);
        int fd = Libc.openat(rootFd, parent, Libc.O_PATH | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0);
        try {
            return call.apply("/proc/self/fd/" + fd + "/" + path.substring(slash + 1));
        } finally {
            Libc.close(fd);
        }
    }

    public String root() {
        return root;
    }

    @Override
    public Stat stat(String path) throws ErrnoException {
        return Libc.statx(rootFd, rel(path), Libc.AT_SYMLINK_NOFOLLOW);
    }

    @Override
    public String readlink(String path) throws ErrnoException {
        return Libc.readlinkat(rootFd, rel(path));
    }

    @Override
    public void mkdir(String path, int mode) throws ErrnoException {
        Libc.mkdirat(rootFd, path, mode);
    }

    @Override
    public void mknod(String path, int mode, long dev) throws ErrnoException {
        Libc.mknodat(rootFd, path, mode, dev);
    }

    @Override
    public void symlink(String target, String path) throws ErrnoException {
        Libc.symlinkat(target, rootFd, path);
    }

    @Override
    public void unlink(String path) throws ErrnoException {
        Libc.unlinkat(rootFd, path, 0);
    }

    @Override
    public void rmdir(String path) throws ErrnoException {
        Libc.unlinkat(rootFd, path, Libc.AT_REMOVEDIR);
    }

    @Override
    public void rename(String from, String to, int flags) throws ErrnoException {
        Libc.renameat2(rootFd, from, rootFd, to, flags);
    }

    @Override
    public void link(String existing, String newPath) throws ErrnoException {
        Libc.linkat(rootFd, existing, rootFd, newPath, 0);
    }

    @Override
    public void chmod(String path, int mode) throws ErrnoException {
        Libc.fchmodat(rootFd, rel(path), mode, 0);
    }

    @Override
    public void chown(String path, int uid, int gid) throws ErrnoException {
        Libc.fchownat(rootFd, rel(path), uid, gid, Libc.AT_SYMLINK_NOFOLLOW);
    }

    @Override
    public void utimens(String path, long atimeSec, long atimeNsec, long mtimeSec, long mtimeNsec)
            throws ErrnoException {
        Libc.utimensat(rootFd, rel(path), atimeSec, atimeNsec, mtimeSec, mtimeNsec, Libc.AT_SYMLINK_NOFOLLOW);
    }

    @Override
    public void truncate(String path, long size) throws ErrnoException {
        byPath(path, p -> {
            Libc.truncate(p, size);
            return null;
        });
    }

    @Override
    public void access(String path, int mask) throws ErrnoException {
        Libc.faccessat(rootFd, rel(path), mask, 0);
    }

    @Override
    public StatVfs statfs() throws ErrnoException {
        return Libc.fstatvfs(rootFd);
    }

    @Override
    public LowerFile open(String path, int flags, int mode) throws ErrnoException {
        int fd = Libc.openat(rootFd, rel(path), flags | Libc.O_CLOEXEC | Libc.O_NOFOLLOW, mode);
        return new FdFile(fd);
    }

    @Override
    public LowerDir openDir(String path) throws ErrnoException {
        int fd = Libc.openat(rootFd, rel(path), Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC | Libc.O_NOFOLLOW, 0);
        return new FdDir(fd);
    }

    @Override
    public int getxattr(String path, String name, MemorySegment dst) throws ErrnoException {
        return byPath(path, p -> (int) Libc.lgetxattr(p, name, dst));
    }

    @Override
    public int listxattr(String path, MemorySegment dst) throws ErrnoException {
        return byPath(path, p -> (int) Libc.llistxattr(p, dst));
    }

    @Override
    public void setxattr(String path, String name, MemorySegment value, int flags) throws ErrnoException {
        byPath(path, p -> {
            Libc.lsetxattr(p, name, value, flags);
            return null;
        });
    }

    @Override
    public void removexattr(String path, String name) throws ErrnoException {
        byPath(path, p -> {
            Libc.lremovexattr(p, name);
            return null;
        });
    }

    @Override
    public void close() {
        Libc.close(rootFd);
    }

    /**
     * An open file: a kernel descriptor used only with positional calls. Also the base of other
     * descriptor-backed files (the offline layer's local copies), which override what they answer
     * differently.
     */
    public static class FdFile implements LowerFile {
        protected final int fd;

        public FdFile(int fd) {
            this.fd = fd;
        }

        @Override
        public int read(long offset, MemorySegment dst) throws ErrnoException {
            long done = 0;
            long want = dst.byteSize();
            while (done < want) {
                long n = Libc.pread(fd, dst.asSlice(done), want - done, offset + done);
                if (n == 0) {
                    break;
                }
                done += n;
            }
            return (int) done;
        }

        @Override
        public int write(long offset, MemorySegment src) throws ErrnoException {
            long done = 0;
            long want = src.byteSize();
            while (done < want) {
                done += Libc.pwrite(fd, src.asSlice(done), want - done, offset + done);
            }
            return (int) done;
        }

        @Override
        public Stat stat() throws ErrnoException {
            return Libc.fstat(fd);
        }

        @Override
        public void truncate(long size) throws ErrnoException {
            Libc.ftruncate(fd, size);
        }

        @Override
        public void fsync(boolean dataOnly) throws ErrnoException {
            Libc.fsync(fd, dataOnly);
        }

        @Override
        public void flush() throws ErrnoException {
            int copy = Libc.dup(fd);
            int err = Libc.close(copy);
            if (err != 0) {
                throw new ErrnoException(err, "close");
            }
        }

        @Override
        public void fallocate(int mode, long offset, long length) throws ErrnoException {
            Libc.fallocate(fd, mode, offset, length);
        }

        @Override
        public long lseek(long offset, int whence) throws ErrnoException {
            return Libc.lseek(fd, offset, whence);
        }

        @Override
        public void chown(int uid, int gid) throws ErrnoException {
            Libc.fchown(fd, uid, gid);
        }

        @Override
        public void chmod(int mode) throws ErrnoException {
            Libc.fchmod(fd, mode);
        }

        @Override
        public int fd() {
            return fd;
        }

        @Override
        public void close() {
            Libc.close(fd);
        }
    }

    /** An open lower directory read with getdents64. Not thread-safe: the kernel serialises readdir per open dir. */
    static final class FdDir implements LowerDir {
        private static final int BUF = 32 * 1024;
        private final int fd;
        private final Arena arena = Arena.ofShared();
        private final MemorySegment buf = arena.allocate(BUF, 8);

        FdDir(int fd) {
            this.fd = fd;
        }

        @Override
        public synchronized List<DirEntry> next() throws ErrnoException {
            long n = Libc.getdents64(fd, buf);
            List<DirEntry> out = new ArrayList<>();
            long pos = 0;
            while (pos < n) {
                long ino = buf.get(JAVA_LONG, pos);
                long off = buf.get(JAVA_LONG, pos + 8);
                int reclen = Short.toUnsignedInt(buf.get(JAVA_SHORT, pos + 16));
                int type = Byte.toUnsignedInt(buf.get(JAVA_BYTE, pos + 18));
                long nameStart = pos + 19;
                int len = 0;
                while (buf.get(JAVA_BYTE, nameStart + len) != 0) {
                    len++;
                }
                out.add(new DirEntry(RawPath.fromSegment(buf.asSlice(nameStart, len), len), ino, type, off));
                pos += reclen;
            }
            return out;
        }

        @Override
        public synchronized void seek(long offset) throws ErrnoException {
            Libc.lseek(fd, offset, Libc.SEEK_SET);
        }

        @Override
        public void fsync(boolean dataOnly) throws ErrnoException {
            Libc.fsync(fd, dataOnly);
        }

        @Override
        public synchronized void close() {
            Libc.close(fd);
            arena.close();
        }
    }

}
