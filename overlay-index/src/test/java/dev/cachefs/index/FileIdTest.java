package dev.cachefs.index;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

class FileIdTest {
    @Test
    void handleIdsRoundTripThroughTheirEncoding() {
        Random r = new Random(3);
        for (int i = 0; i < 1000; i++) {
            byte[] fsid = new byte[r.nextInt(17)];
            byte[] handle = new byte[r.nextInt(129)];
            r.nextBytes(fsid);
            r.nextBytes(handle);
            int type = r.nextInt();
            FileId id = FileId.ofHandle(fsid, type, handle);
            FileId back = FileId.decode(id.encoded());
            assertEquals(id, back);
            assertEquals(id.hashCode(), back.hashCode());
            assertTrue(back.isHandle());
            assertEquals(type, back.handleType());
            assertArrayEquals(fsid, back.fsid());
            assertArrayEquals(handle, back.body());
        }
    }

    @Test
    void pathIdsKeepRawBytes() {
        FileId id = FileId.ofPath(new byte[] {1, 2}, "dir/n\u00ffme");
        FileId back = FileId.decode(id.encoded());
        assertFalse(back.isHandle());
        assertArrayEquals(new byte[] {'d', 'i', 'r', '/', 'n', (byte) 0xff, 'm', 'e'}, back.body());
        assertNotEquals(id, FileId.ofPath(new byte[] {1, 2}, "dir/other"));
        assertNotEquals(id, FileId.ofPath(new byte[] {1, 3}, "dir/n\u00ffme"), "another filesystem");
    }

    @Test
    void theEncodingIsStable() {
        // A committed vector: an encoding change would orphan every existing cache.
        FileId id = FileId.ofHandle(new byte[] {(byte) 0xab, (byte) 0xcd}, 1, new byte[] {1, 2, 3});
        assertEquals("434601" + "01" + "02abcd" + "00000001" + "0003" + "010203", id.hex());
    }

    @Test
    void garbageIsRejected() {
        assertThrows(IllegalArgumentException.class, () -> FileId.decode(new byte[] {1, 2, 3}));
        assertThrows(IllegalArgumentException.class, () -> FileId.decode(new byte[] {'C', 'F', 9, 1, 0, 0, 0}));
        byte[] ok = FileId.ofPath(new byte[0], "abc").encoded();
        byte[] cut = java.util.Arrays.copyOf(ok, ok.length - 1);
        assertThrows(IllegalArgumentException.class, () -> FileId.decode(cut));
    }
}
