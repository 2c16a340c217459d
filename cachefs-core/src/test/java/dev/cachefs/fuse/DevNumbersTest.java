package dev.cachefs.fuse;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;
import org.junit.jupiter.api.Test;

class DevNumbersTest {
    @Test
    void fuseDeviceNumbersRoundTrip() {
        Random r = new Random(1);
        for (int i = 0; i < 10_000; i++) {
            int major = r.nextInt(1 << 12);
            int minor = r.nextInt(1 << 20);
            int enc = DevNumbers.encode(major, minor);
            assertEquals(major, DevNumbers.major(enc));
            assertEquals(minor, DevNumbers.minor(enc));
        }
        assertEquals(0x103, DevNumbers.encode(1, 3), "the kernel's new_encode_dev of 1:3");
    }

}
