package dev.cachefs.fuse;

import dev.cachefs.nativeio.Stat;

/**
 * The reply to a name lookup (and to every call that creates a name). {@code nodeid} 0 with a
 * timeout is a negative entry: the kernel remembers that the name does not exist.
 *
 * @param entryTimeoutNs how long the kernel may trust the name to node binding
 * @param attrTimeoutNs how long the kernel may trust {@code attr}
 */
public record Entry(long nodeid, long generation, Stat attr, long entryTimeoutNs, long attrTimeoutNs) {
    public static Entry negative(long timeoutNs) {
        return new Entry(0, 0, null, timeoutNs, 0);
    }
}
