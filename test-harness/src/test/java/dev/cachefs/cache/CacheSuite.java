package dev.cachefs.cache;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cachefs.harness.Lower;
import dev.cachefs.harness.Lowers;
import dev.cachefs.harness.Stack;
import dev.cachefs.fs.StackedFs;
import dev.cachefs.harness.Sys;
import dev.cachefs.nativeio.Libc;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;

/**
 * The read cache over one lower (a subclass names it): what is read through the mount equals the
 * lower, a fully cached file is read without the lower, a change on the lower is seen at the next
 * open, concurrent readers share fetches, writes go through, and a remount keeps the cache. Lower
 * reads are counted by the cache's own statistics ({@link CacheStats#lowerReads}), which count
 * every data read the cache makes of the lower.
 */
@Timeout(240)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class CacheSuite {
    /** A small chunk size, so that modest files span many chunks. */
    static final int CHUNK = 256 * 1024;

    private Lower lowerFs;
    private Stack fx;

    protected abstract String kind();

    @BeforeAll
    void startLower() {
        lowerFs = Lowers.start(kind());
    }

    @AfterAll
    void stopLower() {
        if (lowerFs != null) {
            lowerFs.close();
        }
    }

    @AfterEach
    void unmount() {
        if (fx != null) {
            fx.close();
            fx = null;
        }
    }

    private Stack mount() throws Exception {
        fx = Stack.on(lowerFs).chunkSize(CHUNK).mount();
        return fx;
    }

    private Stack remount(Stack old) throws Exception {
        old.close();
        fx = Stack.again(old).chunkSize(CHUNK).mount();
        return fx;
    }

    private static byte[] random(Random rnd, int n) {
        byte[] b = new byte[n];
        rnd.nextBytes(b);
        return b;
    }

    /** pread through a fresh descriptor; {@code direct}: O_DIRECT, so the kernel's page cache is bypassed. */
    private static byte[] pread(Path p, long off, int len, boolean direct) throws Exception {
        if (!direct) {
            try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
                ByteBuffer b = ByteBuffer.allocate(len);
                while (b.hasRemaining() && ch.read(b, off + b.position()) > 0) {
                    // until len or end of file
                }
                byte[] out = new byte[b.position()];
                b.flip().get(out);
                return out;
            }
        }
        int fd = Libc.open(Sys.raw(p), Libc.O_RDONLY | Libc.O_DIRECT, 0);
        try (Arena a = Arena.ofConfined()) {
            long alignedOff = off & ~4095L;
            int span = (int) (((off + len + 4095) & ~4095L) - alignedOff);
            MemorySegment buf = a.allocate(span, 4096);
            long n = 0;
            while (n < span) {
                long r = Libc.pread(fd, buf.asSlice(n), span - n, alignedOff + n);
                if (r == 0) {
                    break;
                }
                n += r;
            }
            int skip = (int) (off - alignedOff);
            int got = (int) Math.max(0, Math.min(len, n - skip));
            byte[] out = new byte[got];
            MemorySegment.copy(buf, ValueLayout.JAVA_BYTE, skip, out, 0, got);
            return out;
        } finally {
            Libc.close(fd);
        }
    }

    private static byte[] slice(byte[] data, long off, int len) {
        int from = (int) Math.min(off, data.length);
        int to = (int) Math.min(data.length, off + len);
        byte[] out = new byte[to - from];
        System.arraycopy(data, from, out, 0, out.length);
        return out;
    }

    /**
     * Someone else gives the lower file new content. Written beside it and renamed over it: gvfs's
     * NFS client sometimes refuses to rewrite a file in place (EOPNOTSUPP), never a rename.
     */
    private static void replaceOnLower(Path p, byte[] data) throws Exception {
        Path tmp = p.resolveSibling(p.getFileName() + ".new");
        Files.write(tmp, data);
        Files.move(tmp, p, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }

    /** Sets the lower file's mtime well away from now, so that even 1 s timestamps show the change. */
    private static void bumpMtime(Path p, int seconds) throws Exception {
        Files.setLastModifiedTime(p, FileTime.fromMillis(System.currentTimeMillis() + seconds * 1000L));
    }

    @Test
    void randomReadsOfRandomFilesEqualTheLower() throws Exception {
        Stack s = mount();
        Random rnd = new Random(20261203);
        int[] sizes = {0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + CHUNK / 2, 1 + rnd.nextInt(8 * CHUNK)};
        List<byte[]> data = new ArrayList<>();
        for (int i = 0; i < sizes.length; i++) {
            byte[] d = random(rnd, sizes[i]);
            data.add(d);
            Files.write(s.lower.resolve("f" + i), d);
        }
        for (int round = 0; round < 300; round++) {
            int i = rnd.nextInt(sizes.length);
            long off = sizes[i] == 0 ? 0 : rnd.nextInt(sizes[i] + 10);
            int len = 1 + rnd.nextInt(2 * CHUNK);
            boolean direct = rnd.nextBoolean();
            byte[] got = pread(s.mnt.resolve("f" + i), off, len, direct);
            assertArrayEquals(slice(data.get(i), off, len), got, "f" + i + " at " + off + "+" + len + (direct ? " O_DIRECT" : ""));
        }
        for (int i = 0; i < sizes.length; i++) {
            assertArrayEquals(data.get(i), Files.readAllBytes(s.mnt.resolve("f" + i)), "whole f" + i);
        }
        assertTrue(s.stats().hitBytes.sum() > 0, "some reads were served from the cache");
        assertTrue(s.stats().lowerReads.sum() > 0, "the cache did fetch from the lower");
    }

    @Test
    void aFullyCachedFileIsReadWithoutTheLower() throws Exception {
        Stack s = mount();
        byte[] d = random(new Random(1), 5 * CHUNK + 123);
        Files.write(s.lower.resolve("f"), d);
        assertArrayEquals(d, Files.readAllBytes(s.mnt.resolve("f")), "cold read");
        long lowerReads = s.stats().lowerReads.sum();
        long hits = s.stats().hitBytes.sum();
        // Passthrough is not started within a second of a daemon-path open of the same file (see
        // CacheLayer.mayStartPassthroughLocked); the cold read was one.
        Thread.sleep(1100);
        for (int i = 0; i < 3; i++) {
            assertArrayEquals(d, Files.readAllBytes(s.mnt.resolve("f")), "warm read " + i);
            assertArrayEquals(d, pread(s.mnt.resolve("f"), 0, d.length, true), "warm O_DIRECT read " + i);
        }
        assertEquals(lowerReads, s.stats().lowerReads.sum(), "no read of the lower once the file is cached");
        boolean passthrough = s.live.session.passthroughAvailable();
        if (passthrough) {
            assertTrue(s.stats().passthroughOpens.sum() >= 3, "warm opens were handed to the kernel: " + s.stats().snapshot());
        } else {
            assertTrue(s.stats().hitBytes.sum() > hits, "warm reads came from the cache");
        }
    }

    @Test
    void aChangeOnTheLowerIsSeenAtTheNextOpenNeverAMix() throws Exception {
        Stack s = mount();
        Random rnd = new Random(2);
        byte[] v1 = random(rnd, 4 * CHUNK);
        Path low = s.lower.resolve("f");
        Files.write(low, v1);
        assertArrayEquals(v1, Files.readAllBytes(s.mnt.resolve("f")));
        // Someone else rewrites the file on the lower: same size, new bytes.
        byte[] v2 = random(rnd, 4 * CHUNK);
        replaceOnLower(low, v2);
        bumpMtime(low, 5);
        assertArrayEquals(v2, Files.readAllBytes(s.mnt.resolve("f")), "same size, new content");
        // ... and makes it longer, then shorter.
        byte[] v3 = random(rnd, 6 * CHUNK + 7);
        replaceOnLower(low, v3);
        bumpMtime(low, 10);
        assertArrayEquals(v3, Files.readAllBytes(s.mnt.resolve("f")), "longer");
        assertEquals(v3.length, Files.size(s.mnt.resolve("f")));
        byte[] v4 = random(rnd, CHUNK / 3);
        replaceOnLower(low, v4);
        bumpMtime(low, 15);
        assertArrayEquals(v4, Files.readAllBytes(s.mnt.resolve("f")), "shorter");
        assertTrue(s.stats().invalidations.sum() >= 3, "each version change dropped the cached data: " + s.stats().snapshot());
        // A partly cached version replaced: the first chunk cached, then the file changes.
        byte[] v5 = random(rnd, 4 * CHUNK);
        replaceOnLower(low, v5);
        bumpMtime(low, 20);
        assertArrayEquals(slice(v5, 0, 100), pread(s.mnt.resolve("f"), 0, 100, true));
        byte[] v6 = random(rnd, 4 * CHUNK);
        replaceOnLower(low, v6);
        bumpMtime(low, 25);
        assertArrayEquals(v6, pread(s.mnt.resolve("f"), 0, v6.length, true), "no chunk of the old version");
    }

    @Test
    void withoutPassthroughTheKernelKeepsItsPagesUntilTheVersionChanges() throws Exception {
        fx = Stack.on(lowerFs).chunkSize(CHUNK).options(new dev.cachefs.fs.StackedFs.Options(1_000_000_000L, 1_000_000_000L, false))
                .mountOptions(dev.cachefs.harness.Mounts.testOptions().withPassthrough(false)).mount();
        Random rnd = new Random(10);
        byte[] v1 = random(rnd, 3 * CHUNK);
        Path low = fx.lower.resolve("f");
        Files.write(low, v1);
        assertArrayEquals(v1, Files.readAllBytes(fx.mnt.resolve("f")));
        long reads = fx.stats().readOps.sum();
        assertArrayEquals(v1, Files.readAllBytes(fx.mnt.resolve("f")));
        assertEquals(reads, fx.stats().readOps.sum(), "the second open read the kernel's pages (FOPEN_KEEP_CACHE)");
        byte[] v2 = random(rnd, 3 * CHUNK + 99);
        Files.write(low, v2);
        bumpMtime(low, 5);
        assertArrayEquals(v2, Files.readAllBytes(fx.mnt.resolve("f")), "pages of the old version dropped at open");
        assertTrue(fx.stats().kernelInvalidations.sum() >= 1, fx.stats().snapshot().toString());
    }

    @Test
    void aGetattrAfterTheTimeoutSeesAChangeAndDropsTheOldData() throws Exception {
        fx = Stack.on(lowerFs).chunkSize(CHUNK).options(new dev.cachefs.fs.StackedFs.Options(200_000_000L, 200_000_000L, false))
                .mountOptions(dev.cachefs.harness.Mounts.testOptions().withPassthrough(false)).mount();
        Random rnd = new Random(12);
        byte[] v1 = random(rnd, 2 * CHUNK);
        Path low = fx.lower.resolve("f");
        Files.write(low, v1);
        try (FileChannel open = FileChannel.open(fx.mnt.resolve("f"), StandardOpenOption.READ)) {
            ByteBuffer b = ByteBuffer.allocate(v1.length);
            open.read(b, 0);
            assertArrayEquals(v1, b.array());
            byte[] v2 = random(rnd, 3 * CHUNK);
            Files.write(low, v2);
            bumpMtime(low, 5);
            Thread.sleep(400); // past attr_timeout (0.2 s): the kernel asks again
            long invalidations = fx.stats().invalidations.sum();
            assertEquals(v2.length, Files.size(fx.mnt.resolve("f")), "the new size");
            assertTrue(fx.stats().invalidations.sum() > invalidations, "the old version's data was dropped");
            // Even this open file, read through the daemon, now gives the new bytes (never a mix).
            for (int i = 0; i < 50 && fx.stats().kernelInvalidations.sum() == 0; i++) {
                Thread.sleep(20);
            }
            ByteBuffer c = ByteBuffer.allocate(v2.length);
            while (c.hasRemaining() && open.read(c, c.position()) > 0) {
                // to the end
            }
            assertArrayEquals(v2, c.array());
        }
    }

    @Test
    void withMetaTtlAttributesAreTrustedForItsTimeButOpensAndOwnChangesAreFresh() throws Exception {
        fx = Stack.on(lowerFs).chunkSize(CHUNK).options(new dev.cachefs.fs.StackedFs.Options(200_000_000L, 200_000_000L, true))
                .mount();
        fx.fs.metaTtl(60_000);
        Random rnd = new Random(13);
        byte[] v1 = random(rnd, CHUNK / 2);
        Path low = fx.lower.resolve("t");
        Files.write(low, v1);
        assertEquals(v1.length, Files.size(fx.mnt.resolve("t")));
        byte[] v2 = random(rnd, CHUNK);
        Files.write(low, v2); // changed behind the mount's back
        bumpMtime(low, 5);
        Thread.sleep(400); // past attr_timeout: the daemon trusts what it saw, and so may the kernel, as long
        long calls = fx.stats().lowerCalls.sum();
        assertEquals(v1.length, Files.size(fx.mnt.resolve("t")), "within meta_ttl the size seen before");
        assertEquals(calls, fx.stats().lowerCalls.sum(), "answered without the lower");
        assertArrayEquals(v2, Files.readAllBytes(fx.mnt.resolve("t")), "an open asks the lower: close-to-open");
        Thread.sleep(400);
        assertEquals(v2.length, Files.size(fx.mnt.resolve("t")), "after the open the new size");
        Files.writeString(fx.mnt.resolve("t"), "own change");
        assertEquals(10, Files.size(fx.mnt.resolve("t")), "an own change shows at once");
        Thread.sleep(400);
        assertEquals(10, Files.size(fx.mnt.resolve("t")), "and when the daemon is asked");
        Files.delete(low);
        Thread.sleep(400);
        assertEquals(10, Files.size(fx.mnt.resolve("t")), "still trusted (gone on the lower, not yet asked)");
        fx.fs.invalidate("t", false);
        Thread.sleep(400);
        assertFalse(Files.exists(fx.mnt.resolve("t")), "after cachefs invalidate, asked again");
    }

    @Test
    void concurrentReadersShareOneFetchPerChunk() throws Exception {
        Stack s = mount();
        byte[] d = random(new Random(3), 16 * CHUNK);
        Files.write(s.lower.resolve("f"), d);
        ExecutorService ex = Executors.newFixedThreadPool(8);
        try {
            List<Future<?>> fs = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                long seed = t;
                fs.add(ex.submit(() -> {
                    Random rnd = new Random(seed);
                    for (int i = 0; i < 40; i++) {
                        long off = rnd.nextInt(d.length);
                        int len = 1 + rnd.nextInt(CHUNK);
                        assertArrayEquals(slice(d, off, len), pread(s.mnt.resolve("f"), off, len, true));
                    }
                    return null;
                }));
            }
            for (Future<?> f : fs) {
                f.get();
            }
        } finally {
            ex.shutdownNow();
        }
        assertTrue(s.stats().lowerReads.sum() <= 16, "each chunk fetched once, not once per reader: " + s.stats().snapshot());
        assertArrayEquals(d, Files.readAllBytes(s.mnt.resolve("f")));
        // Opens racing the stores of other readers' fetches: never taken for damage.
        assertEquals(0, s.stats().sealMismatches.sum(), s.stats().snapshot().toString());
    }

    private void assumeWriteInPlace() {
        Assumptions.assumeTrue(lowerFs.can(Lower.Capability.WRITE_IN_PLACE),
                lowerFs.name() + " cannot open an existing file for writing without truncating it");
    }

    @Test
    void writesGoThroughAndAreReReadLocally() throws Exception {
        assumeWriteInPlace();
        Stack s = mount();
        Random rnd = new Random(4);
        byte[] d = random(rnd, 3 * CHUNK);
        Files.write(s.lower.resolve("f"), d);
        assertArrayEquals(d, Files.readAllBytes(s.mnt.resolve("f")));
        // Overwrite a range across a chunk boundary and extend the file, through the mount.
        byte[] patch = random(rnd, CHUNK);
        try (FileChannel ch = FileChannel.open(s.mnt.resolve("f"), StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(patch), CHUNK / 2);
            ch.write(ByteBuffer.wrap(patch), 3 * CHUNK - 10);
        }
        byte[] expect = new byte[4 * CHUNK - 10];
        System.arraycopy(d, 0, expect, 0, d.length);
        System.arraycopy(patch, 0, expect, CHUNK / 2, patch.length);
        System.arraycopy(patch, 0, expect, 3 * CHUNK - 10, patch.length);
        assertArrayEquals(expect, Files.readAllBytes(s.lower.resolve("f")), "the lower has the writes after close");
        long lowerReads = s.stats().lowerReads.sum();
        assertArrayEquals(expect, pread(s.mnt.resolve("f"), 0, expect.length, true), "re-read after write");
        assertEquals(lowerReads, s.stats().lowerReads.sum(), "the re-read is served by the cache");
        // Truncation through the mount.
        try (FileChannel ch = FileChannel.open(s.mnt.resolve("f"), StandardOpenOption.WRITE)) {
            ch.truncate(CHUNK + 3);
        }
        assertArrayEquals(slice(expect, 0, CHUNK + 3), pread(s.mnt.resolve("f"), 0, expect.length, true));
        assertArrayEquals(slice(expect, 0, CHUNK + 3), Files.readAllBytes(s.lower.resolve("f")));
    }

    @Test
    void aNewFileWrittenThroughTheMountIsCachedAsItIsWritten() throws Exception {
        Stack s = mount();
        Random rnd = new Random(8);
        long lowerReads = s.stats().lowerReads.sum();
        byte[] n = random(rnd, 2 * CHUNK + 5);
        Files.write(s.mnt.resolve("new"), n);
        assertArrayEquals(n, Files.readAllBytes(s.lower.resolve("new")));
        assertArrayEquals(n, pread(s.mnt.resolve("new"), 0, n.length, true));
        assertEquals(lowerReads, s.stats().lowerReads.sum(), "a file written here is read from the cache");
        // Rewritten whole (O_TRUNC), as editors and compilers do.
        byte[] m = random(rnd, CHUNK / 2);
        Files.write(s.mnt.resolve("new"), m);
        assertArrayEquals(m, Files.readAllBytes(s.lower.resolve("new")));
        assertArrayEquals(m, pread(s.mnt.resolve("new"), 0, n.length, true));
        assertEquals(lowerReads, s.stats().lowerReads.sum(), "the rewrite is read from the cache too");
    }

    @Test
    void aWriterBesideAPassthroughReaderIsSeenByIt() throws Exception {
        assumeWriteInPlace();
        Stack s = mount();
        Assumptions.assumeTrue(s.live.session.passthroughAvailable(), "FUSE passthrough is not available here");
        byte[] d = random(new Random(5), 2 * CHUNK);
        Files.write(s.lower.resolve("f"), d);
        assertArrayEquals(d, Files.readAllBytes(s.mnt.resolve("f")));
        try (FileChannel reader = FileChannel.open(s.mnt.resolve("f"), StandardOpenOption.READ)) {
            assertEquals(Math.min(d.length, 4096), reader.read(ByteBuffer.allocate(4096), 0));
            byte[] patch = "written beside a passthrough reader".getBytes();
            try (FileChannel w = FileChannel.open(s.mnt.resolve("f"), StandardOpenOption.WRITE)) {
                w.write(ByteBuffer.wrap(patch), 100);
            }
            ByteBuffer b = ByteBuffer.allocate(patch.length);
            reader.read(b, 100);
            assertArrayEquals(patch, b.array(), "the reader sees the write");
            assertArrayEquals(patch, slice(Files.readAllBytes(s.lower.resolve("f")), 100, patch.length), "the lower has it");
        }
    }

    @Test
    void aRemountServesWhatWasCachedWithoutReadingTheLower() throws Exception {
        Stack s = mount();
        Random rnd = new Random(6);
        List<byte[]> data = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            byte[] d = random(rnd, 1 + rnd.nextInt(5 * CHUNK));
            data.add(d);
            Files.write(s.lower.resolve("f" + i), d);
            assertArrayEquals(d, Files.readAllBytes(s.mnt.resolve("f" + i)));
        }
        Stack again = remount(s);
        for (int i = 0; i < 4; i++) {
            assertArrayEquals(data.get(i), pread(again.mnt.resolve("f" + i), 0, data.get(i).length, true), "f" + i);
            assertArrayEquals(data.get(i), Files.readAllBytes(again.mnt.resolve("f" + i)), "f" + i);
        }
        assertEquals(0, again.stats().lowerReads.sum(), "nothing read from the lower after the remount: " + again.stats().snapshot());
        assertEquals(0, again.stats().sealMismatches.sum(), "every cache file as sealed: " + again.stats().snapshot());
        // A file changed while unmounted is not served from the old cache.
        byte[] changed = random(rnd, data.get(0).length);
        Files.write(again.lower.resolve("f0"), changed);
        bumpMtime(again.lower.resolve("f0"), 30);
        Stack third = remount(again);
        assertArrayEquals(changed, Files.readAllBytes(third.mnt.resolve("f0")));
    }

    private static java.util.TreeSet<String> names(Path dir) throws Exception {
        try (var st = Files.list(dir)) {
            return st.map(p -> p.getFileName().toString()).collect(java.util.stream.Collectors.toCollection(java.util.TreeSet::new));
        }
    }

    @Test
    void aListingIsServedFromTheCacheWhileTheDirectoryIsUnchanged() throws Exception {
        Stack s = mount();
        Path d = Files.createDirectory(s.lower.resolve("d"));
        for (int i = 0; i < 50; i++) {
            Files.writeString(d.resolve("f" + i), "x");
        }
        // Settled: listings of a directory changed in the last 2 s are not kept (coarse mtimes).
        Files.setLastModifiedTime(d, FileTime.fromMillis(System.currentTimeMillis() - 60_000));
        var expect = names(d);
        assertEquals(expect, names(s.mnt.resolve("d")), "first listing, from the lower");
        long hits = s.stats().metaHits.sum();
        assertEquals(expect, names(s.mnt.resolve("d")), "second listing");
        assertTrue(s.stats().metaHits.sum() > hits, "served from the cached listing: " + s.stats().snapshot());
        // A change on the lower shows as a new directory mtime: listed afresh.
        Files.writeString(d.resolve("behind-its-back"), "y");
        Files.setLastModifiedTime(d, FileTime.fromMillis(System.currentTimeMillis() - 30_000));
        assertTrue(names(s.mnt.resolve("d")).contains("behind-its-back"));
        // A change through the mount shows at once.
        Files.writeString(s.mnt.resolve("d/through-the-mount"), "z");
        assertTrue(names(s.mnt.resolve("d")).contains("through-the-mount"));
        Files.delete(s.mnt.resolve("d/f0"));
        assertTrue(!names(s.mnt.resolve("d")).contains("f0"));
        // Settled again, listed, then remounted: the listing comes from the index.
        Files.setLastModifiedTime(d, FileTime.fromMillis(System.currentTimeMillis() - 10_000));
        var now = names(d);
        assertEquals(now, names(s.mnt.resolve("d")));
        Stack again = remount(s);
        long before = again.stats().metaHits.sum();
        assertEquals(now, names(again.mnt.resolve("d")));
        assertTrue(again.stats().metaHits.sum() > before, "the listing kept in the index was used: " + again.stats().snapshot());
    }

    /** lstat of every file under {@code dir}, as a walk does; the number of files. */
    private static int statWalk(Path dir) throws Exception {
        int[] n = {0};
        Files.walkFileTree(dir, new java.nio.file.SimpleFileVisitor<>() {
            @Override
            public java.nio.file.FileVisitResult visitFile(Path file, java.nio.file.attribute.BasicFileAttributes attrs) {
                n[0]++;
                return java.nio.file.FileVisitResult.CONTINUE;
            }
        });
        return n[0];
    }

    @Test
    void withinMetaTtlAWalkFetchesADirectorysAttributesAheadAndARemountWalksFromTheIndex() throws Exception {
        Stack s = mount();
        s.fs.metaTtl(120_000);
        for (int d = 0; d < 3; d++) {
            Path dir = Files.createDirectories(s.lower.resolve("t/d" + d));
            for (int f = 0; f < 20; f++) {
                Files.writeString(dir.resolve("f" + f), "x".repeat(f));
            }
            Files.setLastModifiedTime(dir, FileTime.fromMillis(System.currentTimeMillis() - 10_000));
        }
        Files.setLastModifiedTime(s.lower.resolve("t"), FileTime.fromMillis(System.currentTimeMillis() - 10_000));
        assertEquals(60, statWalk(s.mnt.resolve("t")));
        assertTrue(s.stats().statsAhead.sum() >= 40, "READDIRPLUS fetched a directory's names ahead: " + s.stats().snapshot());
        Files.setPosixFilePermissions(s.mnt.resolve("t/d1/f1"), java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
        Files.writeString(s.mnt.resolve("t/d2/made"), "through the mount");

        Stack again = remount(s);
        again.fs.metaTtl(120_000);
        long calls = again.stats().lowerCalls.sum();
        assertEquals(61, statWalk(again.mnt.resolve("t")), "what was made through the mount shows after the remount");
        assertTrue(again.stats().metaIndexHits.sum() >= 40, "answered from the index: " + again.stats().snapshot());
        assertTrue(again.stats().lowerCalls.sum() - calls < 30, "a remount walks what it saw with few lower calls: "
                + (again.stats().lowerCalls.sum() - calls));
        assertEquals("rw-------", java.nio.file.attribute.PosixFilePermissions.toString(
                Files.getPosixFilePermissions(again.mnt.resolve("t/d1/f1"))), "an own change before the remount shows");
        // Close-to-open holds across the remount: a change on the lower is read at the next open.
        Files.writeString(again.lower.resolve("t/d0/f3"), "changed on the server");
        assertEquals("changed on the server", Files.readString(again.mnt.resolve("t/d0/f3")));
    }

    @Test
    void aReaderGoingThroughADirectoryAfterARemountRevalidatesItOnceAndReadsTheServersChanges() throws Exception {
        Stack s = mount();
        s.fs.metaTtl(120_000);
        Path dir = Files.createDirectories(s.lower.resolve("r"));
        for (int f = 0; f < 30; f++) {
            Files.writeString(dir.resolve("f" + f), "v1 of " + f);
        }
        for (int f = 0; f < 30; f++) {
            assertEquals("v1 of " + f, Files.readString(s.mnt.resolve("r/f" + f)));
        }
        Stack again = remount(s);
        again.fs.metaTtl(120_000);
        again.fs.roundTripAtLeast(0); // a lower on loopback answers faster than a link would
        Files.writeString(again.lower.resolve("r/f17"), "v2 of 17, longer"); // changed on the server meanwhile
        bumpMtime(again.lower.resolve("r/f17"), 5);
        for (int f = 0; f < 30; f++) {
            assertEquals(f == 17 ? "v2 of 17, longer" : "v1 of " + f, Files.readString(again.mnt.resolve("r/f" + f)),
                    "close-to-open: the directory's revalidation is as new as the open");
        }
        long runs = again.stats().dirsRevalidated.sum();
        // once, or again if the reads outlasted the revalidation's second on a slow machine
        assertTrue(runs >= 1 && runs <= 3, "the second open began a run: the directory as a whole: " + again.stats().snapshot());
        assertTrue(again.stats().opensAfterListing.sum() >= 20, "the opens after it asked nothing more: "
                + again.stats().snapshot());
    }

    private static String xattr(Path p, String name) throws Exception {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(256);
            long n = Libc.lgetxattr(Sys.raw(p), name, buf);
            return new String(buf.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE));
        }
    }

    private static void setXattr(Path p, String name, String value) throws Exception {
        try (Arena a = Arena.ofConfined()) {
            byte[] v = value.getBytes();
            MemorySegment seg = a.allocate(v.length);
            MemorySegment.copy(v, 0, seg, ValueLayout.JAVA_BYTE, 0, v.length);
            Libc.lsetxattr(Sys.raw(p), name, seg, 0);
        }
    }

    @Test
    void extendedAttributesAreAnsweredFromTheCacheAndOwnChangesShowAtOnce() throws Exception {
        Assumptions.assumeTrue(lowerFs.can(Lower.Capability.XATTRS), lowerFs.name() + " has no xattrs");
        Stack s = mount();
        Path low = s.lower.resolve("f");
        Files.writeString(low, "x");
        setXattr(low, "user.tag", "one");
        assertEquals("one", xattr(s.mnt.resolve("f"), "user.tag"));
        long calls = s.stats().lowerCalls.sum();
        for (int i = 0; i < 5; i++) {
            assertEquals("one", xattr(s.mnt.resolve("f"), "user.tag"));
        }
        assertEquals(calls, s.stats().lowerCalls.sum(), "repeated getxattr within the attribute timeout costs no lower call");
        setXattr(s.mnt.resolve("f"), "user.tag", "two");
        assertEquals("two", xattr(s.mnt.resolve("f"), "user.tag"), "our own change shows at once");
        assertEquals("two", xattr(low, "user.tag"));
    }

    @Test
    void metadataSeenThroughTheMountIsCopiedIntoTheIndex() throws Exception {
        Stack s = mount();
        Path low = s.lower.resolve("f");
        Files.writeString(low, "data");
        Files.setPosixFilePermissions(low, java.nio.file.attribute.PosixFilePermissions.fromString("rw-r-----"));
        boolean links = lowerFs.can(Lower.Capability.SYMLINKS);
        boolean xattrs = lowerFs.can(Lower.Capability.XATTRS);
        if (links) {
            Files.createSymbolicLink(s.lower.resolve("l"), Path.of("f"));
        }
        if (xattrs) {
            setXattr(low, "user.k", "v");
        }
        var lowerMode = Libc.lstat(Sys.raw(low)).mode();
        Files.readAttributes(s.mnt.resolve("f"), "unix:mode");
        if (links) {
            assertEquals(Path.of("f"), Files.readSymbolicLink(s.mnt.resolve("l")));
        }
        if (xattrs) {
            assertEquals("v", xattr(s.mnt.resolve("f"), "user.k"));
        }
        s.close();
        fx = null;
        try (var ix = dev.cachefs.index.CacheIndex.open(s.cacheDir.resolve("index.db"))) {
            java.util.Map<String, dev.cachefs.index.ObjectRecord> byPath = new java.util.HashMap<>();
            ix.forEachObject(o -> byPath.put(o.path(), o));
            String rel = s.lower.getFileName() + "/f";
            var f = byPath.entrySet().stream().filter(e -> e.getKey() != null && (e.getKey().equals("f") || e.getKey().endsWith("/f")))
                    .map(java.util.Map.Entry::getValue).findFirst();
            assertTrue(f.isPresent(), "an index row for f (" + rel + "): " + byPath.keySet());
            assertEquals(lowerMode, ix.attrs(f.get().id()).orElseThrow().mode(), "its mode");
            if (xattrs) {
                assertEquals("v", new String(ix.listings().xattr(f.get().id(), "user.k").orElseThrow()), "its xattr");
            }
            if (links) {
                var l = byPath.entrySet().stream().filter(e -> e.getKey() != null && e.getKey().endsWith("l"))
                        .map(java.util.Map.Entry::getValue).findFirst();
                assertEquals("f", l.orElseThrow().symlinkTarget(), "the symlink's target");
            }
        }
    }

    @Test
    void negativeEntriesAreRememberedForTheirTimeoutOnly() throws Exception {
        fx = Stack.on(lowerFs).chunkSize(CHUNK)
                .options(dev.cachefs.fs.StackedFs.Options.defaults().withNegativeTimeout(60_000_000_000L)).mount();
        Path missing = fx.mnt.resolve("later");
        assertTrue(!Files.exists(missing));
        long calls = fx.stats().lowerCalls.sum();
        for (int i = 0; i < 5; i++) {
            assertTrue(!Files.exists(missing));
        }
        assertEquals(calls, fx.stats().lowerCalls.sum(), "a remembered missing name costs no lower call");
        Files.writeString(fx.lower.resolve("later"), "made behind the mount's back");
        assertTrue(!Files.exists(missing), "the kernel still remembers it missing (negative_timeout)");
        // Made through the mount, it is there at once (the kernel asks before creating).
        Files.writeString(fx.mnt.resolve("other"), "x");
        assertTrue(Files.exists(fx.mnt.resolve("other")));
        fx.close();
        fx = Stack.again(fx).chunkSize(CHUNK).mount(); // default: no negative entries
        assertTrue(Files.exists(fx.mnt.resolve("later")));
    }

    @Test
    void filesRenamedThroughTheMountKeepTheirCacheAcrossARemount() throws Exception {
        Stack s = mount();
        Random rnd = new Random(11);
        byte[] a = random(rnd, 2 * CHUNK + 1);
        byte[] b = random(rnd, CHUNK + 5);
        Files.createDirectory(s.lower.resolve("d"));
        Files.write(s.lower.resolve("a"), a);
        Files.write(s.lower.resolve("d/b"), b);
        assertArrayEquals(a, Files.readAllBytes(s.mnt.resolve("a")));
        assertArrayEquals(b, Files.readAllBytes(s.mnt.resolve("d/b")));
        Files.move(s.mnt.resolve("a"), s.mnt.resolve("a2"));
        Files.move(s.mnt.resolve("d"), s.mnt.resolve("d2"));
        assertArrayEquals(a, pread(s.mnt.resolve("a2"), 0, a.length, true));
        Stack again = remount(s);
        assertArrayEquals(a, pread(again.mnt.resolve("a2"), 0, a.length, true));
        assertArrayEquals(b, pread(again.mnt.resolve("d2/b"), 0, b.length, true));
        assertEquals(0, again.stats().lowerReads.sum(), "renamed files were served from their cache: " + again.stats().snapshot());
    }

    @Test
    void aChunkCorruptedOnDiskIsNeverServedAfterACrash() throws Exception {
        Stack s = mount();
        byte[] d = random(new Random(7), 3 * CHUNK);
        Files.write(s.lower.resolve("f"), d);
        assertArrayEquals(d, Files.readAllBytes(s.mnt.resolve("f")));
        s.close();
        fx = null;
        // Garble every data file and mark the store as not closed cleanly (what a crash leaves).
        try (var walk = Files.walk(s.cacheDir.resolve("data"))) {
            for (Path p : walk.filter(Files::isRegularFile).toList()) {
                try (FileChannel ch = FileChannel.open(p, StandardOpenOption.WRITE)) {
                    ch.write(ByteBuffer.wrap(new byte[] {1, 2, 3, 4}), CHUNK + 10);
                }
            }
        }
        markUnclean(s.cacheDir);
        fx = Stack.again(s).chunkSize(CHUNK).mount();
        assertArrayEquals(d, Files.readAllBytes(fx.mnt.resolve("f")), "the garbled chunk was fetched again");
        assertTrue(fx.stats().corruptChunks.sum() >= 1, "the garbled chunk was caught: " + fx.stats().snapshot());
    }

    /** Where a cache file is damaged, while the store was closed cleanly (no crash to excuse it). */
    private enum Damage { MIDDLE_CHUNK, LAST_SHORT_CHUNK, TRUNCATED }

    /** 3.5 chunks: a middle chunk, and a short last one. */
    private static final int DAMAGED_FILE = 3 * CHUNK + CHUNK / 2;

    /** Damages every data file of the cache as {@code how} says (a disk error, a stray tool, a user's mistake). */
    private static void damage(Path cacheDir, Damage how) throws Exception {
        try (var walk = Files.walk(cacheDir.resolve("data"))) {
            for (Path p : walk.filter(Files::isRegularFile).toList()) {
                try (FileChannel ch = FileChannel.open(p, StandardOpenOption.WRITE)) {
                    byte[] junk = random(new Random(99), 4096);
                    switch (how) {
                        case MIDDLE_CHUNK -> ch.write(ByteBuffer.wrap(junk), CHUNK + 1000);
                        case LAST_SHORT_CHUNK -> ch.write(ByteBuffer.wrap(junk), 3L * CHUNK + 10);
                        case TRUNCATED -> ch.truncate(2L * CHUNK + 5);
                    }
                }
            }
        }
    }

    private Stack mount(boolean passthrough) throws Exception {
        fx = Stack.on(lowerFs).chunkSize(CHUNK).options(new StackedFs.Options(1_000_000_000L, 1_000_000_000L, passthrough))
                .mount();
        return fx;
    }

    /**
     * A fully cached file whose cache file is damaged while unmounted (the store closed cleanly, so
     * no crash check runs) is never served damaged: online the damaged chunk is fetched again;
     * offline the read fails with EIO, while the undamaged chunks are still served.
     */
    private void aDamagedCacheFileIsNeverServed(boolean passthrough, boolean offline, Damage how) throws Exception {
        Stack s = mount(passthrough);
        byte[] d = random(new Random(how.ordinal() * 4 + (passthrough ? 2 : 0) + (offline ? 1 : 0)), DAMAGED_FILE);
        Files.write(s.lower.resolve("f"), d);
        assertArrayEquals(d, Files.readAllBytes(s.mnt.resolve("f")));
        s.close();
        fx = null;
        damage(s.cacheDir, how);
        Stack again = Stack.again(s).chunkSize(CHUNK).options(new StackedFs.Options(1_000_000_000L, 1_000_000_000L, passthrough))
                .mount();
        fx = again;
        if (offline) {
            again.uplink.connectivity().forceOffline();
            assertArrayEquals(slice(d, 0, CHUNK), pread(again.mnt.resolve("f"), 0, CHUNK, false), "an undamaged chunk is served");
            Exception e = org.junit.jupiter.api.Assertions.assertThrows(java.io.IOException.class,
                    () -> Files.readAllBytes(again.mnt.resolve("f")), "offline, the damaged part cannot be served");
            assertTrue(String.valueOf(e.getMessage()).contains("Input/output error"), "EIO, not ENOTCONN: " + e);
            assertTrue(again.stats().damagedReads.sum() >= 1, again.stats().snapshot().toString());
        } else {
            assertArrayEquals(d, Files.readAllBytes(again.mnt.resolve("f")), "the damaged chunk was fetched again");
            assertTrue(again.stats().lowerReads.sum() >= 1, "fetched from the lower: " + again.stats().snapshot());
            assertArrayEquals(d, Files.readAllBytes(again.mnt.resolve("f")), "and read again");
        }
        assertTrue(again.stats().sealMismatches.sum() >= 1, "the seal caught it: " + again.stats().snapshot());
        assertTrue(again.stats().corruptChunks.sum() >= 1, "the chunk was caught: " + again.stats().snapshot());
    }

    @Test
    void aDamagedMiddleChunkIsNotServedByPassthrough() throws Exception {
        aDamagedCacheFileIsNeverServed(true, false, Damage.MIDDLE_CHUNK);
    }

    @Test
    void aDamagedMiddleChunkIsNotServedByTheDaemon() throws Exception {
        aDamagedCacheFileIsNeverServed(false, false, Damage.MIDDLE_CHUNK);
    }

    @Test
    void aDamagedLastShortChunkIsNotServedByPassthrough() throws Exception {
        aDamagedCacheFileIsNeverServed(true, false, Damage.LAST_SHORT_CHUNK);
    }

    @Test
    void aDamagedLastShortChunkIsNotServedByTheDaemon() throws Exception {
        aDamagedCacheFileIsNeverServed(false, false, Damage.LAST_SHORT_CHUNK);
    }

    @Test
    void aTruncatedCacheFileIsNotServed() throws Exception {
        aDamagedCacheFileIsNeverServed(true, false, Damage.TRUNCATED);
    }

    @Test
    void offlineADamagedChunkIsAnIoErrorByPassthrough() throws Exception {
        aDamagedCacheFileIsNeverServed(true, true, Damage.MIDDLE_CHUNK);
    }

    @Test
    void offlineADamagedChunkIsAnIoErrorByTheDaemon() throws Exception {
        aDamagedCacheFileIsNeverServed(false, true, Damage.LAST_SHORT_CHUNK);
    }

    @Test
    void aCacheFileDamagedWhileMountedIsCaughtAtTheNextOpen() throws Exception {
        Stack s = mount();
        byte[] d = random(new Random(71), DAMAGED_FILE);
        Files.write(s.lower.resolve("f"), d);
        assertArrayEquals(d, Files.readAllBytes(s.mnt.resolve("f")));
        damage(s.cacheDir, Damage.MIDDLE_CHUNK);
        // O_DIRECT: past the kernel's pages of the mount, which still hold what was read first.
        assertArrayEquals(d, pread(s.mnt.resolve("f"), 0, d.length, true), "the damaged chunk was fetched again");
        assertTrue(s.stats().sealMismatches.sum() >= 1, "the open saw the file changed: " + s.stats().snapshot());
        assertTrue(s.stats().corruptChunks.sum() >= 1, s.stats().snapshot().toString());
        assertArrayEquals(d, Files.readAllBytes(s.mnt.resolve("f")));
    }

    @Test
    void theScrubFindsDamageNobodyRead() throws Exception {
        Stack s = mount();
        byte[] a = random(new Random(72), DAMAGED_FILE);
        byte[] b = random(new Random(73), 2 * CHUNK);
        Files.write(s.lower.resolve("a"), a);
        Files.write(s.lower.resolve("b"), b);
        assertArrayEquals(a, Files.readAllBytes(s.mnt.resolve("a")));
        assertArrayEquals(b, Files.readAllBytes(s.mnt.resolve("b")));
        // Held by the kernel (its nodes): checked through the cache layer.
        damage(s.cacheDir, Damage.MIDDLE_CHUNK);
        assertTrue(s.cache.scrubNow() >= 2, "both files checked");
        assertTrue(s.stats().corruptChunks.sum() >= 2, "one damaged chunk in each: " + s.stats().snapshot());
        assertTrue(s.stats().scrubBytes.sum() >= a.length + b.length - 2L * CHUNK, s.stats().snapshot().toString());
        assertEquals(0, s.stats().sealMismatches.sum(), "found by the scrub, before any open");
        assertArrayEquals(a, pread(s.mnt.resolve("a"), 0, a.length, true));
        // Held by no one after a remount: read from the data files directly.
        Stack again = remount(s);
        damage(again.cacheDir, Damage.LAST_SHORT_CHUNK);
        assertTrue(again.cache.scrubNow() >= 2);
        assertTrue(again.stats().corruptChunks.sum() >= 1, "the damaged last chunk of a: " + again.stats().snapshot());
        assertArrayEquals(a, Files.readAllBytes(again.mnt.resolve("a")), "fetched again");
        assertArrayEquals(b, Files.readAllBytes(again.mnt.resolve("b")));
        long corrupt = again.stats().corruptChunks.sum();
        again.cache.scrubNow();
        assertEquals(corrupt, again.stats().corruptChunks.sum(), "nothing damaged is left");
    }

    @Test
    void aCleanUnmountSealsEveryCacheFile() throws Exception {
        Stack s = mount();
        byte[] d = random(new Random(74), DAMAGED_FILE);
        Files.write(s.lower.resolve("f"), d);
        assertArrayEquals(d, Files.readAllBytes(s.mnt.resolve("f")));
        Stack again = remount(s);
        try (var c = java.sql.DriverManager.getConnection("jdbc:sqlite:" + again.cacheDir.resolve("index.db"));
             var st = c.createStatement();
             var r = st.executeQuery("SELECT count(*) FROM objects WHERE seal IS NOT NULL")) {
            assertTrue(r.next() && r.getInt(1) >= 1, "the cached file has a seal");
        }
        assertArrayEquals(d, Files.readAllBytes(again.mnt.resolve("f")));
        assertEquals(0, again.stats().sealMismatches.sum(), "an untouched file matches its seal: " + again.stats().snapshot());
        assertEquals(0, again.stats().lowerReads.sum());
    }

    /** Sets the index's clean flag to 0 with plain SQLite, as a crash would leave it. */
    private static void markUnclean(Path cacheDir) throws Exception {
        try (var c = java.sql.DriverManager.getConnection("jdbc:sqlite:" + cacheDir.resolve("index.db"));
             var st = c.createStatement()) {
            st.executeUpdate("UPDATE meta SET value = '0' WHERE key = 'clean'");
        }
    }
}
