package dev.cachefs.harness;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cachefs.fs.StackedFs;
import dev.cachefs.lower.LowerOp;
import dev.cachefs.lower.LocalLowerFs;
import dev.cachefs.nativeio.Errno;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Libc;
import dev.cachefs.offline.Connectivity;
import dev.cachefs.mount.Uplink;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The seeded fault-injecting lower, under a real cachefs mount: each fault shows to the caller. */
@Timeout(120)
class FaultInjectionIT {
    private Lower local;
    private Stack stack;
    private FaultyLowerFs faulty;
    private Uplink.Options uplink = Uplink.Options.defaults();

    @BeforeEach
    void setUp() {
        local = Lowers.start("local");
    }

    @AfterEach
    void tearDown() {
        if (faulty != null) {
            faulty.releaseHangs(); // a hung call must not keep the unmount waiting
        }
        if (stack != null) {
            stack.close();
        }
        local.close();
    }

    private void mount(Consumer<FaultyLowerFs> faults) throws Exception {
        mount(faults, true);
    }

    private void mount(Consumer<FaultyLowerFs> faults, boolean cached) throws Exception {
        // No kernel caching, so every call reaches the lower and its faults.
        StackedFs.Options o = new StackedFs.Options(0, 0, false);
        Stack.Builder b = Stack.on(local).options(o).mountOptions(Mounts.testOptions().withPassthrough(false)).uplink(uplink).wrap(inner -> {
            faulty = new FaultyLowerFs(inner, 42);
            faults.accept(faulty);
            return faulty;
        });
        if (!cached) {
            b.noCache(); // every open reaches the lower (a cached file is opened without it)
        }
        stack = b.mount();
    }

    private static int errnoOf(Sys.Call<?> c) {
        try {
            c.call();
            return 0;
        } catch (ErrnoException e) {
            return e.errno();
        }
    }

    @Test
    void eioOnReadsReachesTheReaderAndHealingEndsIt() throws Exception {
        mount(f -> {});
        byte[] data = new byte[4 * 1024 * 1024];
        Sys.writeAll(stack.inLower("f"), data);
        // Every READ: the kernel retries a failed readahead page by page, so one fault alone may not show.
        faulty.inject(FaultyLowerFs.failAll(LowerOp.READ, Errno.EIO));
        assertEquals(Errno.EIO, errnoOf(() -> Sys.readAll(stack.inMnt("f"))), "reads fail with EIO");
        assertTrue(faulty.calls(LowerOp.READ) >= 1);
        faulty.heal();
        assertEquals(data.length, Sys.readAll(stack.inMnt("f")).length, "healed, the file reads whole");
    }

