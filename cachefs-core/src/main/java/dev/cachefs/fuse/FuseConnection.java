package dev.cachefs.fuse;

/**
 * What a filesystem may use of the live kernel connection: the negotiated capabilities and the
 * notifications that drop the kernel's caches. Notifications may be sent from any thread, but not
 * from inside a request on the same inode or directory (the kernel may hold the lock the
 * notification needs: libfuse documents the same deadlock).
 */
public interface FuseConnection {
    /** Protocol minor version in use. */
    int protocolMinor();

    /** Whether opens may be handed to the kernel with FUSE passthrough. */
    boolean passthroughAvailable();

    /** Drops cached attributes and the data range [offset, offset+length) (length 0: all; -1 offset: attrs only). */
    void invalidateInode(long nodeid, long offset, long length);

    /** Drops the kernel's name cache entry {@code name} in {@code parent}. */
    void invalidateEntry(long parent, String name);

    /** Tells the kernel that {@code name} in {@code parent} (node {@code child}) was deleted. */
    void notifyDelete(long parent, long child, String name);
}
