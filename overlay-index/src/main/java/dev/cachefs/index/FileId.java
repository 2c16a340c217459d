package dev.cachefs.index;

import dev.cachefs.nativeio.RawPath;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.HexFormat;

/**
 * How cachefs knows a lower object, in the spirit of overlayfs's index: the lower filesystem's
 * identity plus either the object's file handle (where the lower's handles are stable) or its path
 * (where they are not: FUSE-based lowers). A small versioned value with a stable byte encoding:
 *
 * <pre>
 *   'C' 'F' version=1 kind(1=handle,2=path,3=provisional) fsidLen fsid...
 *   handle: type(int32 BE) len(uint16 BE) bytes...       path: len(uint16 BE) raw bytes...
 *   provisional: len(uint16 BE) 16 random bytes (an object made offline, unknown to the lower yet)
 * </pre>
 *
 * Equality is by encoding. The hex of the encoding names the object's data file in the store.
 */
public final class FileId {
    public static final int VERSION = 1;
    private static final byte KIND_HANDLE = 1;
    private static final byte KIND_PATH = 2;
    private static final byte KIND_PROVISIONAL = 3;

    private final byte[] encoded;

    private FileId(byte[] encoded) {
        this.encoded = encoded;
    }

    public static FileId ofHandle(byte[] fsid, int handleType, byte[] handle) {
        ByteArrayOutputStream out = header(KIND_HANDLE, fsid);
        out.write(handleType >>> 24);
        out.write(handleType >>> 16);
        out.write(handleType >>> 8);
        out.write(handleType);
        writeBytes(out, handle);
        return new FileId(out.toByteArray());
    }

    /** @param path raw path relative to the lower root ("" for the root) */
    public static FileId ofPath(byte[] fsid, String path) {
        ByteArrayOutputStream out = header(KIND_PATH, fsid);
        writeBytes(out, RawPath.bytes(path));
        return new FileId(out.toByteArray());
    }

    /** A fresh identity for an object made while disconnected; replay gives it its real one. */
    public static FileId provisional(byte[] fsid) {
        byte[] random = new byte[16];
        new java.security.SecureRandom().nextBytes(random);
        ByteArrayOutputStream out = header(KIND_PROVISIONAL, fsid);
        writeBytes(out, random);
        return new FileId(out.toByteArray());
    }

    public boolean isProvisional() {
        return encoded[3] == KIND_PROVISIONAL;
    }

    private static ByteArrayOutputStream header(byte kind, byte[] fsid) {
        if (fsid.length > 255) {
            throw new IllegalArgumentException("fsid longer than 255 bytes");
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream(32);
        out.write('C');
        out.write('F');
        out.write(VERSION);
        out.write(kind);
        out.write(fsid.length);
        out.writeBytes(fsid);
        return out;
    }

    private static void writeBytes(ByteArrayOutputStream out, byte[] b) {
        if (b.length > 0xffff) {
            throw new IllegalArgumentException("identity part longer than 65535 bytes");
        }
        out.write(b.length >>> 8);
        out.write(b.length);
        out.writeBytes(b);
    }

    /** Decodes and validates an encoding; IllegalArgumentException if it is not one. */
    public static FileId decode(byte[] encoded) {
        try {
            ByteBuffer b = ByteBuffer.wrap(encoded);
            if (b.get() != 'C' || b.get() != 'F') {
                throw new IllegalArgumentException("not a FileId (bad magic)");
            }
            int version = Byte.toUnsignedInt(b.get());
            if (version != VERSION) {
                throw new IllegalArgumentException("FileId version " + version + " is not supported");
            }
            byte kind = b.get();
            int fsidLen = Byte.toUnsignedInt(b.get());
            b.position(b.position() + fsidLen);
            if (kind == KIND_HANDLE) {
                b.getInt();
            } else if (kind != KIND_PATH && kind != KIND_PROVISIONAL) {
                throw new IllegalArgumentException("FileId kind " + kind + " is unknown");
            }
            int len = Short.toUnsignedInt(b.getShort());
            if (b.remaining() != len) {
                throw new IllegalArgumentException("FileId length mismatch");
            }
            return new FileId(encoded.clone());
        } catch (java.nio.BufferUnderflowException | IllegalArgumentException e) {
            throw e instanceof IllegalArgumentException iae ? iae : new IllegalArgumentException("truncated FileId");
        }
    }

    public byte[] encoded() {
        return encoded.clone();
    }

    public boolean isHandle() {
        return encoded[3] == KIND_HANDLE;
    }

    public byte[] fsid() {
        return Arrays.copyOfRange(encoded, 5, 5 + Byte.toUnsignedInt(encoded[4]));
    }

    /** The handle bytes or the raw path bytes. */
    public byte[] body() {
        int start = 5 + Byte.toUnsignedInt(encoded[4]) + (isHandle() ? 4 : 0);
        return Arrays.copyOfRange(encoded, start + 2, encoded.length);
    }

    public int handleType() {
        if (!isHandle()) {
            throw new IllegalStateException("a path identity has no handle type");
        }
        return ByteBuffer.wrap(encoded, 5 + Byte.toUnsignedInt(encoded[4]), 4).getInt();
    }

    public String hex() {
        return HexFormat.of().formatHex(encoded);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof FileId f && Arrays.equals(encoded, f.encoded);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(encoded);
    }

    @Override
    public String toString() {
        return (isHandle() ? "handle:" : isProvisional() ? "provisional:" : "path:") + hex();
    }
}
