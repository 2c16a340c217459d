package dev.cachefs.index;

import dev.cachefs.nativeio.Stat;
import java.nio.ByteBuffer;

/**
 * What an object's data file looked like when cachefs last wrote it: its inode number, size and
 * change time. A data file that no longer matches its seal was touched by something else (a disk
 * error that reached the file system, a stray tool, a user's mistake), so its chunks are checked
 * against their CRC32C before any is served again. Not a checksum: a write within the same ctime
 * tick that leaves the size unchanged goes unseen here; the background scrub catches that.
 *
 * <p>Encoding (in the index's {@code objects.seal}): version byte 1, then ino, size and ctime in
 * nanoseconds, each a big-endian long.
 */
public record DataSeal(long ino, long size, long ctimeNs) {
    private static final byte VERSION = 1;

    /** The seal of a data file whose attributes are {@code st}. */
    public static DataSeal of(Stat st) {
        return new DataSeal(st.ino(), st.size(), st.ctimeSec() * 1_000_000_000L + st.ctimeNsec());
    }

    public byte[] encode() {
        return ByteBuffer.allocate(25).put(VERSION).putLong(ino).putLong(size).putLong(ctimeNs).array();
    }

    /** The seal encoded in {@code b}, or null if there is none or it is of an unknown version. */
    public static DataSeal decode(byte[] b) {
        if (b == null || b.length != 25 || b[0] != VERSION) {
            return null;
        }
        ByteBuffer in = ByteBuffer.wrap(b, 1, 24);
        return new DataSeal(in.getLong(), in.getLong(), in.getLong());
    }
}