    @Test
    void theNthOpenFailsAndOnlyIt() throws Exception {
        mount(f -> {}, false);
        Files.writeString(stack.lower.resolve("g"), "g");
        faulty.inject(FaultyLowerFs.failNth(LowerOp.OPEN, faulty.calls(LowerOp.OPEN) + 2, Errno.EIO));
        List<Integer> outcomes = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            outcomes.add(errnoOf(() -> Sys.readAll(stack.inMnt("g"))));
        }
        assertEquals(List.of(0, Errno.EIO, 0), outcomes);
    }

    @Test
    void enospcOnceTheWriteBudgetIsSpent() throws Exception {
        mount(f -> f.inject(FaultyLowerFs.noSpaceAfter(1024 * 1024)));
        byte[] data = new byte[4 * 1024 * 1024];
        assertEquals(Errno.ENOSPC, errnoOf(() -> {
            Sys.writeAll(stack.inMnt("big"), data);
            return null;
        }));
        long onLower = Files.size(stack.lower.resolve("big"));
        assertTrue(onLower >= 1024 * 1024 && onLower < data.length, "stopped after the budget: " + onLower);
    }

    @Test
    void aHungLowerCostsOneDeadlineThenTheCacheAnswers() throws Exception {
        // Manual reconnection: the probe reaches the real directory, not this hung wrapper.
        uplink = Uplink.Options.defaults().withDeadline(1000).withReconnect(Connectivity.Reconnect.MANUAL);
        mount(f -> {});
        byte[] data = new byte[300_000];
        new java.util.Random(5).nextBytes(data);
        Sys.writeAll(stack.inLower("cached"), data);
        Files.writeString(stack.lower.resolve("x"), "x");
        Files.writeString(stack.lower.resolve("seen"), "attributes only");
        assertArrayEquals(data, Sys.readAll(stack.inMnt("cached")));
        Libc.lstat(stack.inMnt("seen"));
        stack.cache.flushIndex();
        faulty.inject(FaultyLowerFs.hang(LowerOp.STAT));
        faulty.inject(FaultyLowerFs.hang(LowerOp.OPEN));
        CompletableFuture<Integer> stat = new CompletableFuture<>();
        long t0 = System.nanoTime();
        Thread.ofPlatform().daemon().start(() -> {
            try {
                Libc.lstat(stack.inMnt("x"));
                stat.complete(0);
            } catch (ErrnoException e) {
                stat.complete(e.errno());
            }
        });
        int errno = stat.get(5, TimeUnit.SECONDS); // fails the test (TimeoutException) if the mount hangs
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        assertEquals(Errno.ENOENT, errno, "a name the cache never saw, with the lower hung: ENOENT (see the docs)");
        assertTrue(ms >= 900, "it waited the deadline out first: " + ms + " ms");
        assertTrue(stack.uplink.connectivity().offline(), "the deadline took the mount offline");
        long t1 = System.nanoTime();
        assertArrayEquals(data, Sys.readAll(stack.inMnt("cached")), "cached data is served offline");
        assertEquals(Errno.ENOTCONN, errnoOf(() -> Sys.readAll(stack.inMnt("seen"))), "data not cached: ENOTCONN");
        assertTrue(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t1) < 900, "offline, nothing waits for the lower");
        faulty.heal();
        faulty.releaseHangs();
        assertEquals("online", stack.uplink.connectivity().goOnline("test", true));
        assertEquals("x", Files.readString(stack.mnt.resolve("x")), "online again, the lower answers");
    }

    /**
     * The save that finds the lower gone (its stat still answered, as a client's attribute cache
     * does, but the open hangs) is carried out offline and journaled, not failed: the request runs
     * once more after the deadline took the mount offline.
     */
    @Test
    void theChangeThatFindsTheLowerGoneRunsAgainOffline() throws Exception {
        uplink = Uplink.Options.defaults().withDeadline(1000).withReconnect(Connectivity.Reconnect.MANUAL);
        mount(f -> {});
        Files.writeString(stack.lower.resolve("doc.txt"), "before");
        assertEquals("before", Files.readString(stack.mnt.resolve("doc.txt")));
        stack.cache.flushIndex();
        faulty.inject(FaultyLowerFs.hang(LowerOp.OPEN));
        long opensBefore = faulty.calls(LowerOp.OPEN);
        CompletableFuture<Integer> save = new CompletableFuture<>();
        Thread.ofPlatform().daemon().start(() -> {
            try {
                Sys.writeAll(stack.inMnt("doc.txt"), "saved as the link went".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
                save.complete(0);
            } catch (ErrnoException e) {
                save.complete(e.errno());
            }
        });
        assertEquals(0, save.get(10, TimeUnit.SECONDS), "the save succeeds");
        assertTrue(faulty.calls(LowerOp.OPEN) > opensBefore, "the open for writing reached the lower, and found it gone");
        assertTrue(stack.uplink.connectivity().offline());
        assertEquals("saved as the link went", Files.readString(stack.mnt.resolve("doc.txt")));
        assertEquals("before", Files.readString(stack.lower.resolve("doc.txt")), "not on the lower yet");
        assertFalse(stack.uplink.journal().isEmpty(), "journaled");
        faulty.heal();
        faulty.releaseHangs();
        assertEquals("online", stack.uplink.connectivity().goOnline("test", true));
        assertEquals("saved as the link went", Files.readString(stack.lower.resolve("doc.txt")), "replayed");
    }

    @Test
    void uploadsSideBySideThatEachFindTheirDirectoryGoneMakeItOnceAndAllLand() throws Exception {
        uplink = Uplink.Options.defaults().withWriteBack(600_000); // uploads only when asked
        mount(f -> {});
        Path lowerDir = Files.createDirectories(stack.lower.resolve("gone"));
        Path m = stack.mnt.resolve("gone");
        try (var l = Files.list(m)) {
            assertEquals(0, l.count());
        }
        for (int i = 0; i < 24; i++) {
            Files.writeString(m.resolve("f" + i), "file " + i);
        }
        Files.delete(lowerDir); // removed on the server before the upload
        // Every upload of the batch finds the directory gone and makes it again; a slow mkdir lets
        // them all look before the first one has made it, so all but one meet EEXIST.
        faulty.inject(FaultyLowerFs.slow(LowerOp.MKDIR, 300));
        assertTrue(stack.uplink.uploadQueued(60_000), "the upload goes on past the EEXIST of the others");
        assertTrue(faulty.calls(LowerOp.MKDIR) > 1, "several uploads made the directory again: " + faulty.calls(LowerOp.MKDIR));
        for (int i = 0; i < 24; i++) {
            assertEquals("file " + i, Files.readString(lowerDir.resolve("f" + i)));
        }
        long said = stack.uplink.conflicts().stream().filter(c -> c.kind().equals("created-in-directory-removed-remotely")).count();
        assertEquals(1, said, "said once: " + stack.uplink.conflicts());
    }

    /**
     * An upload started and held at one lower call until {@code release} counts down; {@code at}
     * counts down once it is there.
     */
    private record Held(CompletableFuture<Boolean> upload, java.util.concurrent.CountDownLatch at,
                        java.util.concurrent.CountDownLatch release) {
        boolean reached() throws InterruptedException {
            return at.await(30, TimeUnit.SECONDS);
        }
    }

    /**
     * Starts the upload of what is queued, holding it in its first fsync (its temporary file is on
     * the lower then, not yet renamed over its target).
     */
    private Held uploadHeldInFsync() {
        return uploadHeld((op, nth) -> op == LowerOp.FSYNC);
    }

    /** Starts the upload of what is queued, holding it at the lower call {@code at} picks. */
    private Held uploadHeld(java.util.function.BiPredicate<LowerOp, Long> at) {
        java.util.concurrent.CountDownLatch held = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        faulty.inject((op, nth, fs) -> {
            if (at.test(op, nth)) {
                held.countDown();
                try {
                    release.await(30, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        });
        return new Held(CompletableFuture.supplyAsync(() -> {
            try {
                return stack.uplink.uploadQueued(60_000);
            } catch (ErrnoException e) {
                throw new IllegalStateException(e);
            }
        }), held, release);
    }

    /** The names in {@code dir}, sorted. */
    private static List<String> listed(Path dir) throws java.io.IOException {
        try (var l = Files.list(dir)) {
            return l.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void aTruncateThatWaitedForTheUploadOfItsFileIsNotLost() throws Exception {
        uplink = Uplink.Options.defaults().withWriteBack(600_000); // uploads only when asked
        mount(f -> {});
        Path file = stack.mnt.resolve("cut.txt");
        Files.writeString(file, "0123456789".repeat(100));
        Held upload = uploadHeldInFsync();
        CompletableFuture<Void> truncate;
        try {
            assertTrue(upload.reached(), "the upload reached its fsync");
            // A truncate by path while the file's upload runs: it waits for that upload, which
            // then retires the local copy; the truncate must reach the file as it is after.
            truncate = CompletableFuture.runAsync(() -> {
                try {
                    Libc.truncate(Sys.raw(file), 10);
                } catch (ErrnoException e) {
                    throw new IllegalStateException(e);
                }
            });
            Thread.sleep(300);
            assertFalse(truncate.isDone(), "the truncate waits for the upload of the version it changes");
        } finally {
            upload.release().countDown();
        }
        truncate.get(60, TimeUnit.SECONDS);
        assertTrue(upload.upload().get(60, TimeUnit.SECONDS));
        assertEquals(10, Files.size(file), "the mount shows the truncate");
        assertEquals("0123456789", Files.readString(file));
        assertTrue(stack.uplink.uploadQueued(60_000));
        assertEquals("0123456789", Files.readString(stack.lower.resolve("cut.txt")), "and so does the lower");
    }

    @Test
    void anUploadsTemporaryFileIsNeverShownThroughTheMount() throws Exception {
        uplink = Uplink.Options.defaults().withWriteBack(600_000); // uploads only when asked
        mount(f -> {});
        Files.createDirectories(stack.mnt.resolve("t"));
        Files.writeString(stack.mnt.resolve("t/doc.txt"), "queued");
        Held upload = uploadHeldInFsync();
        try {
            assertTrue(upload.reached(), "the upload reached its fsync");
            List<String> onLower = listed(stack.lower.resolve("t"));
            String tmp = onLower.stream().filter(n -> n.startsWith(".cachefs-upload-")).findFirst()
                    .orElseThrow(() -> new AssertionError("the upload's temporary file is on the lower: " + onLower));
            assertEquals(List.of("doc.txt"), listed(stack.mnt.resolve("t")), "the mount lists only the file");
            assertFalse(Files.exists(stack.mnt.resolve("t/" + tmp)), "nor finds the temporary name");
        } finally {
            upload.release().countDown();
        }
        assertTrue(upload.upload().get(60, TimeUnit.SECONDS));
        assertEquals("queued", Files.readString(stack.lower.resolve("t/doc.txt")));
    }

    /**
     * A new file renamed in the queue is uploaded as its create, then its rename: between the two
     * the lower has the file at the name it left, which the mount never showed and must not show
     * (listed and stat'ed there mid-upload, it was gone at the open: RandomOpsIT's write-back seed
     * 8, once the ordered upload ran beside the mount).
     */
    @Test
    void aNameARenameInTheQueueLeftIsNotShownWhileItsUploadPassesThroughIt() throws Exception {
        uplink = Uplink.Options.defaults().withWriteBack(600_000); // uploads only when asked
        mount(f -> {});
        Files.createDirectories(stack.mnt.resolve("r"));
        Files.writeString(stack.mnt.resolve("r/out.tmp"), "built");
        Files.move(stack.mnt.resolve("r/out.tmp"), stack.mnt.resolve("r/out.bin"));
        long renamesBefore = faulty.calls(LowerOp.RENAME);
        // The upload's first rename puts its temporary file at out.tmp; the second moves it on.
        Held upload = uploadHeld((op, nth) -> op == LowerOp.RENAME && nth == renamesBefore + 2);
        try {
            assertTrue(upload.reached(), "the upload reached the queued rename");
            assertTrue(Files.exists(stack.lower.resolve("r/out.tmp")), "the lower has the left name for now");
            assertEquals(List.of("out.bin"), listed(stack.mnt.resolve("r")), "the mount lists only the file's name");
            assertFalse(Files.exists(stack.mnt.resolve("r/out.tmp")), "nor finds the name it left");
            assertEquals("built", Files.readString(stack.mnt.resolve("r/out.bin")));
        } finally {
            upload.release().countDown();
        }
        assertTrue(upload.upload().get(60, TimeUnit.SECONDS));
        assertEquals("built", Files.readString(stack.lower.resolve("r/out.bin")));
        assertFalse(Files.exists(stack.lower.resolve("r/out.tmp")));
    }

    @Test
    void whileAnUploadIsSlowTheMountGoesOnAndOnlyChangesToItsFileWait() throws Exception {
        uplink = Uplink.Options.defaults().withWriteBack(600_000); // uploads only when asked
        java.util.concurrent.CountDownLatch inFsync = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.atomic.AtomicLong fsyncDone = new java.util.concurrent.atomic.AtomicLong();
        mount(f -> {});
        Files.createDirectories(stack.mnt.resolve("d"));
        Files.writeString(stack.mnt.resolve("d/sent.txt"), "first version\n");
        // The upload's fsync of its temporary file takes 2 s (under the 5 s deadline): the upload is
        // caught there while the test works beside it.
        faulty.inject((op, nth, fs) -> {
            if (op == LowerOp.FSYNC) {
                inFsync.countDown();
                try {
                    Thread.sleep(2000);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                fsyncDone.set(System.nanoTime());
            }
        });
        CompletableFuture<Boolean> upload = CompletableFuture.supplyAsync(() -> {
            try {
                return stack.uplink.uploadQueued(60_000);
            } catch (ErrnoException e) {
                throw new IllegalStateException(e);
            }
        });
        assertTrue(inFsync.await(30, TimeUnit.SECONDS), "the upload reached its fsync");

        // Other files are made, written and read while the upload waits in its fsync ...
        for (int i = 0; i < 20; i++) {
            Files.writeString(stack.mnt.resolve("d/other-" + i + ".txt"), "made beside the upload " + i);
        }
        assertEquals("first version\n", Files.readString(stack.mnt.resolve("d/sent.txt")), "read beside its upload");
        long othersDone = System.nanoTime();
        // ... but a change to the file being sent waits for its upload's end.
        CompletableFuture<Long> rewrite = CompletableFuture.supplyAsync(() -> {
            try {
                Files.writeString(stack.mnt.resolve("d/sent.txt"), "second version\n");
                return System.nanoTime();
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        long rewritten = rewrite.get(60, TimeUnit.SECONDS);
        assertTrue(fsyncDone.get() != 0 && othersDone < fsyncDone.get(), "the other files did not wait for the upload");
        assertTrue(rewritten > fsyncDone.get(), "the rewrite waited for the upload of the version it replaces");
        faulty.heal();
        assertTrue(upload.get(60, TimeUnit.SECONDS));
        assertTrue(stack.uplink.uploadQueued(60_000));
        assertEquals("second version\n", Files.readString(stack.lower.resolve("d/sent.txt")));
        for (int i = 0; i < 20; i++) {
            assertEquals("made beside the upload " + i, Files.readString(stack.lower.resolve("d/other-" + i + ".txt")));
        }
        assertEquals(0, stack.uplink.journal().size());
    }

    @Test
    void slowCallsAreAtLeastThatSlow() throws Exception {
        mount(f -> f.inject(FaultyLowerFs.slow(LowerOp.STAT, 200)));
        Files.writeString(stack.lower.resolve("y"), "y");
        long t0 = System.nanoTime();
        Libc.lstat(stack.inMnt("y"));
        long ms = (System.nanoTime() - t0) / 1_000_000;
        assertTrue(ms >= 200, "a lookup with 200 ms injected took " + ms + " ms");
    }

    @Test
    void randomFaultsRepeatWithTheSameSeed() throws Exception {
        Files.writeString(local.root().resolve("z"), "z");
        List<List<Integer>> runs = new ArrayList<>();
        for (long seed : new long[] {7, 7, 8}) {
            try (FaultyLowerFs f = new FaultyLowerFs(new LocalLowerFs(Sys.raw(local.root())), seed)) {
                f.inject(FaultyLowerFs.failRandomly(0.3, Errno.EIO, LowerOp.STAT));
                List<Integer> outcomes = new ArrayList<>();
                for (int i = 0; i < 200; i++) {
                    outcomes.add(errnoOf(() -> f.stat("z")));
                }
                runs.add(outcomes);
            }
        }
        assertEquals(runs.get(0), runs.get(1), "same seed, same faults");
        assertNotEquals(runs.get(0), runs.get(2), "another seed, other faults");
        long failed = runs.get(0).stream().filter(e -> e == Errno.EIO).count();
        assertTrue(failed > 20 && failed < 120, "about 30% of 200 calls failed: " + failed);
        assertFalse(runs.get(0).stream().anyMatch(e -> e != 0 && e != Errno.EIO));
    }
}
