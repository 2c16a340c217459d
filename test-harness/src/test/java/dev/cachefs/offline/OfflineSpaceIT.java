package dev.cachefs.offline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cachefs.harness.Harness;
import dev.cachefs.harness.Lower;
import dev.cachefs.harness.Lowers;
import dev.cachefs.harness.Sh;
import dev.cachefs.harness.Stack;
import dev.cachefs.nativeio.Libc;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A full cache disk while offline: the writer gets ENOSPC, what it wrote before stays, the journal
 * still records the next changes (its reserve), and deleting a file made offline gives its space
 * back. The cache lives on a small tmpfs of its own.
 */
@Timeout(120)
class OfflineSpaceIT {
    private Lower local;
    private Stack stack;
    private Path tmpfs;

    @BeforeEach
    void setUp() throws Exception {
        Assumptions.assumeTrue(Libc.geteuid() == 0, "mounting a tmpfs needs root");
        local = Lowers.start("local");
        tmpfs = Harness.newDir("small-cache-disk");
        Sh.run("mount", "-t", "tmpfs", "-o", "size=40m,mode=0700", "tmpfs", tmpfs.toString());
    }

    @AfterEach
    void tearDown() {
        try {
            if (stack != null) {
                stack.close();
            }
        } finally {
            if (tmpfs != null) {
                Sh.tryRun("umount", tmpfs.toString());
            }
            if (local != null) {
                local.close();
            }
        }
    }

    @Test
    void aFullCacheDiskGivesEnospcAndLosesNothing() throws Exception {
        stack = Stack.on(local).cacheDir(tmpfs.resolve("cache")).mount();
        Files.createDirectories(stack.lower.resolve("w"));
        Files.setLastModifiedTime(stack.lower.resolve("w"), FileTime.fromMillis(System.currentTimeMillis() - 60_000));
        try (var l = Files.list(stack.mnt.resolve("w"))) {
            assertEquals(0, l.count());
        }
        stack.cache.flushIndex();
        List<String> events = new CopyOnWriteArrayList<>();
        stack.uplink.connectivity().onEvent(e -> events.add(e.name()));
        stack.uplink.connectivity().forceOffline();

        Files.writeString(stack.mnt.resolve("w/kept"), "written before the disk filled");
        byte[] mb = new byte[1 << 20];
        java.util.Arrays.fill(mb, (byte) 7);
        long written = 0;
        IOException full = null;
        try (var out = Files.newOutputStream(stack.mnt.resolve("w/filler"))) {
            for (int i = 0; i < 100; i++) {
                out.write(mb);
                written += mb.length;
            }
            out.flush();
        } catch (IOException e) {
            full = e;
        }
        assertTrue(full != null && String.valueOf(full.getMessage()).contains("No space left"),
                "the writer is told: " + full + " after " + written + " bytes");
        assertEquals("written before the disk filled", Files.readString(stack.mnt.resolve("w/kept")));

        // The journal's reserve lets the next changes be recorded, deleting the filler among them.
        Files.writeString(stack.mnt.resolve("w/after"), "x");
        Files.delete(stack.mnt.resolve("w/filler"));
        // SQLite may find room in its write-ahead log without new blocks; if it did not, the reserve went.
        assertTrue(events.contains("cache-disk-full") || Files.exists(tmpfs.resolve("cache/reserve")),
                "the reserve is either untouched or its use was an event: " + events);
        byte[] more = new byte[8 << 20];
        Files.write(stack.mnt.resolve("w/more"), more);
        assertArrayEquals(more, Files.readAllBytes(stack.mnt.resolve("w/more")), "the filler's space came back");
        List<String> ops = stack.uplink.journal().stream().map(e -> e.op() + " " + e.path()).toList();
        assertTrue(ops.stream().anyMatch(o -> o.endsWith("w/after")) && ops.stream().anyMatch(o -> o.startsWith("unlink")),
                "journaled: " + ops);
        assertThrows(java.nio.file.NoSuchFileException.class, () -> Files.size(stack.mnt.resolve("w/filler")));
    }

    @Test
    void withWriteBackAFullCacheDiskGivesEnospcAndWhatWasAcceptedIsUploaded() throws Exception {
        stack = Stack.on(local).cacheDir(tmpfs.resolve("cache"))
                .uplink(OfflineSuite.uplinkOptions().withWriteBack(600_000)).mount();
        Path m = Files.createDirectories(stack.mnt.resolve("wb"));
        Files.writeString(m.resolve("kept"), "written before the disk filled");
        byte[] mb = new byte[1 << 20];
        java.util.Arrays.fill(mb, (byte) 9);
        long written = 0;
        IOException full = null;
        try (var out = java.nio.channels.FileChannel.open(m.resolve("filler"), java.nio.file.StandardOpenOption.CREATE,
                java.nio.file.StandardOpenOption.WRITE)) {
            for (int i = 0; i < 100; i++) {
                java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(mb);
                while (b.hasRemaining()) {
                    out.write(b);
                }
                written += mb.length;
            }
            out.force(true);
        } catch (IOException e) {
            full = e;
        }
        assertTrue(full != null && String.valueOf(full.getMessage()).contains("No space left"),
                "the writer is told: " + full + " after " + written + " bytes");
        assertEquals("written before the disk filled", Files.readString(m.resolve("kept")));
        assertFalse(Files.exists(stack.lower.resolve("wb/kept")), "queued, not uploaded yet");
        // Nothing queued was culled or dropped to make room: it all goes up.
        assertTrue(stack.uplink.uploadQueued(60_000));
        assertEquals("written before the disk filled", Files.readString(stack.lower.resolve("wb/kept")));
        long onLower = Files.size(stack.lower.resolve("wb/filler"));
        assertTrue(onLower >= written, "what the writer was told it wrote went up: " + onLower + " of " + written);
    }

    @Test
    void aMountStartsOfflineWhenItsLowerIsNotMounted() throws Exception {
        Path tmp = Harness.newDir("absent-lower");
        Stack.Builder b = Stack.inDirectory(tmp);
        Path lowerDir = tmp.resolve("lower");
        Sh.run("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", lowerDir.toString());
        boolean mounted = true;
        try {
            Files.writeString(lowerDir.resolve("f"), "kept in the cache");
            Files.setLastModifiedTime(lowerDir, FileTime.fromMillis(System.currentTimeMillis() - 60_000));
            stack = b.cacheDir(tmpfs.resolve("cache2")).mount();
            try (var l = Files.list(stack.mnt)) {
                assertEquals(1, l.count());
            }
            assertEquals("kept in the cache", Files.readString(stack.mnt.resolve("f")));
            Stack first = stack;
            first.close();
            stack = null;
            Sh.run("umount", lowerDir.toString()); // the network mount went away: an empty directory is left
            mounted = false;
            stack = Stack.again(first).mount();
            assertTrue(stack.uplink.connectivity().offline(), "it starts offline");
            assertTrue(stack.uplink.connectivity().reason().contains("not the filesystem this cache belongs to"),
                    stack.uplink.connectivity().reason());
            assertEquals("kept in the cache", Files.readString(stack.mnt.resolve("f")), "served from the cache");
        } finally {
            if (stack != null) {
                stack.close();
                stack = null;
            }
            if (mounted) {
                Sh.tryRun("umount", lowerDir.toString());
            }
        }
    }
}
