package dev.cachefs.index;

import dev.cachefs.nativeio.Errno;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Libc;
import dev.cachefs.nativeio.FileHandles;

/**
 * The identity of a lower filesystem and how its objects are identified, detected at mount.
 *
 * <p>Handles are used where the lower gives stable ones (ext4, xfs, btrfs, a kernel NFS client:
 * the same object keeps its handle across renames, cache drops and remounts). FUSE-based lowers
 * (sshfs, gvfs, smbnetfs, rclone) hand out node ids that change when the kernel forgets an inode
 * and on remount, so there the identity is the path, and the fingerprint says whether the data
 * behind it is still the same.
 *
 * @param mode HANDLE or PATH (never AUTO)
 * @param fsid the lower filesystem's UUID or fsid
 * @param reason why this mode, for {@code cachefs status} and the log
 */
public record LowerIdentity(IdentityMode mode, byte[] fsid, long fsType, String reason) {

    /** {@link #detect(int, IdentityMode)} of the directory at {@code rootRaw} (a raw path). */
    public static LowerIdentity detect(String rootRaw, IdentityMode requested) throws ErrnoException {
        int fd = Libc.open(rootRaw, Libc.O_PATH | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0);
        try {
            return detect(fd, requested);
        } finally {
            Libc.close(fd);
        }
    }

    /**
     * Detects the identity of the filesystem of {@code rootFd}.
     *
     * @throws ErrnoException EOPNOTSUPP when HANDLE is asked for and the lower has no handles
     */
    public static LowerIdentity detect(int rootFd, IdentityMode requested) throws ErrnoException {
        FileHandles.FsInfo fs = FileHandles.fsInfo(rootFd);
        boolean fuse = fs.type() == FileHandles.FUSE_SUPER_MAGIC;
        boolean handles;
        try {
            FileHandles.nameToHandle(rootFd, "");
            handles = true;
        } catch (ErrnoException e) {
            if (e.errno() != Errno.EOPNOTSUPP && e.errno() != Errno.ENOSYS && e.errno() != Errno.EINVAL) {
                throw e;
            }
            handles = false;
        }
        switch (requested) {
            case HANDLE -> {
                if (!handles) {
                    throw new ErrnoException(Errno.EOPNOTSUPP, "the lower gives no file handles; use --identity path");
                }
                return new LowerIdentity(IdentityMode.HANDLE, fs.fsid(), fs.type(), "forced by --identity handle"
                        + (fuse ? " (a FUSE lower: its handles change when the kernel forgets inodes)" : ""));
            }
            case PATH -> {
                return new LowerIdentity(IdentityMode.PATH, fs.fsid(), fs.type(), "forced by --identity path");
            }
            default -> {
                if (fuse) {
                    return new LowerIdentity(IdentityMode.PATH, fs.fsid(), fs.type(),
                            "FUSE-based lower: its handles and inode numbers change when the kernel forgets an inode");
                }
                if (!handles) {
                    return new LowerIdentity(IdentityMode.PATH, fs.fsid(), fs.type(), "the lower gives no file handles");
                }
                return new LowerIdentity(IdentityMode.HANDLE, fs.fsid(), fs.type(), "the lower gives stable file handles");
            }
        }
    }

    /** The identity of {@code path} (relative to the lower root {@code rootFd}) under this mode. */
    public FileId idOf(int rootFd, String path) throws ErrnoException {
        if (mode == IdentityMode.HANDLE) {
            FileHandles.Handle h = FileHandles.nameToHandle(rootFd, path);
            return FileId.ofHandle(fsid, h.type(), h.bytes());
        }
        return FileId.ofPath(fsid, path);
    }

}
