package dev.cachefs.nativeio;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.nio.charset.StandardCharsets;

/**
 * The C library calls the project needs and NIO lacks, bound with the FFM API.
 *
 * <p>Every wrapper returns the call's result or throws {@link ErrnoException} with the errno the
 * call set (captured by the linker, so nothing else on the thread can overwrite it). Paths are
 * raw byte strings carried in Latin-1 {@link String}s (see {@link RawPath}): every byte of a Linux
 * name survives the round trip, including invalid UTF-8.
 *
 * <p>Thread safety: all methods may be called from any thread. Blocking calls are never bound
 * with {@code Linker.Option.critical}.
 */
public final class Libc {
    // open(2) flags (x86_64 / generic)
    public static final int O_RDONLY = 0;
    public static final int O_WRONLY = 1;
    public static final int O_RDWR = 2;
    public static final int O_ACCMODE = 3;
    public static final int O_CREAT = 0100;
    public static final int O_EXCL = 0200;
    public static final int O_NOCTTY = 0400;
    public static final int O_TRUNC = 01000;
    public static final int O_APPEND = 02000;
    public static final int O_NONBLOCK = 04000;
    public static final int O_DIRECT = 040000;
    public static final int O_LARGEFILE = 0100000;
    public static final int O_DIRECTORY = 0200000;
    public static final int O_NOFOLLOW = 0400000;
    public static final int O_NOATIME = 01000000;
    public static final int O_CLOEXEC = 02000000;
    public static final int O_PATH = 010000000;

    public static final int AT_FDCWD = -100;
    public static final int AT_SYMLINK_NOFOLLOW = 0x100;
    public static final int AT_REMOVEDIR = 0x200;
    public static final int AT_EMPTY_PATH = 0x1000;
    public static final int AT_STATX_SYNC_AS_STAT = 0;

    public static final int RENAME_NOREPLACE = 1;
    public static final int RENAME_EXCHANGE = 2;
    public static final int RENAME_WHITEOUT = 4;

    public static final int UTIME_NOW = (1 << 30) - 1;
    public static final int UTIME_OMIT = (1 << 30) - 2;

    public static final int SEEK_SET = 0;
    public static final int SEEK_CUR = 1;
    public static final int SEEK_END = 2;
    public static final int SEEK_DATA = 3;
    public static final int SEEK_HOLE = 4;

    public static final int MNT_FORCE = 1;
    public static final int MNT_DETACH = 2;
    public static final long MS_NOSUID = 2;
    public static final long MS_NODEV = 4;

    public static final int XATTR_CREATE = 1;
    public static final int XATTR_REPLACE = 2;

    public static final int S_IFMT = 0170000;
    public static final int S_IFDIR = 0040000;
    public static final int S_IFREG = 0100000;
    public static final int S_IFLNK = 0120000;
    public static final int S_IFIFO = 0010000;
    public static final int S_IFCHR = 0020000;
    public static final int S_IFBLK = 0060000;
    public static final int S_IFSOCK = 0140000;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIBC = LINKER.defaultLookup();
    private static final StructLayout CAPTURE_LAYOUT = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO =
            CAPTURE_LAYOUT.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final Linker.Option CAPTURE = Linker.Option.captureCallState("errno");

