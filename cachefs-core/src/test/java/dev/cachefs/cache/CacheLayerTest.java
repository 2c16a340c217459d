package dev.cachefs.cache;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cachefs.index.CacheStore;
import dev.cachefs.index.IdentityMode;
import dev.cachefs.index.LowerIdentity;
import dev.cachefs.index.ObjectRecord;
import dev.cachefs.lower.CountingLowerFs;
import dev.cachefs.lower.LocalLowerFs;
import dev.cachefs.lower.LowerFs;
import dev.cachefs.nativeio.Libc;
import dev.cachefs.nativeio.Stat;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.InstantSource;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The cache layer on its own, over a real local lower and a real cache directory, no mount and no
 * kernel: what an open fetches and what a second open serves from the cache, what a new version on
 * the lower drops, and the dates a driven clock gives (culling order, the scrub's due list).
 */
class CacheLayerTest {
    private static final int CHUNK = 64 * 1024;

    /** A wall clock the test moves. */
    static final class TestClock implements InstantSource {
        final AtomicLong ms = new AtomicLong(1_800_000_000_000L);

        @Override
        public Instant instant() {
            return Instant.ofEpochMilli(ms.get());
        }

        void advance(long millis) {
            ms.addAndGet(millis);
        }
    }

    @TempDir
    Path tmp;
    private Path lowerDir;
    private CacheStore store;
    private LowerFs lower;
    private CacheLayer.Identifier ids;
    private CacheLayer cache;
    private final LongAdder lowerCalls = new LongAdder();
    private final LongAdder idLookups = new LongAdder();
    private final TestClock clock = new TestClock();

    @BeforeEach
    void setUp() throws Exception {
        lowerDir = Files.createDirectory(tmp.resolve("lower"));
        store = CacheStore.open(tmp.resolve("cache"), CHUNK, clock);
        lower = CountingLowerFs.wrap(new LocalLowerFs(lowerDir.toString()), lowerCalls);
        LowerIdentity id = LowerIdentity.detect(lowerDir.toString(), IdentityMode.AUTO);
        ids = CacheLayer.identifier(lowerDir.toString(), id);
        CacheLayer.Identifier counted = path -> {
            idLookups.increment();
            return ids.idOf(path);
        };
        cache = new CacheLayer(store, lower, counted, id.mode(), CacheLayer.Options.defaults(), new CacheStats());
    }

    @AfterEach
    void tearDown() throws Exception {
        cache.close();
        ids.close();
        lower.close();
        store.close();
    }

    private static byte[] bytes(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    /** Opens {@code name} through the cache as node {@code node} and reads all of it. */
    private byte[] readThrough(long node, String name) throws Exception {
        Stat st = lower.stat(name);
        CacheLayer.Opened o = cache.open(node, name, st, Libc.O_RDONLY, Libc.O_RDONLY, false);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(st.size() + 1);
            int n = 0;
            while (true) {
                int r = cache.read(o.handle(), n, buf.asSlice(n, Math.min(CHUNK, buf.byteSize() - n)));
                if (r <= 0) {
                    break;
                }
                n += r;
            }
            return buf.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE);
        } finally {
            cache.release(o.handle());
        }
    }

    @Test
    void aSecondOpenIsServedFromTheCacheAndANewVersionIsFetchedAgain() throws Exception {
        byte[] first = bytes(3 * CHUNK + 123, 1);
        Files.write(lowerDir.resolve("f"), first);
        assertArrayEquals(first, readThrough(2, "f"));
        long afterCold = lowerCalls.sum();
        long idsBefore = idLookups.sum();
        cache.forgetNode(2); // the kernel dropped its inode (memory pressure, drop_caches): a new node next
        assertArrayEquals(first, readThrough(3, "f"));
        long warmCalls = lowerCalls.sum() - afterCold;
        assertEquals(1, warmCalls, "a warm open asks the lower only for its attributes (the stat above)");
        assertEquals(idsBefore, idLookups.sum(), "and not for its identity again: the same object at the same path");
        assertEquals("cached", cache.stateOf("f").state());

        byte[] second = bytes(first.length, 2);
        Files.write(lowerDir.resolve("f"), second);
        Files.setLastModifiedTime(lowerDir.resolve("f"), java.nio.file.attribute.FileTime.fromMillis(1_000_000));
        cache.observe(3, lower.stat("f")); // what a getattr or the open's close-to-open check does
        assertArrayEquals(second, readThrough(3, "f"), "the old version is never served");
        assertTrue(cache.stats().snapshot().getOrDefault("invalidations", 0L) >= 1, cache.stats().snapshot().toString());
    }

    @Test
    void theFirstOpenAfterALookupRecordedTheAttributesInvalidatesNothing() throws Exception {
        byte[] data = bytes(CHUNK + 5, 3);
        Files.write(lowerDir.resolve("g"), data);
        cache.meta().attrs("g", lower.stat("g")); // what a lookup keeps: attributes, no version of the data
        assertArrayEquals(data, readThrough(2, "g"));
        assertEquals(0L, cache.stats().snapshot().getOrDefault("invalidations", 0L), cache.stats().snapshot().toString());
        assertEquals("cached", cache.stateOf("g").state());
    }

    @Test
    void aFileNoOneUsesStaysLoadedIdleYetIsEvictedAndRevalidatedAsEver() throws Exception {
        byte[] first = bytes(2 * CHUNK + 7, 11);
        Files.write(lowerDir.resolve("f"), first);
        readThrough(2, "f");
        cache.forgetNode(2);
        assertEquals(1, cache.idleObjects(), "let go by the kernel: kept loaded, the next open skips the index");
        long calls = lowerCalls.sum();
        assertArrayEquals(first, readThrough(3, "f"));
        assertEquals(1, lowerCalls.sum() - calls, "served from the cache: the lower gave only the open's stat");
        cache.forgetNode(3);
        // The read's readahead may still be storing a chunk (on a busy machine): the object is busy until then.
        long until = System.nanoTime() + 10_000_000_000L;
        CacheLayer.Evicted ev = cache.evictPath("f", false);
        while (ev.objects() == 0 && ev.busy() > 0 && System.nanoTime() < until) {
            Thread.sleep(10);
            ev = cache.evictPath("f", false);
        }
        assertEquals(1, ev.objects(), "an idle object's data is evicted like any other's: " + ev);
        assertEquals("metadata-only", cache.stateOf("f").state());
        calls = lowerCalls.sum();
        assertArrayEquals(first, readThrough(4, "f"));
        assertTrue(lowerCalls.sum() - calls > 1, "and fetched again");
        cache.forgetNode(4);
        byte[] second = bytes(first.length, 12);
        Files.write(lowerDir.resolve("f"), second);
        Files.setLastModifiedTime(lowerDir.resolve("f"), java.nio.file.attribute.FileTime.fromMillis(2_000_000));
        assertArrayEquals(second, readThrough(5, "f"), "an idle object's version is checked at the open");
    }

    @Test
    void anIdleObjectKeepsItsDataFileOpenUntilItsDataIsDropped() throws Exception {
        Files.write(lowerDir.resolve("f"), bytes(CHUNK + 3, 13));
        readThrough(2, "f");
        assertEquals(1, dataDescriptors(), "open while the kernel holds the node");
        cache.forgetNode(2);
        assertEquals(1, dataDescriptors(), "idle: the data file stays open, a repeat open walks no data directories");
        long calls = lowerCalls.sum();
        readThrough(3, "f");
        assertEquals(1, lowerCalls.sum() - calls, "served from the cache");
        cache.forgetNode(3);
        assertEquals(1, cache.evictPath("f", false).objects());
        assertEquals(0, dataDescriptors(), "evicted: its descriptor is closed with its data (the space comes back)");
    }

    /** Descriptors of this process open on files under the cache's data directory. */
    private long dataDescriptors() throws IOException {
        Path data = tmp.resolve("cache").toRealPath();
        long n = 0;
        try (var fds = Files.list(Path.of("/proc/self/fd"))) {
            for (Path fd : (Iterable<Path>) fds::iterator) {
                try {
                    Path target = Files.readSymbolicLink(fd);
                    if (target.startsWith(data.resolve("data")) && !Files.isDirectory(target)) {
                        n++;
                    }
                } catch (IOException gone) {
                    // closed meanwhile (the listing's own descriptor)
                }
            }
        }
        return n;
    }

    @Test
    void culledFirstIsWhatWasOpenedLongestAgoByTheClock() throws Exception {
        Files.write(lowerDir.resolve("old"), bytes(CHUNK, 3));
        Files.write(lowerDir.resolve("new"), bytes(CHUNK, 4));
        readThrough(2, "old");
        clock.advance(60_000);
        readThrough(3, "new");
        cache.flushIndex(); // chunks reach the index in the writer's batches
        List<ObjectRecord> order = store.index().census().cullCandidates(10);
        assertEquals(List.of("old", "new"), order.stream().map(ObjectRecord::path).toList());
    }

    @Test
    void theScrubChecksWhatTheClockSaysIsDueAndNothingElse() throws Exception {
        Files.write(lowerDir.resolve("f"), bytes(2 * CHUNK, 5));
        readThrough(2, "f");
        cache.flushIndex();
        long week = Scrubber.Options.defaults().intervalMs();
        assertTrue(store.index().data().scrubDue(clock.millis() - week, 10).isEmpty(), "fetched now: checked now");
        clock.advance(week + 1);
        assertFalse(store.index().data().scrubDue(clock.millis() - week, 10).isEmpty(), "a week later it is due");
        assertEquals(1, cache.scrubNow());
        assertTrue(store.index().data().scrubDue(clock.millis() - week, 10).isEmpty(), "checked at the clock's time");
        assertEquals(0, cache.stats().snapshot().getOrDefault("seal_mismatches", 0L));
    }
}
