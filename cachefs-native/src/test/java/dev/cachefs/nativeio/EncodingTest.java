package dev.cachefs.nativeio;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class EncodingTest {
    @Test
    void rawPathsKeepEveryByte() {
        byte[] all = new byte[255];
        for (int i = 0; i < all.length; i++) {
            all[i] = (byte) (i + 1);
        }
        String raw = RawPath.fromBytes(all, 0, all.length);
        assertEquals(255, raw.length());
        org.junit.jupiter.api.Assertions.assertArrayEquals(all, RawPath.bytes(raw));
        assertEquals("h\u00c3\u00a9", RawPath.fromText("hé"), "text becomes its UTF-8 bytes");
        assertEquals("hé", RawPath.display(RawPath.fromText("hé")));
        assertEquals("a/b", RawPath.child("a", "b"));
        assertEquals("b", RawPath.child("", "b"));
    }

    @Test
    void glibcDevT() {
        assertEquals(0x0103L, Stat.makedev(1, 3));
        assertEquals(3, Stat.minorOf(Stat.makedev(1, 3)));
        assertEquals(70000, Stat.minorOf(Stat.makedev(0, 70000)));
        assertEquals(1, Stat.majorOf(Stat.makedev(1, 3)));
        assertEquals(5000, Stat.majorOf(Stat.makedev(5000, 70000)));
        assertEquals(70000, Stat.minorOf(Stat.makedev(5000, 70000)));
    }

    @Test
    void errnoNames() {
        assertEquals("ENOENT", Errno.name(Errno.ENOENT));
        assertEquals("errno 9999", Errno.name(9999));
        assertEquals("open: EACCES", new ErrnoException(Errno.EACCES, "open").getMessage());
    }
}
