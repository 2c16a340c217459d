package dev.cachefs.fuse;

/** Device numbers as the FUSE protocol carries them (the kernel's 32-bit new_encode_dev). */
public final class DevNumbers {
    private DevNumbers() {}

    public static int encode(int major, int minor) {
        return (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xff) << 12);
    }

    public static int major(int dev) {
        return (dev & 0xfff00) >>> 8;
    }

    public static int minor(int dev) {
        return (dev & 0xff) | ((dev >>> 12) & 0xfff00);
    }
}
