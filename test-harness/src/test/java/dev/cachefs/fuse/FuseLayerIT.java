package dev.cachefs.fuse;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cachefs.harness.Mounts;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.UserDefinedFileAttributeView;
import java.nio.ByteBuffer;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The FUSE layer on its own: an in-memory filesystem mounted for real. */
@Timeout(60)
class FuseLayerIT {
    @TempDir
    Path tmp;
    MemFs fs;
    Mounts.Live live;
    Path mnt;

    @BeforeEach
    void mount() throws IOException {
        mnt = Files.createDirectory(tmp.resolve("mnt"));
        fs = new MemFs();
        live = Mounts.mount(mnt, fs, Mounts.testOptions().withPassthrough(false));
    }

    @AfterEach
    void unmount() {
        if (live != null) {
            live.close();
        }
    }

    @Test
    void mountShowsAsFuseCachefsAndUnmountsCleanly() throws Exception {
        String mounts = Files.readString(Path.of("/proc/self/mountinfo"));
        assertTrue(mounts.contains(" " + mnt + " ") && mounts.contains("fuse.cachefs"), mounts);
        live.close();
        live = null;
        assertFalse(Files.readString(Path.of("/proc/self/mountinfo")).contains(" " + mnt + " "));
    }

    @Test
    void createWriteReadBack() throws IOException {
        byte[] data = new byte[3 * 1024 * 1024 + 17];
        new Random(42).nextBytes(data);
        Files.write(mnt.resolve("f"), data);
        assertArrayEquals(data, Files.readAllBytes(mnt.resolve("f")));
        assertEquals(data.length, Files.size(mnt.resolve("f")));
        assertArrayEquals(data, fs.nodes.get(fs.nodes.keySet().stream().filter(k -> k != 1).findFirst().orElseThrow()).data);
    }

    @Test
    void errorsComeBackAsErrno() throws IOException {
        assertThrows(NoSuchFileException.class, () -> Files.readAllBytes(mnt.resolve("missing")));
        Files.createDirectory(mnt.resolve("d"));
        Files.writeString(mnt.resolve("d/x"), "x");
        IOException e = assertThrows(IOException.class, () -> Files.delete(mnt.resolve("d")));
        assertTrue(e.getMessage().contains("not empty") || e instanceof java.nio.file.DirectoryNotEmptyException, e.toString());
    }

    @Test
    void largeDirectoryIsListedCompletelyAcrossManyReaddirCalls() throws IOException {
        Set<String> want = new TreeSet<>();
        for (int i = 0; i < 1500; i++) {
            String name = "file-with-a-longish-name-" + i;
            fs.addFile(Fuse.ROOT_ID, name, new byte[i % 7]);
            want.add(name);
        }
        try (Stream<Path> s = Files.list(mnt)) {
            assertEquals(want, s.map(p -> p.getFileName().toString()).collect(Collectors.toCollection(TreeSet::new)));
        }
        assertEquals(6, Files.size(mnt.resolve("file-with-a-longish-name-1000")));
    }

    @Test
    void xattrsRoundTrip() throws IOException {
        Path f = Files.writeString(mnt.resolve("x"), "x");
        UserDefinedFileAttributeView v = Files.getFileAttributeView(f, UserDefinedFileAttributeView.class);
        v.write("color", StandardCharsets.UTF_8.encode("blue"));
        ByteBuffer b = ByteBuffer.allocate(v.size("color"));
        v.read("color", b);
        assertEquals("blue", new String(b.array(), StandardCharsets.UTF_8));
        assertEquals(java.util.List.of("color"), v.list());
    }

    @Test
    void invalidateInodeDropsKernelCachedData() throws Exception {
        fs.attrTimeoutNs = 3600_000_000_000L;
        fs.entryTimeoutNs = 3600_000_000_000L;
        fs.openFlags = Fuse.FOPEN_KEEP_CACHE;
        MemFs.Node n = fs.addFile(Fuse.ROOT_ID, "f", "old!".getBytes());
        assertEquals("old!", Files.readString(mnt.resolve("f")));
        synchronized (fs) {
            n.data = "new!".getBytes(); // same size: the kernel cannot notice on its own
        }
        long readsBefore = fs.reads.get();
        assertEquals("old!", Files.readString(mnt.resolve("f")), "kernel page cache should still serve the old data");
        assertEquals(readsBefore, fs.reads.get());
        fs.connection.invalidateInode(n.id, 0, 0);
        assertEquals("new!", Files.readString(mnt.resolve("f")));
    }

    @Test
    void invalidateEntryDropsNegativeEntry() throws Exception {
        fs.negativeTimeoutNs = 3600_000_000_000L;
        assertFalse(Files.exists(mnt.resolve("late")));
        fs.addFile(Fuse.ROOT_ID, "late", "here".getBytes());
        long lookups = fs.lookups.get();
        assertFalse(Files.exists(mnt.resolve("late")), "negative entry should be cached");
        assertEquals(lookups, fs.lookups.get());
        fs.connection.invalidateEntry(Fuse.ROOT_ID, "late");
        assertEquals("here", Files.readString(mnt.resolve("late")));
    }

    @Test
    void statfsReachesTheFilesystem() throws IOException {
        var store = Files.getFileStore(mnt);
        assertEquals(1000L * 4096, store.getTotalSpace());
        assertEquals(500L * 4096, store.getUsableSpace());
    }

    @Test
    void concurrentReadersGetTheirOwnData() throws Exception {
        int files = 8;
        for (int i = 0; i < files; i++) {
            byte[] d = new byte[256 * 1024];
            new Random(i).nextBytes(d);
            fs.addFile(Fuse.ROOT_ID, "c" + i, d);
        }
        var pool = java.util.concurrent.Executors.newFixedThreadPool(8);
        try {
            var futures = new java.util.ArrayList<java.util.concurrent.Future<Boolean>>();
            for (int round = 0; round < 4; round++) {
                for (int i = 0; i < files; i++) {
                    int k = i;
                    futures.add(pool.submit(() -> {
                        byte[] want = new byte[256 * 1024];
                        new Random(k).nextBytes(want);
                        return java.util.Arrays.equals(want, Files.readAllBytes(mnt.resolve("c" + k)));
                    }));
                }
            }
            for (var f : futures) {
                assertTrue(f.get());
            }
        } finally {
            pool.shutdownNow();
        }
    }
}
