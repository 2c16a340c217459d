package dev.cachefs.nativeio;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.lang.foreign.MemorySegment;

/**
 * The attributes of a file, as statx(2) reports them, with nanosecond times.
 *
 * @param dev the filesystem's device number (major, minor combined as by {@link #makedev})
 * @param rdevMajor major of the device a device node stands for
 */
public record Stat(
        long ino, long size, long blocks, int mode, int nlink, int uid, int gid,
        int rdevMajor, int rdevMinor, int blksize,
        long atimeSec, int atimeNsec, long mtimeSec, int mtimeNsec, long ctimeSec, int ctimeNsec,
        long dev) {

    static final int STATX_SIZE = 256;
    /** STATX_BASIC_STATS: everything stat(2) has. */
    static final int STATX_BASIC_STATS = 0x7ff;

    /** A stable byte encoding of every field (the cache index keeps attributes this way). */
    public byte[] encode() {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(17 * 8);
        b.putLong(ino).putLong(size).putLong(blocks).putLong(mode).putLong(nlink).putLong(uid).putLong(gid)
                .putLong(rdevMajor).putLong(rdevMinor).putLong(blksize).putLong(atimeSec).putLong(atimeNsec)
                .putLong(mtimeSec).putLong(mtimeNsec).putLong(ctimeSec).putLong(ctimeNsec).putLong(dev);
        return b.array();
    }

    /** The inverse of {@link #encode}. */
    public static Stat decode(byte[] bytes) {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(bytes);
        return new Stat(b.getLong(), b.getLong(), b.getLong(), (int) b.getLong(), (int) b.getLong(), (int) b.getLong(),
                (int) b.getLong(), (int) b.getLong(), (int) b.getLong(), (int) b.getLong(), b.getLong(), (int) b.getLong(),
                b.getLong(), (int) b.getLong(), b.getLong(), (int) b.getLong(), b.getLong());
    }

    static Stat fromStatx(MemorySegment b) {
        int blksize = b.get(JAVA_INT, 4);
        int nlink = b.get(JAVA_INT, 16);
        int uid = b.get(JAVA_INT, 20);
        int gid = b.get(JAVA_INT, 24);
        int mode = Short.toUnsignedInt(b.get(JAVA_SHORT, 28));
        long ino = b.get(JAVA_LONG, 32);
        long size = b.get(JAVA_LONG, 40);
        long blocks = b.get(JAVA_LONG, 48);
        long atime = b.get(JAVA_LONG, 64);
        int atimeNs = b.get(JAVA_INT, 72);
        long ctime = b.get(JAVA_LONG, 96);
        int ctimeNs = b.get(JAVA_INT, 104);
        long mtime = b.get(JAVA_LONG, 112);
        int mtimeNs = b.get(JAVA_INT, 120);
        int rdevMajor = b.get(JAVA_INT, 128);
        int rdevMinor = b.get(JAVA_INT, 132);
        int devMajor = b.get(JAVA_INT, 136);
        int devMinor = b.get(JAVA_INT, 140);
        return new Stat(ino, size, blocks, mode, nlink, uid, gid, rdevMajor, rdevMinor, blksize,
                atime, atimeNs, mtime, mtimeNs, ctime, ctimeNs, makedev(devMajor, devMinor));
    }

    /** glibc's 64-bit dev_t encoding of a major and minor. */
    public static long makedev(int major, int minor) {
        long ma = Integer.toUnsignedLong(major);
        long mi = Integer.toUnsignedLong(minor);
        return ((ma & 0xfffff000L) << 32) | ((ma & 0xfffL) << 8)
                | ((mi & 0xffffff00L) << 12) | (mi & 0xffL);
    }

    /** The major number of a glibc dev_t. */
    public static long majorOf(long dev) {
        return ((dev >>> 8) & 0xfffL) | ((dev >>> 32) & 0xfffff000L);
    }

    /** The minor number of a glibc dev_t. */
    public static long minorOf(long dev) {
        return (dev & 0xffL) | ((dev >>> 12) & 0xffffff00L);
    }

    public int fileType() {
        return mode & Libc.S_IFMT;
    }

    public boolean isDirectory() {
        return fileType() == Libc.S_IFDIR;
    }

    public boolean isRegular() {
        return fileType() == Libc.S_IFREG;
    }

    public boolean isSymlink() {
        return fileType() == Libc.S_IFLNK;
    }

    /** Modification time in nanoseconds since the epoch. */
    public long mtimeNsTotal() {
        return mtimeSec() * 1_000_000_000L + mtimeNsec();
    }
}
