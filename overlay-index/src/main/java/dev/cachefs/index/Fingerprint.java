package dev.cachefs.index;

import dev.cachefs.nativeio.Stat;

/**
 * What says cached data is still current: the lower's size, modification and change times in
 * nanoseconds, and inode number. A change of any of them on the lower means the cached data of
 * the object may be stale.
 */
public record Fingerprint(long size, long mtimeNs, long ctimeNs, long ino) {
    public static Fingerprint of(Stat s) {
        return new Fingerprint(s.size(), s.mtimeSec() * 1_000_000_000L + s.mtimeNsec(),
                s.ctimeSec() * 1_000_000_000L + s.ctimeNsec(), s.ino());
    }

    /**
     * Whether {@code current} (just read from the lower) shows the same version as this one. With
     * path identity the inode number is not compared: FUSE-based lowers make it up anew whenever
     * the kernel forgets the inode.
     */
    public boolean sameVersion(Fingerprint current, IdentityMode mode) {
        return size == current.size && mtimeNs == current.mtimeNs && ctimeNs == current.ctimeNs
                && (mode == IdentityMode.PATH || ino == current.ino);
    }
}
