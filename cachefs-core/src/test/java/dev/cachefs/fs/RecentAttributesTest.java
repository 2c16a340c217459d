package dev.cachefs.fs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

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

    @Test
    void whatAnEarlierMountKeptIsTrustedForTheRestOfItsTtlButNotPastAChangeOrAReconnection() throws Exception {
        Files.writeString(tmp.resolve("f"), "12345");
        Files.createDirectory(tmp.resolve("d"));
        Files.writeString(tmp.resolve("d/g"), "1");
        LongAdder calls = new LongAdder();
        AtomicLong nanos = new AtomicLong(5_000_000_000L);
        AtomicLong wall = new AtomicLong(1_800_000_000_000L);
        java.util.Map<String, FileCache.Remembered> index = new java.util.HashMap<>();
        CacheStats stats = new CacheStats();
        try (LowerFs lower = CountingLowerFs.wrap(new LocalLowerFs(RawPath.fromText(tmp.toString())), calls)) {
            // what the index kept: f seen 10 s ago with another size, d/g 40 s ago
            index.put("f", new FileCache.Remembered(sized(lower.stat("f"), 99), wall.get() - 10_000));
            index.put("d/g", new FileCache.Remembered(lower.stat("d/g"), wall.get() - 40_000));
            calls.reset();
            RecentAttributes r = new RecentAttributes(lower, stats, nanos::get,
                    (path, since) -> {
                        FileCache.Remembered k = index.get(path);
                        return k != null && k.seenMs() >= since ? k : null;
                    }, wall::get);
            r.ttl(30_000);
            assertEquals(99, r.stat("f").size(), "kept 10 s ago: trusted, as a running mount would");
            assertEquals(0, calls.sum());
            assertEquals(1, stats.metaIndexHits.sum());
            long left = r.trustedForNs("f");
            assertTrue(left > TimeUnit.SECONDS.toNanos(19) && left <= TimeUnit.SECONDS.toNanos(20), "for the 20 s left: " + left);
            assertEquals(1, r.stat("d/g").size());
            assertEquals(1, calls.sum(), "kept 40 s ago: past meta_ttl, asked");

            nanos.addAndGet(TimeUnit.SECONDS.toNanos(21));
            assertEquals(5, r.stat("f").size(), "its meta_ttl ran out: the lower's answer");
            assertEquals(2, calls.sum());

            index.put("f", new FileCache.Remembered(sized(lower.stat("f"), 77), wall.get()));
            calls.reset();
            r.touched("f", false);
            assertEquals(5, r.stat("f").size(), "changed through this mount: never the kept answer");
            index.put("d/g", new FileCache.Remembered(sized(lower.stat("d/g"), 55), wall.get()));
            calls.reset();
            r.touched("d", true);
            assertEquals(1, r.stat("d/g").size(), "nor below a directory changed through it");
            assertEquals(1, calls.sum());

            index.put("h", new FileCache.Remembered(sized(lower.stat("f"), 66), wall.get() - 1));
            wall.addAndGet(1);
            r.forgetAll(); // a reconnection or a replay
            calls.reset();
            assertEquals(dev.cachefs.nativeio.Errno.ENOENT, org.junit.jupiter.api.Assertions.assertThrows(
                    dev.cachefs.nativeio.ErrnoException.class, () -> r.stat("h")).errno());
            assertEquals(1, calls.sum(), "what was kept before a reconnection is asked of the lower again");
        }
    }

    /** Directory d with files f0, f1, ... of 0, 1, ... bytes. */
    private void filesOfSizes(int n) throws Exception {
        Files.createDirectory(tmp.resolve("d"));
        for (int i = 0; i < n; i++) {
            Files.writeString(tmp.resolve("d/f" + i), "x".repeat(i));
        }
    }

    private static dev.cachefs.nativeio.Stat sized(dev.cachefs.nativeio.Stat st, long size) {
        return new dev.cachefs.nativeio.Stat(st.ino(), size, st.blocks(), st.mode(), st.nlink(), st.uid(), st.gid(),
                st.rdevMajor(), st.rdevMinor(), st.blksize(), st.atimeSec(), st.atimeNsec(), st.mtimeSec(), st.mtimeNsec(),
                st.ctimeSec(), st.ctimeNsec(), st.dev());
    }

    @Test
    void aDirectoryFetchedAheadAnswersItsLookupsAndTheOpensRightAfter() throws Exception {
        filesOfSizes(5);
        LongAdder calls = new LongAdder();
        AtomicLong now = new AtomicLong(1_000_000_000L);
        CacheStats stats = new CacheStats();
        try (LowerFs lower = CountingLowerFs.wrap(new LocalLowerFs(RawPath.fromText(tmp.toString())), calls)) {
            RecentAttributes r = new RecentAttributes(lower, stats, now::get);
            java.util.List<String> names = java.util.List.of("d/f0", "d/f1", "d/f2", "d/f3", "d/f4", "d/gone");
            r.statAhead("d", names, false);
            assertEquals(0, calls.sum(), "meta_ttl 0: nothing is fetched ahead, every lookup asks");
            r.ttl(30_000);
            r.statAhead("d", names, false);
            assertEquals(6, calls.sum(), "one call for the directory's names (counted as the stats it makes)");
            assertEquals(5, stats.statsAhead.sum(), "a name that is gone is left to its lookup");
            for (int i = 0; i < 5; i++) {
                assertEquals(i, r.stat("d/f" + i).size());
            }
            assertEquals(6, calls.sum(), "the lookups that follow are answered from memory");
            assertEquals(3, r.fresh(9, "d/f3", null).size());
            assertEquals(6, calls.sum(), "an open right after the listing takes it as its close-to-open check");
            now.addAndGet(TimeUnit.MILLISECONDS.toNanos(1500));
            r.fresh(9, "d/f3", null);
            assertEquals(7, calls.sum(), "a second later the open asks the lower");
            now.addAndGet(TimeUnit.MILLISECONDS.toNanos(1500)); // not a run of opens in the directory
            r.stat("d/f4");
            r.fresh(9, "d/f4", null);
            assertEquals(8, calls.sum(), "nor does an older one, though still trusted for lookups");

            assertFalse(r.statAhead("d", names, true), "nothing to fetch (all fresh): the lower's directory is not listed");
            assertEquals(8, calls.sum());
            now.addAndGet(TimeUnit.SECONDS.toNanos(31));
            assertTrue(r.statAhead("d", names, true), "a cached listing's names past meta_ttl: listed first");
            assertEquals(8 + 3 + 6, calls.sum(), "the listing (open, a batch, the end), then the stats");
        }
    }
    @Test
    void opensOfSeveralNamesOfADirectoryInARowRevalidateItAsAWholeOnce() throws Exception {
        filesOfSizes(5);
        LongAdder calls = new LongAdder();
        AtomicLong now = new AtomicLong(1_000_000_000L);
        CacheStats stats = new CacheStats();
        try (LowerFs lower = CountingLowerFs.wrap(new LocalLowerFs(RawPath.fromText(tmp.toString())), calls)) {
            RecentAttributes r = new RecentAttributes(lower, stats, now::get);
            r.ttl(30_000);
            r.fresh(9, "d/f0", null);
            r.fresh(9, "d/f1", null);
            assertEquals(0, stats.dirsRevalidated.sum(), "answers that cost no round trip (the test's clock stands): no run");
            r.roundTripAtLeast(0); // every answer a round trip
            r.ttl(0);
            r.fresh(9, "d/f0", null);
            r.fresh(9, "d/f1", null);
            assertEquals(4, calls.sum(), "meta_ttl 0: every open asks alone");
            now.addAndGet(TimeUnit.SECONDS.toNanos(2));
            r.ttl(30_000);
            r.fresh(9, "d/f0", null);
            r.fresh(9, "d/f0", null);
            assertEquals(6, calls.sum(), "one file opened again is no run: asked alone");
            now.addAndGet(TimeUnit.MILLISECONDS.toNanos(10));
            r.stat("d/f1");
            r.fresh(9, "d/f1", null);
            assertEquals(8, calls.sum(), "a second file, and its open after its lookup: asked alone");
            assertEquals(0, stats.dirsRevalidated.sum());

            assertEquals(2, r.stat("d/f2").size());
            assertEquals(1, stats.dirsRevalidated.sum(), "the third name in a row: the directory as a whole");
            assertEquals(8 + 3 + 5, calls.sum(), "one listing (open, a batch, the end) and the stats of its five names");
            for (int i = 0; i < 5; i++) {
                assertEquals(i, r.fresh(9, "d/f" + i, null).size());
                assertEquals(i, r.stat("d/f" + i).size());
            }
            assertEquals(16, calls.sum(), "the opens and lookups of all its names ask nothing more");
            assertEquals(5, stats.opensAfterListing.sum());

            Files.writeString(tmp.resolve("d/f3"), "changed");
            r.touched("d/f3", false);
            assertEquals(7, r.fresh(9, "d/f3", null).size(), "a change through the mount: its next open asks");
            assertEquals(17, calls.sum(), "alone: the run's listing of a moment ago is not read again");
            Files.delete(tmp.resolve("d/f4"));
            now.addAndGet(TimeUnit.MILLISECONDS.toNanos(1500));
            r.fresh(9, "d/f2", null);
            r.fresh(9, "d/f1", null);
            var gone = org.junit.jupiter.api.Assertions.assertThrows(dev.cachefs.nativeio.ErrnoException.class,
                    () -> r.fresh(9, "d/f4", null), "a second later a run again, and a name gone since is gone");
            assertEquals(dev.cachefs.nativeio.Errno.ENOENT, gone.errno());
            assertEquals(2, stats.dirsRevalidated.sum());
        }
    }

    @Test
    void aRunWhoseListingFailsAsksTheNameAloneAndOfflineThereAreNoRuns() throws Exception {
        filesOfSizes(4);
        java.util.concurrent.atomic.AtomicInteger failWith = new java.util.concurrent.atomic.AtomicInteger();
        LongAdder stats = new LongAdder();
        LongAdder listings = new LongAdder();
        try (LowerFs lower = new dev.cachefs.lower.ForwardingLowerFs(new LocalLowerFs(RawPath.fromText(tmp.toString()))) {
            @Override
            protected void before(dev.cachefs.lower.LowerOp op) throws dev.cachefs.nativeio.ErrnoException {
                if (op == dev.cachefs.lower.LowerOp.OPENDIR) {
                    listings.increment();
                    if (failWith.get() != 0) {
                        throw new dev.cachefs.nativeio.ErrnoException(failWith.get(), "opendir");
                    }
                }
                if (op == dev.cachefs.lower.LowerOp.STAT) {
                    stats.increment();
                }
            }
        }) {
            AtomicLong now = new AtomicLong(1_000_000_000L);
            java.util.concurrent.atomic.AtomicBoolean online = new java.util.concurrent.atomic.AtomicBoolean(true);
            RecentAttributes r = new RecentAttributes(lower, new CacheStats(), now::get, new RecentAttributes.Kept() {
                @Override
                public FileCache.Remembered remembered(String path, long sinceMs) {
                    return null;
                }

                @Override
                public boolean online() {
                    return online.get();
                }
            }, () -> 1_800_000_000_000L);
            r.ttl(30_000);
            r.roundTripAtLeast(0);
            r.fresh(9, "d/f0", null);
            r.fresh(9, "d/f1", null);
            failWith.set(dev.cachefs.nativeio.Errno.ENOTCONN); // offline (ModalLowerFs): a listing the cache does not hold
            assertEquals(2, r.fresh(9, "d/f2", null).size(), "the run's listing failed: the name asked alone");
            assertEquals(1, listings.sum());
            assertEquals(3, stats.sum());

            online.set(false);
            failWith.set(0);
            now.addAndGet(TimeUnit.SECONDS.toNanos(2));
            for (int i = 0; i < 4; i++) {
                assertEquals(i, r.fresh(9, "d/f" + i, null).size());
            }
            assertEquals(1, listings.sum(), "offline the index answers: no run, no listing");
            assertEquals(7, stats.sum());
        }
    }

    @Test
    void aDirectoryAnEarlierMountKeptIsReadFromTheIndexInOneGoAndOnlyTheRestAsked() throws Exception {
        filesOfSizes(4);
        LongAdder calls = new LongAdder();
        AtomicLong wall = new AtomicLong(1_800_000_000_000L);
        java.util.Map<String, FileCache.Remembered> index = new java.util.HashMap<>();
        java.util.List<java.util.List<String>> batches = new java.util.ArrayList<>();
        CacheStats stats = new CacheStats();
        try (LowerFs lower = CountingLowerFs.wrap(new LocalLowerFs(RawPath.fromText(tmp.toString())), calls)) {
            index.put("d/f0", new FileCache.Remembered(sized(lower.stat("d/f0"), 40), wall.get() - 5_000));
            index.put("d/f1", new FileCache.Remembered(sized(lower.stat("d/f1"), 41), wall.get() - 5_000));
            index.put("d/f2", new FileCache.Remembered(sized(lower.stat("d/f2"), 42), wall.get() - 60_000)); // too old
            calls.reset();
            RecentAttributes r = new RecentAttributes(lower, stats, () -> 5_000_000_000L, new RecentAttributes.Kept() {
                @Override
                public FileCache.Remembered remembered(String path, long since) {
                    throw new AssertionError("asked one by one: " + path);
                }

                @Override
                public java.util.Map<String, FileCache.Remembered> rememberedAll(java.util.List<String> paths, long since) {
                    batches.add(paths);
                    java.util.Map<String, FileCache.Remembered> out = new java.util.HashMap<>();
                    for (String p : paths) {
                        FileCache.Remembered k = index.get(p);
                        if (k != null && k.seenMs() >= since) {
                            out.put(p, k);
                        }
                    }
                    return out;
                }
            }, wall::get);
            r.ttl(30_000);
            r.statAhead("d", java.util.List.of("d/f0", "d/f1", "d/f2", "d/f3"), false);
            assertEquals(java.util.List.of(java.util.List.of("d/f0", "d/f1", "d/f2", "d/f3")), batches,
                    "the index is asked once for the directory's names");
            assertEquals(2, calls.sum(), "the lower only for what it did not keep within meta_ttl");
            assertEquals(41, r.stat("d/f1").size(), "the kept answer");
            assertEquals(2, r.stat("d/f2").size(), "the lower's answer for the one kept too long ago");
            assertEquals(2, calls.sum(), "both from memory now");
            assertEquals(2, stats.metaIndexHits.sum());
        }
    }
}
