package dev.cachefs.cache;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cachefs.harness.Lower;
import dev.cachefs.harness.Lowers;
import dev.cachefs.harness.Stack;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;

/** A cache smaller than the data: culling holds the limit, open files keep their data, reads stay right. */
@Timeout(120)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class CullingIT {
    static final int CHUNK = 128 * 1024;
    static final long LIMIT = 1024 * 1024;

    private Lower lower;
    private Stack fx;

    @BeforeAll
    void start() {
        lower = Lowers.start("local");
    }

    @AfterAll
    void stop() {
        lower.close();
    }

    @AfterEach
    void unmount() {
        if (fx != null) {
            fx.close();
        }
    }

    private Stack mount(long limit) throws Exception {
        CacheLayer.Limits l = new CacheLayer.Limits(limit, 0, 0, 0, 0);
        fx = Stack.on(lower).chunkSize(CHUNK).cacheOptions(CacheLayer.Options.defaults().withLimits(l)).mount();
        return fx;
    }

    private static List<byte[]> files(Stack s, int n, int size, long seed) throws Exception {
        Random rnd = new Random(seed);
        List<byte[]> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            byte[] d = new byte[size];
            rnd.nextBytes(d);
            Files.write(s.lower.resolve("f" + i), d);
            out.add(d);
        }
        return out;
    }

    @Test
    void cullingHoldsTheLimitAndEveryReadStaysRight() throws Exception {
        Stack s = mount(LIMIT);
        List<byte[]> data = files(s, 20, 256 * 1024, 1);
        for (int round = 0; round < 2; round++) {
            for (int i = 0; i < data.size(); i++) {
                assertArrayEquals(data.get(i), Files.readAllBytes(s.mnt.resolve("f" + i)), "f" + i + " round " + round);
            }
            s.cache.cull();
            assertTrue(s.cache.usedBytes() <= LIMIT, "within the limit after a pass: " + s.cache.usedBytes());
        }
        assertTrue(s.stats().culledBytes.sum() > 0 && s.stats().culledFiles.sum() > 0, s.stats().snapshot().toString());
    }

    @Test
    void aOneTimeScanDoesNotPushOutTheFilesInUse() throws Exception {
        Stack s = mount(LIMIT);
        List<byte[]> hot = files(s, 3, 128 * 1024, 6);
        for (int round = 0; round < 3; round++) {
            for (int i = 0; i < hot.size(); i++) {
                assertArrayEquals(hot.get(i), Files.readAllBytes(s.mnt.resolve("f" + i)));
            }
        }
        Files.createDirectories(s.lower.resolve("scan"));
        Random rnd = new Random(7);
        for (int i = 0; i < 20; i++) { // 2.5 MiB read once, through a 1 MiB cache
            byte[] d = new byte[128 * 1024];
            rnd.nextBytes(d);
            Files.write(s.lower.resolve("scan/s" + i), d);
            assertArrayEquals(d, Files.readAllBytes(s.mnt.resolve("scan/s" + i)));
        }
        s.cache.cull();
        assertTrue(s.cache.usedBytes() <= LIMIT, "within the limit: " + s.cache.usedBytes());
        for (int i = 0; i < hot.size(); i++) {
            // With plain LRU all three would be gone: the scan is more recent than any of them.
            assertEquals("cached", s.cache.stateOf("f" + i).state(), "f" + i + " survived the scan");
        }
    }

    @Test
    void anOpenFileKeepsItsDataWhileOthersAreCulled() throws Exception {
        Stack s = mount(LIMIT);
        List<byte[]> data = files(s, 12, 256 * 1024, 2);
        try (FileChannel held = FileChannel.open(s.mnt.resolve("f0"), StandardOpenOption.READ)) {
            ByteBuffer b = ByteBuffer.allocate(data.get(0).length);
            while (b.hasRemaining() && held.read(b, b.position()) > 0) {
                // the whole file, into the cache
            }
            assertArrayEquals(data.get(0), b.array());
            for (int i = 1; i < data.size(); i++) {
                assertArrayEquals(data.get(i), Files.readAllBytes(s.mnt.resolve("f" + i)));
            }
            s.cache.cull();
            long reads = s.stats().lowerReads.sum();
            ByteBuffer again = ByteBuffer.allocate(data.get(0).length);
            while (again.hasRemaining() && held.read(again, again.position()) > 0) {
                // again, through the same open file
            }
            assertArrayEquals(data.get(0), again.array());
            assertEquals(reads, s.stats().lowerReads.sum(), "the open file's data was not culled");
        }
        assertTrue(s.stats().culledFiles.sum() > 0, s.stats().snapshot().toString());
    }

    @Test
    void aFileLargerThanTheCacheIsReadWholeAndPassedThrough() throws Exception {
        Stack s = mount(512 * 1024);
        byte[] big = files(s, 1, 4 * 1024 * 1024, 3).get(0);
        assertArrayEquals(big, Files.readAllBytes(s.mnt.resolve("f0")));
        assertArrayEquals(big, Files.readAllBytes(s.mnt.resolve("f0")));
        assertTrue(s.stats().uncachedBytes.sum() > 0, "what did not fit was served without caching: " + s.stats().snapshot());
        s.cache.cull();
        assertTrue(s.cache.usedBytes() <= 512 * 1024 + CHUNK, "the limit held (one chunk of slack): " + s.cache.usedBytes());
    }

    @Test
    void pinnedDataSurvivesCullingUntilUnpinned() throws Exception {
        Stack s = mount(LIMIT);
        java.nio.file.Files.createDirectories(s.lower.resolve("keep/sub"));
        Random rnd = new Random(4);
        List<byte[]> kept = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            byte[] d = new byte[512 * 1024];
            rnd.nextBytes(d);
            Files.write(s.lower.resolve(i % 2 == 0 ? "keep/k" + i : "keep/sub/k" + i), d);
            kept.add(d);
        }
        CacheLayer.PinProgress p = s.cache.pin("keep", true, x -> { });
        assertEquals(6, p.files());
        assertEquals(6L * 512 * 1024, p.bytes());
        List<byte[]> others = files(s, 12, 256 * 1024, 5);
        for (int i = 0; i < others.size(); i++) {
            assertArrayEquals(others.get(i), Files.readAllBytes(s.mnt.resolve("f" + i)));
        }
        s.cache.cull();
        assertTrue(s.cache.usedBytes() <= LIMIT, "unpinned data within the limit: " + s.cache.usedBytes());
        long reads = s.stats().lowerReads.sum();
        for (int i = 0; i < 6; i++) {
            assertArrayEquals(kept.get(i), Files.readAllBytes(s.mnt.resolve(i % 2 == 0 ? "keep/k" + i : "keep/sub/k" + i)));
        }
        assertEquals(reads, s.stats().lowerReads.sum(), "pinned files (3 MiB, over the 1 MiB limit) all still cached");
        assertEquals(6, s.cache.pins().size(), s.cache.pins().toString());
        // Pinning again is a no-op read-wise (resumable).
        s.cache.pin("keep", true, x -> { });
        assertEquals(reads, s.stats().lowerReads.sum());

        assertEquals(6, s.cache.unpin("keep", true));
        s.cache.cull();
        assertTrue(s.cache.usedBytes() <= LIMIT, "unpinned, they count and are culled: " + s.cache.usedBytes());
        assertTrue(s.cache.pins().isEmpty());
        CacheLayer.Evicted e = s.cache.evictPath("", true);
        assertEquals(0, e.busy());
        assertEquals(0, s.cache.usedBytes(), "evict of the root dropped everything");
    }
}
