package dev.cachefs.fuse;

/**
 * Numbers of the FUSE kernel protocol (include/uapi/linux/fuse.h), as far as this library uses
 * them. Struct offsets live next to the code that reads or writes each struct.
 */
public final class Fuse {
    private Fuse() {}

    public static final int KERNEL_VERSION = 7;
    /** The highest minor this library speaks; the session uses min(kernel's, this). */
    public static final int KERNEL_MINOR_VERSION = 45;
    public static final long ROOT_ID = 1;

    // opcodes
    static final int LOOKUP = 1;
    static final int FORGET = 2;
    static final int GETATTR = 3;
    static final int SETATTR = 4;
    static final int READLINK = 5;
    static final int SYMLINK = 6;
    static final int MKNOD = 8;
    static final int MKDIR = 9;
    static final int UNLINK = 10;
    static final int RMDIR = 11;
    static final int RENAME = 12;
    static final int LINK = 13;
    static final int OPEN = 14;
    static final int READ = 15;
    static final int WRITE = 16;
    static final int STATFS = 17;
    static final int RELEASE = 18;
    static final int FSYNC = 20;
    static final int SETXATTR = 21;
    static final int GETXATTR = 22;
    static final int LISTXATTR = 23;
    static final int REMOVEXATTR = 24;
    static final int FLUSH = 25;
    static final int INIT = 26;
    static final int OPENDIR = 27;
    static final int READDIR = 28;
    static final int RELEASEDIR = 29;
    static final int FSYNCDIR = 30;
    static final int GETLK = 31;
    static final int SETLK = 32;
    static final int SETLKW = 33;
    static final int ACCESS = 34;
    static final int CREATE = 35;
    static final int INTERRUPT = 36;
    static final int BMAP = 37;
    static final int DESTROY = 38;
    static final int IOCTL = 39;
    static final int POLL = 40;
    static final int NOTIFY_REPLY = 41;
    static final int BATCH_FORGET = 42;
    static final int FALLOCATE = 43;
    static final int READDIRPLUS = 44;
    static final int RENAME2 = 45;
    static final int LSEEK = 46;
    static final int COPY_FILE_RANGE = 47;

    // notification codes (sent as the error field of an unsolicited message)
    static final int NOTIFY_INVAL_INODE = 2;
    static final int NOTIFY_INVAL_ENTRY = 3;
    static final int NOTIFY_DELETE = 6;

    // INIT flags (bits 32..63 travel in flags2)
    static final long ASYNC_READ = 1L << 0;
    static final long POSIX_LOCKS = 1L << 1;
    static final long ATOMIC_O_TRUNC = 1L << 3;
    static final long BIG_WRITES = 1L << 5;
    static final long DONT_MASK = 1L << 6;
    static final long FLOCK_LOCKS = 1L << 10;
    static final long AUTO_INVAL_DATA = 1L << 12;
    static final long DO_READDIRPLUS = 1L << 13;
    static final long READDIRPLUS_AUTO = 1L << 14;
    static final long ASYNC_DIO = 1L << 15;
    static final long WRITEBACK_CACHE = 1L << 16;
    static final long PARALLEL_DIROPS = 1L << 18;
    static final long MAX_PAGES = 1L << 22;
    static final long CACHE_SYMLINKS = 1L << 23;
    static final long INIT_EXT = 1L << 30;
    static final long PASSTHROUGH = 1L << 37;

    // fuse_open_out.open_flags
    public static final int FOPEN_DIRECT_IO = 1 << 0;
    public static final int FOPEN_KEEP_CACHE = 1 << 1;
    public static final int FOPEN_NONSEEKABLE = 1 << 2;
    public static final int FOPEN_CACHE_DIR = 1 << 3;
    public static final int FOPEN_NOFLUSH = 1 << 5;
    public static final int FOPEN_PARALLEL_DIRECT_WRITES = 1 << 6;
    public static final int FOPEN_PASSTHROUGH = 1 << 7;

    // fuse_setattr_in.valid
    public static final int FATTR_MODE = 1 << 0;
    public static final int FATTR_UID = 1 << 1;
    public static final int FATTR_GID = 1 << 2;
    public static final int FATTR_SIZE = 1 << 3;
    public static final int FATTR_ATIME = 1 << 4;
    public static final int FATTR_MTIME = 1 << 5;
    public static final int FATTR_FH = 1 << 6;
    public static final int FATTR_ATIME_NOW = 1 << 7;
    public static final int FATTR_MTIME_NOW = 1 << 8;
    public static final int FATTR_LOCKOWNER = 1 << 9;
    public static final int FATTR_CTIME = 1 << 10;
    public static final int FATTR_KILL_SUIDGID = 1 << 11;

    static final int GETATTR_FH = 1;
    public static final int FSYNC_FDATASYNC = 1;
    public static final int RELEASE_FLUSH = 1;

    // device ioctls
    static final long DEV_IOC_BACKING_OPEN = 0x4010E501L;
    static final long DEV_IOC_BACKING_CLOSE = 0x4004E502L;

    static final int IN_HEADER = 40;
    static final int OUT_HEADER = 16;
    static final int ATTR_SIZE = 88;
    static final int ENTRY_OUT = 128;
    static final int ATTR_OUT = 104;
    static final int OPEN_OUT = 16;
    static final int INIT_OUT = 64;
    static final int STATFS_OUT = 80;

    static String opName(int opcode) {
        return switch (opcode) {
            case LOOKUP -> "LOOKUP"; case FORGET -> "FORGET"; case GETATTR -> "GETATTR";
            case SETATTR -> "SETATTR"; case READLINK -> "READLINK"; case SYMLINK -> "SYMLINK";
            case MKNOD -> "MKNOD"; case MKDIR -> "MKDIR"; case UNLINK -> "UNLINK"; case RMDIR -> "RMDIR";
            case RENAME -> "RENAME"; case LINK -> "LINK"; case OPEN -> "OPEN"; case READ -> "READ";
            case WRITE -> "WRITE"; case STATFS -> "STATFS"; case RELEASE -> "RELEASE"; case FSYNC -> "FSYNC";
            case SETXATTR -> "SETXATTR"; case GETXATTR -> "GETXATTR"; case LISTXATTR -> "LISTXATTR";
            case REMOVEXATTR -> "REMOVEXATTR"; case FLUSH -> "FLUSH"; case INIT -> "INIT";
            case OPENDIR -> "OPENDIR"; case READDIR -> "READDIR"; case RELEASEDIR -> "RELEASEDIR";
            case FSYNCDIR -> "FSYNCDIR"; case GETLK -> "GETLK"; case SETLK -> "SETLK"; case SETLKW -> "SETLKW";
            case ACCESS -> "ACCESS"; case CREATE -> "CREATE"; case INTERRUPT -> "INTERRUPT"; case BMAP -> "BMAP";
            case DESTROY -> "DESTROY"; case IOCTL -> "IOCTL"; case POLL -> "POLL";
            case BATCH_FORGET -> "BATCH_FORGET"; case FALLOCATE -> "FALLOCATE"; case READDIRPLUS -> "READDIRPLUS";
            case RENAME2 -> "RENAME2"; case LSEEK -> "LSEEK"; case COPY_FILE_RANGE -> "COPY_FILE_RANGE";
            default -> "OP" + opcode;
        };
    }
}
