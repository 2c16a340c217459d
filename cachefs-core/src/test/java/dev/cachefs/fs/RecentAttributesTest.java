package dev.cachefs.fs;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.cachefs.cache.CacheStats;
import dev.cachefs.lower.CountingLowerFs;
import dev.cachefs.lower.LocalLowerFs;
import dev.cachefs.lower.LowerFs;
import dev.cachefs.nativeio.Libc;
import dev.cachefs.nativeio.RawPath;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** meta_ttl on a clock the test moves: answers from memory while fresh, the lower after, and never for writers. */
class RecentAttributesTest {
    @TempDir
    Path tmp;

    @Test
    void freshAnswersCostNoRoundTripUntilTheTtlOrAChange() throws Exception {
        Files.createDirectory(tmp.resolve("d"));
        Files.writeString(tmp.resolve("d/f"), "12345");
        LongAdder calls = new LongAdder();
        AtomicLong now = new AtomicLong(1_000_000_000L);
        CacheStats stats = new CacheStats();
        try (LowerFs lower = CountingLowerFs.wrap(new LocalLowerFs(RawPath.fromText(tmp.toString())), calls)) {
            RecentAttributes r = new RecentAttributes(lower, stats, now::get);
            r.ttl(30_000);
            assertEquals(5, r.stat("d/f").size());
            assertEquals(5, r.stat("d/f").size());
            assertEquals(1, calls.sum(), "the second answer came from memory");
            assertEquals(1, stats.metaTtlHits.sum());

            now.addAndGet(TimeUnit.SECONDS.toNanos(29));
            r.stat("d/f");
            assertEquals(1, calls.sum(), "still fresh at 29 s");
            now.addAndGet(TimeUnit.SECONDS.toNanos(2));
            r.stat("d/f");
            assertEquals(2, calls.sum(), "asked again past 30 s");

            r.fresh(7, "d/f", null);
            assertEquals(3, calls.sum(), "an open always asks (close-to-open)");
            r.stat("d/f");
            assertEquals(3, calls.sum(), "and its answer is the newest remembered");

            r.stat("d");
            r.touched("d/f", false);
            r.stat("d/f");
            r.stat("d");
            assertEquals(6, calls.sum(), "a change through the mount drops the path and its parent (4 + 2)");

            r.openAt(42, "d/f", Libc.O_WRONLY);
            r.stat("d/f");
            r.stat("d/f");
            assertEquals(8, calls.sum(), "a file open for writing is always asked");
            r.closedAt(42);
            r.stat("d/f");
            r.stat("d/f");
            assertEquals(9, calls.sum(), "after its close, remembered again");

            r.ttl(0);
            r.stat("d/f");
            assertEquals(10, calls.sum(), "meta_ttl=0: always asked");
        }
    }
}
