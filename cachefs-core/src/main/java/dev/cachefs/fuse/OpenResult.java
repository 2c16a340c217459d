package dev.cachefs.fuse;

/**
 * The reply to open, opendir and create.
 *
 * @param fh the filesystem's handle, given back on every call on this open file
 * @param openFlags {@code Fuse.FOPEN_*} flags (keep cache, direct I/O, ...)
 * @param passthroughFd a descriptor of a local file that the kernel should read and write
 *     directly (FUSE passthrough), or -1. The session registers it with the kernel when the
 *     connection negotiated passthrough, and otherwise ignores it; the filesystem keeps owning
 *     the descriptor. The kernel allows one backing file per inode, so while a node has
 *     passthrough opens, later ones share the first one's registration (each still reads and
 *     writes with its own open flags). While a node has passthrough opens, every other open of
 *     it must be passthrough too: the kernel fails any other (FOPEN_DIRECT_IO included) with EIO.
 */
public record OpenResult(long fh, int openFlags, int passthroughFd) {
    public OpenResult(long fh, int openFlags) {
        this(fh, openFlags, -1);
    }
}
