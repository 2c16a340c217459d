package dev.cachefs.nativeio;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;

/**
 * Linux names are byte strings, not text: they may hold invalid UTF-8. Inside cachefs a name or
 * path is a {@link String} whose chars are those bytes one for one (Latin-1), so every name
 * survives unchanged from the kernel to the lower and back. Convert to real text only to show
 * it to a person ({@link #display}) and from real text only where a person typed it
 * ({@link #fromText}).
 */
public final class RawPath {
    private RawPath() {}

    public static String fromBytes(byte[] b, int off, int len) {
        return new String(b, off, len, StandardCharsets.ISO_8859_1);
    }

    public static String fromSegment(MemorySegment s, int len) {
        byte[] b = new byte[len];
        MemorySegment.copy(s, JAVA_BYTE, 0, b, 0, len);
        return fromBytes(b, 0, len);
    }

    public static byte[] bytes(String raw) {
        return raw.getBytes(StandardCharsets.ISO_8859_1);
    }

    /** A raw path from text a person gave (a command-line argument, a Java {@code Path}). */
    public static String fromText(String text) {
        return new String(text.getBytes(StandardCharsets.UTF_8), StandardCharsets.ISO_8859_1);
    }

    /** The raw path as text for people: its bytes decoded as UTF-8. */
    public static String display(String raw) {
        return new String(bytes(raw), StandardCharsets.UTF_8);
    }

    /** Joins a directory path and a name; the root is the empty path. */
    public static String child(String dir, String name) {
        return dir.isEmpty() ? name : dir + "/" + name;
    }
}
