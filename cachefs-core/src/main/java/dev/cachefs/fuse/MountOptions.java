package dev.cachefs.fuse;

/**
 * How to mount and serve a FUSE filesystem.
 *
 * @param fsName what /proc/mounts shows as the source (e.g. the lower directory)
 * @param subtype the filesystem type suffix: the mount shows as {@code fuse.SUBTYPE}
 * @param allowOther let users other than the mounting one in (kernel-checked permissions still apply)
 * @param maxWrite largest WRITE request, 128 KiB to 1 MiB
 * @param workers threads reading requests from the device
 * @param passthrough negotiate FUSE passthrough when the kernel and our privileges allow it
 * @param autoUnmount mount through fusermount3 so that the mount goes away if this process dies
 * @param devices honour device nodes (mount without nodev; root only)
 * @param setuid honour set-user-ID bits (mount without nosuid; root only)
 */
public record MountOptions(String fsName, String subtype, boolean allowOther, int maxWrite, int workers,
                           boolean passthrough, boolean autoUnmount, boolean readOnly, boolean devices,
                           boolean setuid) {
    public static final int MIN_WRITE = 128 * 1024;
    public static final int MAX_WRITE = 1024 * 1024;

    public MountOptions {
        if (maxWrite < MIN_WRITE || maxWrite > MAX_WRITE) {
            throw new IllegalArgumentException("max_write must be between 128 KiB and 1 MiB, got " + maxWrite);
        }
        if (workers < 1 || workers > 64) {
            throw new IllegalArgumentException("workers must be between 1 and 64, got " + workers);
        }
        if (fsName.contains(",") || subtype.contains(",")) {
            throw new IllegalArgumentException("fsname and subtype may not contain commas");
        }
    }

    public static MountOptions defaults(String fsName) {
        return new MountOptions(fsName, "cachefs", false, MAX_WRITE, 4, true, true, false, false, false);
    }

    public MountOptions withAllowOther(boolean v) {
        return new MountOptions(fsName, subtype, v, maxWrite, workers, passthrough, autoUnmount, readOnly, devices, setuid);
    }

    public MountOptions withPassthrough(boolean v) {
        return new MountOptions(fsName, subtype, allowOther, maxWrite, workers, v, autoUnmount, readOnly, devices, setuid);
    }

    public MountOptions withAutoUnmount(boolean v) {
        return new MountOptions(fsName, subtype, allowOther, maxWrite, workers, passthrough, v, readOnly, devices, setuid);
    }

    public MountOptions withMaxWrite(int v) {
        return new MountOptions(fsName, subtype, allowOther, v, workers, passthrough, autoUnmount, readOnly, devices, setuid);
    }

    public MountOptions withWorkers(int v) {
        return new MountOptions(fsName, subtype, allowOther, maxWrite, v, passthrough, autoUnmount, readOnly, devices, setuid);
    }

    public MountOptions withDevices(boolean v) {
        return new MountOptions(fsName, subtype, allowOther, maxWrite, workers, passthrough, autoUnmount, readOnly, v, setuid);
    }

    public MountOptions withSetuid(boolean v) {
        return new MountOptions(fsName, subtype, allowOther, maxWrite, workers, passthrough, autoUnmount, readOnly, devices, v);
    }
}
