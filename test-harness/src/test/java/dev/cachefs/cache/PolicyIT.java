package dev.cachefs.cache;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.cachefs.harness.Lower;
import dev.cachefs.harness.Lowers;
import dev.cachefs.harness.Stack;
import dev.cachefs.harness.Sys;
import dev.cachefs.nativeio.Libc;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The config's caching rules under a real mount: pins made by pattern, files kept out of the cache. */
@Timeout(120)
class PolicyIT {
    private Lower local;
    private Stack stack;

    @BeforeEach
    void setUp() {
        local = Lowers.start("local");
    }

    @AfterEach
    void tearDown() {
        if (stack != null) {
            stack.close();
        }
        local.close();
    }

    private static byte[] random(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    private static String state(String path) throws Exception {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(64);
            long n = Libc.lgetxattr(path, "user.cachefs.state", buf);
            return new String(buf.asSlice(0, n).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE), StandardCharsets.US_ASCII);
        }
    }

    @Test
    void pinPatternsAreFetchedAndNoCacheFilesAreReadFromTheLowerEachTime() throws Exception {
        Stack.Builder b = Stack.on(local);
        Policy policy = Policy.parse(List.of("pin: keep/**", "no-cache: *.iso", "max-file-size: 100K"), "test");
        stack = b.policy(policy).mount();
        Path low = stack.lower;
        Files.createDirectories(low.resolve("keep/deep"));
        Files.write(low.resolve("keep/a"), random(50_000, 1));
        Files.write(low.resolve("keep/deep/b"), random(60_000, 2));
        Files.write(low.resolve("keep/skip.iso"), random(10_000, 3));
        Files.write(low.resolve("disc.iso"), random(30_000, 4));
        Files.write(low.resolve("huge"), random(200_000, 5));
        Files.write(low.resolve("small"), random(20_000, 6));
        // The pins ran at mount, before these files existed; a later run (each reconnection) finds them.
        assertEquals(2, stack.cache.pinByPolicy(policy));
        assertEquals("cached", state(stack.inMnt("keep/a")));
        assertEquals("cached", state(stack.inMnt("keep/deep/b")));
        long before = stack.stats().snapshot().get("bytes_from_lower");
        assertArrayEquals(random(50_000, 1), Sys.readAll(stack.inMnt("keep/a")));
        assertEquals(before, stack.stats().snapshot().get("bytes_from_lower"), "pinned data is read from the cache");

        for (int i = 0; i < 2; i++) {
            assertArrayEquals(random(30_000, 4), Sys.readAll(stack.inMnt("disc.iso")));
            assertArrayEquals(random(200_000, 5), Sys.readAll(stack.inMnt("huge")));
            assertArrayEquals(random(20_000, 6), Sys.readAll(stack.inMnt("small")));
        }
        assertEquals(4, stack.stats().snapshot().get("policy_uncached_opens"), "no-cache and oversized opens skip the cache");
        assertEquals("cached", state(stack.inMnt("small")));
        assertEquals(true, List.of("metadata-only", "uncached").contains(state(stack.inMnt("huge"))), "not cached");
        assertEquals(true, List.of("metadata-only", "uncached").contains(state(stack.inMnt("keep/skip.iso"))),
                "no-cache wins over the pin pattern");

        // Written through the mount, a no-cache file still reaches the lower.
        Files.write(stack.mnt.resolve("new.iso"), random(5000, 7));
        assertArrayEquals(random(5000, 7), Files.readAllBytes(low.resolve("new.iso")));
    }

    @Test
    void pinsHaveTheirOwnBudget() throws Exception {
        CacheLayer.Options o = CacheLayer.Options.defaults().withLimits(new CacheLayer.Limits(0, 0, 7, 3, 10, 3 << 20));
        stack = Stack.on(local).cacheOptions(o).mount();
        Files.write(stack.lower.resolve("two"), random(2 << 20, 1));
        Files.write(stack.lower.resolve("more"), random(2 << 20, 2));
        stack.cache.pin("two", false, p -> {});
        var e = org.junit.jupiter.api.Assertions.assertThrows(java.io.IOException.class,
                () -> stack.cache.pin("more", false, p -> {}));
        org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("pin budget"), e.getMessage());
        assertEquals("cached", state(stack.inMnt("two")));
        assertArrayEquals(random(2 << 20, 2), Sys.readAll(stack.inMnt("more")), "reads are not limited by the pin budget");
        stack.cache.unpin("two", false);
        stack.cache.pin("more", false, p -> {});
        assertEquals("cached", state(stack.inMnt("more")));
    }
}