    /** Per-thread errno capture buffer; allocated once per thread, never freed while it lives. */
    private static final ThreadLocal<MemorySegment> CAPTURED =
            ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(CAPTURE_LAYOUT));

    private static MethodHandle bind(String name, FunctionDescriptor fd, Linker.Option... extra) {
        Linker.Option[] options = new Linker.Option[extra.length + 1];
        options[0] = CAPTURE;
        System.arraycopy(extra, 0, options, 1, extra.length);
        MemorySegment symbol = LIBC.find(name)
                .orElseThrow(() -> new UnsatisfiedLinkError("libc has no " + name));
        return LINKER.downcallHandle(symbol, fd, options);
    }

    private static final MethodHandle OPENAT = bind("openat",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT),
            Linker.Option.firstVariadicArg(3));
    private static final MethodHandle CLOSE = bind("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle READ = bind("read",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle WRITE = bind("write",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle PREAD = bind("pread64",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG));
    private static final MethodHandle PWRITE = bind("pwrite64",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG));
    private static final MethodHandle FSYNC = bind("fsync", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle FDATASYNC = bind("fdatasync", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle SYNCFS = bind("syncfs", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    /** posix_fadvise returns its error instead of setting errno. */
    private static final MethodHandle FADVISE = LINKER.downcallHandle(LIBC.find("posix_fadvise64").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_INT));
    private static final MethodHandle FTRUNCATE = bind("ftruncate64",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG));
    private static final MethodHandle FALLOCATE = bind("fallocate64",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG));
    private static final MethodHandle LSEEK = bind("lseek64",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_INT));
    private static final MethodHandle STATX = bind("statx",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS));
    private static final MethodHandle MKDIRAT = bind("mkdirat",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle MKNODAT = bind("mknodat",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG));
    private static final MethodHandle UNLINKAT = bind("unlinkat",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle RENAMEAT2 = bind("renameat2",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle LINKAT = bind("linkat",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle SYMLINKAT = bind("symlinkat",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS));
    private static final MethodHandle READLINKAT = bind("readlinkat",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG));
    private static final MethodHandle FCHMODAT = bind("fchmodat",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
    private static final MethodHandle FCHMOD = bind("fchmod", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle FCHOWNAT = bind("fchownat",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle FCHOWN = bind("fchown",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle UTIMENSAT = bind("utimensat",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT));
    private static final MethodHandle FACCESSAT = bind("faccessat",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
    private static final MethodHandle FSTATVFS = bind("fstatvfs64",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS));
    private static final MethodHandle GETDENTS64 = bind("getdents64",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle LGETXATTR = bind("lgetxattr",
            FunctionDescriptor.of(JAVA_LONG, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG));
    private static final MethodHandle LSETXATTR = bind("lsetxattr",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT));
    private static final MethodHandle LLISTXATTR = bind("llistxattr",
            FunctionDescriptor.of(JAVA_LONG, ADDRESS, ADDRESS, JAVA_LONG));
    private static final MethodHandle LREMOVEXATTR = bind("lremovexattr",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
    private static final MethodHandle FGETXATTR = bind("fgetxattr",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG));
    private static final MethodHandle MOUNT = bind("mount",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS));
    private static final MethodHandle UMOUNT2 = bind("umount2",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle IOCTL = bind("ioctl",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS),
            Linker.Option.firstVariadicArg(2));
    private static final MethodHandle UMASK = bind("umask", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle GETEUID = bind("geteuid", FunctionDescriptor.of(JAVA_INT));
    private static final MethodHandle GETEGID = bind("getegid", FunctionDescriptor.of(JAVA_INT));
    private static final MethodHandle GETPID = bind("getpid", FunctionDescriptor.of(JAVA_INT));
    private static final MethodHandle SETFSUID = bind("setfsuid", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle SETFSGID = bind("setfsgid", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle FLOCK = bind("flock", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle SETNS = bind("setns", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle FCNTL_PTR = bind("fcntl",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS),
            Linker.Option.firstVariadicArg(2));
    private static final MethodHandle FCNTL_INT = bind("fcntl",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT),
            Linker.Option.firstVariadicArg(2));
    private static final MethodHandle SOCKETPAIR = bind("socketpair",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS));
    private static final MethodHandle RECVMSG = bind("recvmsg",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle DUP = bind("dup", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle TRUNCATE = bind("truncate64",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle KILL = bind("kill", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));

    private Libc() {}

    private static int errno(MemorySegment capture) {
        return (int) ERRNO.get(capture, 0L);
    }

    private static int check(int r, MemorySegment cap, String what) throws ErrnoException {
        if (r == -1) {
            throw new ErrnoException(errno(cap), what);
        }
        return r;
    }

    private static long check(long r, MemorySegment cap, String what) throws ErrnoException {
        if (r == -1) {
            throw new ErrnoException(errno(cap), what);
        }
        return r;
    }

    /** A NUL-terminated copy of a raw (Latin-1 carried) path in the given arena. */
    public static MemorySegment cstr(Arena arena, String raw) {
        byte[] bytes = raw.getBytes(StandardCharsets.ISO_8859_1);
        MemorySegment s = arena.allocate(bytes.length + 1L);
        MemorySegment.copy(bytes, 0, s, JAVA_BYTE_LAYOUT, 0, bytes.length);
        s.set(java.lang.foreign.ValueLayout.JAVA_BYTE, bytes.length, (byte) 0);
        return s;
    }

    private static final java.lang.foreign.ValueLayout.OfByte JAVA_BYTE_LAYOUT =
            java.lang.foreign.ValueLayout.JAVA_BYTE;

    // ----------------------------------------------------------------- files and descriptors

    public static int openat(int dirfd, String path, int flags, int mode) throws ErrnoException {
        MemorySegment cap = CAPTURED.get();
        try (Arena a = Arena.ofConfined()) {
            return check((int) OPENAT.invokeExact(cap, dirfd, cstr(a, path), flags, mode), cap, "openat");
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static int open(String path, int flags, int mode) throws ErrnoException {
        return openat(AT_FDCWD, path, flags, mode);
    }

    /** close(2); errors are returned, not thrown (callers on cleanup paths ignore them). */
    public static int close(int fd) {
        MemorySegment cap = CAPTURED.get();
        try {
            int r = (int) CLOSE.invokeExact(cap, fd);
            return r == -1 ? errno(cap) : 0;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static long read(int fd, MemorySegment buf, long count) throws ErrnoException {
        MemorySegment cap = CAPTURED.get();
        try {
            return check((long) READ.invokeExact(cap, fd, buf, count), cap, null);
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static long write(int fd, MemorySegment buf, long count) throws ErrnoException {
        MemorySegment cap = CAPTURED.get();
        try {
            return check((long) WRITE.invokeExact(cap, fd, buf, count), cap, null);
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static long pread(int fd, MemorySegment buf, long count, long offset) throws ErrnoException {
        MemorySegment cap = CAPTURED.get();
        try {
            return check((long) PREAD.invokeExact(cap, fd, buf, count, offset), cap, null);
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static long pwrite(int fd, MemorySegment buf, long count, long offset) throws ErrnoException {
        MemorySegment cap = CAPTURED.get();
        try {
            return check((long) PWRITE.invokeExact(cap, fd, buf, count, offset), cap, null);
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static void fsync(int fd, boolean dataOnly) throws ErrnoException {
        MemorySegment cap = CAPTURED.get();
        try {
            int r = dataOnly ? (int) FDATASYNC.invokeExact(cap, fd) : (int) FSYNC.invokeExact(cap, fd);
            check(r, cap, "fsync");
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** Writes out everything of the filesystem that holds {@code fd}. */
    public static void syncfs(int fd) throws ErrnoException {
        MemorySegment cap = CAPTURED.get();
        try {
            check((int) SYNCFS.invokeExact(cap, fd), cap, "syncfs");
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static final int POSIX_FADV_DONTNEED = 4;

    /** posix_fadvise; a hint, so its error is returned (0: none), never thrown. */
    public static int fadvise(int fd, long offset, long length, int advice) {
        try {
            return (int) FADVISE.invokeExact(fd, offset, length, advice);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static void ftruncate(int fd, long length) throws ErrnoException {
        MemorySegment cap = CAPTURED.get();
        try {
            check((int) FTRUNCATE.invokeExact(cap, fd, length), cap, "ftruncate");
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static void fallocate(int fd, int mode, long offset, long length) throws ErrnoException {
        MemorySegment cap = CAPTURED.get();
        try {
            check((int) FALLOCATE.invokeExact(cap, fd, mode, offset, length), cap, "fallocate");
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static long lseek(int fd, long offset, int whence) throws ErrnoException {
        MemorySegment cap = CAPTURED.get();
        try {
            return check((long) LSEEK.invokeExact(cap, fd, offset, whence), cap, "lseek");
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    // ----------------------------------------------------------------- metadata

    /** statx(2) of {@code path} relative to {@code dirfd} (empty path: the fd itself). */
    public static Stat statx(int dirfd, String path, int flags) throws ErrnoException {
        MemorySegment cap = CAPTURED.get();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(Stat.STATX_SIZE, 8);
            int fl = flags | (path.isEmpty() ? AT_EMPTY_PATH : 0);
            check((int) STATX.invokeExact(cap, dirfd, cstr(a, path), fl, Stat.STATX_BASIC_STATS, buf),
                    cap, "statx");
            return Stat.fromStatx(buf);
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static Stat lstat(String path) throws ErrnoException {
        return statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW);
    }

    public static Stat fstat(int fd) throws ErrnoException {
        return statx(fd, "", 0);
    }

    public static void mkdirat(int dirfd, String path, int mode) throws ErrnoException {
        MemorySegment cap = CAPTURED.get();
        try (Arena a = Arena.ofConfined()) {
            check((int) MKDIRAT.invokeExact(cap, dirfd, cstr(a, path), mode), cap, "mkdir");
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static void mknodat(int dirfd, String path, int mode, long dev) throws ErrnoException {
        MemorySegment cap = CAPTURED.get();
        try (Arena a = Arena.ofConfined()) {
            check((int) MKNODAT.invokeExact(cap, dirfd, cstr(a, path), mode, dev), cap, "mknod");
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static void unlinkat(int dirfd, String path, int flags) throws ErrnoException {
        MemorySegment cap = CAPTURED.get();
        try (Arena a = Arena.ofConfined()) {
            check((int) UNLINKAT.invokeExact(cap, dirfd, cstr(a, path), flags), cap, "unlink");
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static void renameat2(int olddir, String oldPath, int newdir, String newPath, int flags)
            throws ErrnoException {
        MemorySegment cap = CAPTURED.get();
        try (Arena a = Arena.ofConfined()) {
            check((int) RENAMEAT2.invokeExact(cap, olddir, cstr(a, oldPath), newdir, cstr(a, newPath), flags),
                    cap, "rename");
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static void linkat(int olddir, String oldPath, int newdir, String newPath, int flags)
            throws ErrnoException {
        MemorySegment cap = CAPTURED.get();
        try (Arena a = Arena.ofConfined()) {
            check((int) LINKAT.invokeExact(cap, olddir, cstr(a, oldPath), newdir, cstr(a, newPath), flags),
                    cap, "link");
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static void symlinkat(String target, int dirfd, String path) throws ErrnoException {
        MemorySegment cap = CAPTURED.get();
        try (Arena a = Arena.ofConfined()) {
            check((int) SYMLINKAT.invokeExact(cap, cstr(a, target), dirfd, cstr(a, path)), cap, "symlink");
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** readlinkat(2); the target as a raw (Latin-1 carried) string. */
    public static String readlinkat(int dirfd, String path) throws ErrnoException {
        MemorySegment cap = CAPTURED.get();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(4097);
            long n = check((long) READLINKAT.invokeExact(cap, dirfd, cstr(a, path), buf, 4097L), cap, "readlink");
            if (n > 4096) {
                throw new ErrnoException(Errno.ENAMETOOLONG, "readlink");
            }
            return RawPath.fromSegment(buf, (int) n);
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static void fchmodat(int dirfd, String path, int mode, int flags) throws ErrnoException {
        MemorySegment cap = CAPTURED.get();
        try (Arena a = Arena.ofConfined()) {
            check((int) FCHMODAT.invokeExact(cap, dirfd, cstr(a, path), mode, flags), cap, "chmod");
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static void fchmod(int fd, int mode) throws ErrnoException {
        MemorySegment cap = CAPTURED.get();
        try {
            check((int) FCHMOD.invokeExact(cap, fd, mode), cap, "fchmod");
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static void fchownat(int dirfd, String path, int uid, int gid, int flags) throws ErrnoException {
        MemorySegment cap = CAPTURED.get();
        try (Arena a = Arena.ofConfined()) {
            int fl = flags | (path.isEmpty() ? AT_EMPTY_PATH : 0);
            check((int) FCHOWNAT.invokeExact(cap, dirfd, cstr(a, path), uid, gid, fl), cap, "chown");
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static void fchown(int fd, int uid, int gid) throws ErrnoException {
        MemorySegment cap = CAPTURED.get();
        try {
            check((int) FCHOWN.invokeExact(cap, fd, uid, gid), cap, "fchown");
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /**
     * utimensat(2). Each time is seconds and nanoseconds; a nanosecond value of
     * {@link #UTIME_NOW} or {@link #UTIME_OMIT} has its usual meaning. An empty path with
     * {@code dirfd} an open file descriptor sets the times of that file (futimens).
     */
    public static void utimensat(int dirfd, String path, long atimeSec, long atimeNsec,
                                 long mtimeSec, long mtimeNsec, int flags) throws ErrnoException {
        MemorySegment cap = CAPTURED.get();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ts = a.allocate(32, 8);
            ts.set(JAVA_LONG, 0, atimeSec);
            ts.set(JAVA_LONG, 8, atimeNsec);
            ts.set(JAVA_LONG, 16, mtimeSec);
            ts.set(JAVA_LONG, 24, mtimeNsec);
            MemorySegment p = path.isEmpty() ? MemorySegment.NULL : cstr(a, path);
            check((int) UTIMENSAT.invokeExact(cap, dirfd, p, ts, flags), cap, "utimensat");
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static void faccessat(int dirfd, String path, int mode, int flags) throws ErrnoException {
        MemorySegment cap = CAPTURED.get();
        try (Arena a = Arena.ofConfined()) {
            check((int) FACCESSAT.invokeExact(cap, dirfd, cstr(a, path), mode, flags), cap, "access");
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** fstatvfs(3) of an open descriptor. */
    public static StatVfs fstatvfs(int fd) throws ErrnoException {
        MemorySegment cap = CAPTURED.get();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(StatVfs.SIZE, 8);
            check((int) FSTATVFS.invokeExact(cap, fd, buf), cap, "statvfs");
            return StatVfs.from(buf);
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** getdents64(2) into {@code buf}; returns the bytes filled, 0 at the end of the directory. */
    public static long getdents64(int fd, MemorySegment buf) throws ErrnoException {
        MemorySegment cap = CAPTURED.get();
        try {
            return check((long) GETDENTS64.invokeExact(cap, fd, buf, buf.byteSize()), cap, "getdents64");
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    // ----------------------------------------------------------------- extended attributes

    /** lgetxattr(2); with a zero-size {@code buf} returns the size needed. */
    public static long lgetxattr(String path, String name, MemorySegment buf) throws ErrnoException {
        MemorySegment cap = CAPTURED.get();
        try (Arena a = Arena.ofConfined()) {
            return check((long) LGETXATTR.invokeExact(cap, cstr(a, path), cstr(a, name), buf, buf.byteSize()),
                    cap, null);
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static long fgetxattr(int fd, String name, MemorySegment buf) throws ErrnoException {
        MemorySegment cap = CAPTURED.get();
        try (Arena a = Arena.ofConfined()) {
            return check((long) FGETXATTR.invokeExact(cap, fd, cstr(a, name), buf, buf.byteSize()), cap, null);
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static void lsetxattr(String path, String name, MemorySegment value, int flags) throws ErrnoException {
        MemorySegment cap = CAPTURED.get();
        try (Arena a = Arena.ofConfined()) {
            check((int) LSETXATTR.invokeExact(cap, cstr(a, path), cstr(a, name), value, value.byteSize(), flags),
                    cap, null);
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** llistxattr(2); with a zero-size {@code buf} returns the size needed. */
    public static long llistxattr(String path, MemorySegment buf) throws ErrnoException {
        MemorySegment cap = CAPTURED.get();
        try (Arena a = Arena.ofConfined()) {
            return check((long) LLISTXATTR.invokeExact(cap, cstr(a, path), buf, buf.byteSize()), cap, null);
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static void lremovexattr(String path, String name) throws ErrnoException {
        MemorySegment cap = CAPTURED.get();
        try (Arena a = Arena.ofConfined()) {
            check((int) LREMOVEXATTR.invokeExact(cap, cstr(a, path), cstr(a, name)), cap, null);
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    // ----------------------------------------------------------------- mounting and the device

    public static void mount(String source, String target, String fstype, long flags, String data)
            throws ErrnoException {
        MemorySegment cap = CAPTURED.get();
        try (Arena a = Arena.ofConfined()) {
            check((int) MOUNT.invokeExact(cap, cstr(a, source), cstr(a, target), cstr(a, fstype), flags,
                    cstr(a, data)), cap, "mount");
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static void umount2(String target, int flags) throws ErrnoException {
        MemorySegment cap = CAPTURED.get();
        try (Arena a = Arena.ofConfined()) {
            check((int) UMOUNT2.invokeExact(cap, cstr(a, target), flags), cap, "umount");
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static int ioctl(int fd, long request, MemorySegment arg) throws ErrnoException {
        MemorySegment cap = CAPTURED.get();
        try {
            return check((int) IOCTL.invokeExact(cap, fd, request, arg), cap, "ioctl");
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static int flock(int fd, int op) throws ErrnoException {
        MemorySegment cap = CAPTURED.get();
        try {
            return check((int) FLOCK.invokeExact(cap, fd, op), cap, "flock");
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** Network namespace type for {@link #setns}. */
    public static final int CLONE_NEWNET = 0x40000000;

    /** Moves the calling thread (only it) into the namespace {@code fd} refers to. */
    public static void setns(int fd, int nstype) throws ErrnoException {
        MemorySegment cap = CAPTURED.get();
        try {
            check((int) SETNS.invokeExact(cap, fd, nstype), cap, "setns");
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static int fcntl(int fd, int cmd, MemorySegment arg) throws ErrnoException {
        MemorySegment cap = CAPTURED.get();
        try {
            return check((int) FCNTL_PTR.invokeExact(cap, fd, cmd, arg), cap, "fcntl");
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static int fcntl(int fd, int cmd, int arg) throws ErrnoException {
        MemorySegment cap = CAPTURED.get();
        try {
            return check((int) FCNTL_INT.invokeExact(cap, fd, cmd, arg), cap, "fcntl");
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** socketpair(2) into a two-int segment. */
    public static void socketpair(int domain, int type, int protocol, MemorySegment fds) throws ErrnoException {
        MemorySegment cap = CAPTURED.get();
        try {
            check((int) SOCKETPAIR.invokeExact(cap, domain, type, protocol, fds), cap, "socketpair");
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static long recvmsg(int fd, MemorySegment msg, int flags) throws ErrnoException {
        MemorySegment cap = CAPTURED.get();
        try {
            return check((long) RECVMSG.invokeExact(cap, fd, msg, flags), cap, "recvmsg");
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static int dup(int fd) throws ErrnoException {
        MemorySegment cap = CAPTURED.get();
        try {
            return check((int) DUP.invokeExact(cap, fd), cap, "dup");
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static void truncate(String path, long length) throws ErrnoException {
        MemorySegment cap = CAPTURED.get();
        try (Arena a = Arena.ofConfined()) {
            check((int) TRUNCATE.invokeExact(cap, cstr(a, path), length), cap, "truncate");
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static void kill(int pid, int sig) throws ErrnoException {
        MemorySegment cap = CAPTURED.get();
        try {
            check((int) KILL.invokeExact(cap, pid, sig), cap, "kill");
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    // ----------------------------------------------------------------- process

    public static int umask(int mask) {
        try {
            return (int) UMASK.invokeExact(CAPTURED.get(), mask);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static int geteuid() {
        try {
            return (int) GETEUID.invokeExact(CAPTURED.get());
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static int getegid() {
        try {
            return (int) GETEGID.invokeExact(CAPTURED.get());
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static int getpid() {
        try {
            return (int) GETPID.invokeExact(CAPTURED.get());
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** setfsuid(2): affects only the calling thread; returns the previous fsuid. */
    public static int setfsuid(int uid) {
        try {
            return (int) SETFSUID.invokeExact(CAPTURED.get(), uid);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** setfsgid(2): affects only the calling thread; returns the previous fsgid. */
    public static int setfsgid(int gid) {
        try {
            return (int) SETFSGID.invokeExact(CAPTURED.get(), gid);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }
}
