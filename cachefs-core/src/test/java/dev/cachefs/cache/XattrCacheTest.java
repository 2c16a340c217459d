package dev.cachefs.cache;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.cachefs.nativeio.Errno;
import dev.cachefs.nativeio.ErrnoException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** Extended attributes kept for the attribute timeout, and what a file just made is known not to have. */
class XattrCacheTest {
    private final XattrCache cache = new XattrCache(60_000_000_000L, new CacheStats());
    private final AtomicInteger asked = new AtomicInteger();

    /** A lower that has {@code value} as the attribute (asked for its size, then its bytes). */
    private XattrCache.Reader lowerWith(byte[] value) {
        return dst -> {
            asked.incrementAndGet();
            return XattrCache.copyOut(value, dst);
        };
    }

    @Test
    void aValueIsAskedOnceThenServedFromMemory() throws Exception {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment dst = a.allocate(16);
            assertEquals(3, cache.get("f", "user.x", dst, lowerWith(new byte[] {1, 2, 3})));
            int first = asked.get();
            assertEquals(3, cache.get("f", "user.x", dst, lowerWith(new byte[] {1, 2, 3})));
            assertEquals(first, asked.get());
        }
    }

    @Test
    void aNewFileHasNoCapabilitiesWithoutAskingTheLowerUntilItChangesThroughTheMount() throws Exception {
        cache.absent("new", "security.capability");
        try (Arena a = Arena.ofConfined()) {
            MemorySegment dst = a.allocate(64);
            ErrnoException e = assertThrows(ErrnoException.class,
                    () -> cache.get("new", "security.capability", MemorySegment.NULL, lowerWith(new byte[] {9})));
            assertEquals(Errno.ENODATA, e.errno());
            assertEquals(0, asked.get(), "the lower was asked");
            cache.drop("new"); // a setxattr through the mount
            assertEquals(1, cache.get("new", "security.capability", dst, lowerWith(new byte[] {9})));
            assertEquals(2, asked.get(), "size, then the value");
        }
    }
}
