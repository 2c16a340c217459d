package dev.cachefs.fs;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.cachefs.harness.Lower;
import dev.cachefs.harness.Lowers;
import dev.cachefs.harness.Stack;
import dev.cachefs.mount.Uplink;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * An fsx-style exerciser: seeded random reads, writes, truncates (shrinking and growing),
 * shared-mmap writes, fallocate and reopens of one file through the mount, each checked against
 * a reference model of the bytes; with an offline period in the middle (the changes made then
 * are journaled and replayed), after which the lower must hold exactly the model.
 * {@code -Dcachefs.fsx.seed=N} and {@code -Dcachefs.fsx.ops=N} to replay or lengthen a run.
 */
@Timeout(600)
class FsxIT {
    static final int MAX = 3 << 20; // up to 3 MiB: several chunks
    static final long SEED = Long.getLong("cachefs.fsx.seed", 20261203L);
    static final int OPS = Integer.getInteger("cachefs.fsx.ops", 3000);

    private static Uplink.Options options() {
        return Uplink.Options.defaults().withDeadline(3000).withProbe(300)
                .withReconnect(dev.cachefs.offline.Connectivity.Reconnect.MANUAL);
    }

    @Test
    void randomOperationsMatchTheModelOnlineAndAcrossAnOfflinePeriod() throws Exception {
        try (Lower lower = Lowers.start("local");
             Stack s = Stack.on(lower).uplink(options()).mount()) {
            exercise(s, false);
        }
    }

    /** The same with write-back: uploads run between the file's opens (a short delay), and at the end. */
    @Test
    void randomOperationsMatchTheModelWithWriteBack() throws Exception {
        try (Lower lower = Lowers.start("local");
             Stack s = Stack.on(lower).uplink(options().withWriteBack(200)).mount()) {
            exercise(s, true);
        }
    }

    private static void exercise(Stack s, boolean writeBack) throws Exception {
        {
            Random r = new Random(SEED);
            byte[] model = new byte[0];
            Path f = s.mnt.resolve("fsx.bin");
            Files.write(f, model);
            FileChannel ch = FileChannel.open(f, StandardOpenOption.READ, StandardOpenOption.WRITE);
            int[] counts = new int[7];
            try {
                for (int i = 0; i < OPS; i++) {
                    if (i == OPS / 3) { // offline, the file pinned first (as a user would: it is edited offline)
                        ch.close();
                        assertArrayEquals(model, Files.readAllBytes(f), "before going offline, op " + i);
                        s.cache.pin("fsx.bin", false, p -> { });
                        s.uplink.connectivity().forceOffline();
                        ch = FileChannel.open(f, StandardOpenOption.READ, StandardOpenOption.WRITE);
                    }
                    if (i == 2 * OPS / 3) { // back: replay, then online
                        ch.close();
                        // Mappings keep their files open until the GC unmaps them; replay waits for them.
                        String mode = "";
                        for (int t = 0; t < 50 && !mode.equals("online"); t++) {
                            System.gc();
                            Thread.sleep(100);
                            mode = s.uplink.connectivity().goOnline("fsx", true);
                        }
                        assertEquals("online", mode);
                        assertArrayEquals(model, Files.readAllBytes(s.lower.resolve("fsx.bin")), "replayed, op " + i);
                        ch = FileChannel.open(f, StandardOpenOption.READ, StandardOpenOption.WRITE);
                    }
                    int op = r.nextInt(100);
                    if (op < 30) { // write
                        int off = r.nextInt(Math.max(1, Math.min(MAX - 1, model.length + 4096)));
                        int len = 1 + r.nextInt(Math.min(256 << 10, MAX - off));
                        byte[] data = new byte[len];
                        r.nextBytes(data);
                        ch.write(ByteBuffer.wrap(data), off);
                        if (off + len > model.length) {
                            model = Arrays.copyOf(model, off + len);
                        }
                        System.arraycopy(data, 0, model, off, len);
                        counts[0]++;
                    } else if (op < 60) { // read
                        int off = model.length == 0 ? 0 : r.nextInt(model.length);
                        int len = 1 + r.nextInt(256 << 10);
                        ByteBuffer b = ByteBuffer.allocate(len);
                        int got = 0;
                        while (b.hasRemaining()) {
                            int n = ch.read(b, off + got);
                            if (n <= 0) {
                                break;
                            }
                            got += n;
                        }
                        int want = Math.max(0, Math.min(len, model.length - off));
                        assertEquals(want, got, "read length, op " + i + " (seed " + SEED + ")");
                        assertArrayEquals(Arrays.copyOfRange(model, off, off + want), Arrays.copyOf(b.array(), got),
                                "read " + off + "+" + len + ", op " + i + " (seed " + SEED + ")");
                        counts[1]++;
                    } else if (op < 70) { // truncate, shrinking or growing
                        int to = r.nextInt(MAX);
                        ch.truncate(to);
                        if (to > model.length) {
                            // FileChannel.truncate does not grow: write a byte at the end instead
                            ch.write(ByteBuffer.wrap(new byte[] {0}), to - 1);
                        }
                        model = Arrays.copyOf(model, to);
                        counts[2]++;
                    } else if (op < 78 && model.length > 0) { // shared mmap write
                        int off = r.nextInt(model.length);
                        int len = 1 + r.nextInt(Math.min(64 << 10, model.length - off));
                        byte[] data = new byte[len];
                        r.nextBytes(data);
                        MappedByteBuffer m = ch.map(FileChannel.MapMode.READ_WRITE, off, len);
                        m.put(data);
                        m.force();
                        System.arraycopy(data, 0, model, off, len);
                        counts[3]++;
                    } else if (op < 84) { // fallocate (keep size) within or past the end
                        int off = r.nextInt(MAX / 2);
                        int len = 1 + r.nextInt(64 << 10);
                        int fd = dev.cachefs.nativeio.Libc.open(dev.cachefs.harness.Sys.raw(f), dev.cachefs.nativeio.Libc.O_WRONLY, 0);
                        try {
                            dev.cachefs.nativeio.Libc.fallocate(fd, 1 /* FALLOC_FL_KEEP_SIZE */, off, len);
                        } catch (dev.cachefs.nativeio.ErrnoException e) {
                            assertEquals(dev.cachefs.nativeio.Errno.EOPNOTSUPP, e.errno(), "fallocate: " + e.getMessage());
                        } finally {
                            dev.cachefs.nativeio.Libc.close(fd);
                        }
                        counts[4]++;
                    } else if (op < 92) { // reopen (close-to-open)
                        ch.close();
                        ch = FileChannel.open(f, StandardOpenOption.READ, StandardOpenOption.WRITE);
                        counts[5]++;
                    } else { // size
                        assertEquals(model.length, ch.size(), "size, op " + i);
                        assertEquals(model.length, Files.size(f), "stat size, op " + i);
                        counts[6]++;
                    }
                }
            } finally {
                ch.close();
            }
            assertArrayEquals(model, Files.readAllBytes(f), "through the mount at the end");
            if (writeBack) {
                boolean uploaded = false;
                for (int t = 0; t < 100 && !uploaded; t++) { // mappings keep the local copy open until the GC unmaps them
                    System.gc();
                    uploaded = s.uplink.uploadQueued(200);
                }
                assertEquals(true, uploaded, "the queue uploaded");
            }
            assertArrayEquals(model, Files.readAllBytes(s.lower.resolve("fsx.bin")), "on the lower at the end");
            System.out.printf("fsx%s: %d operations (seed %d): %d writes, %d reads, %d truncates, %d mmap writes, %d fallocates,"
                    + " %d reopens, %d size checks%n", writeBack ? " (write-back)" : "", OPS, SEED, counts[0], counts[1], counts[2], counts[3], counts[4], counts[5], counts[6]);
            for (int t = 0; t < 10; t++) { // let the GC unmap what the mmap writes left, so the unmount is clean
                System.gc();
                Thread.sleep(50);
            }
        }
    }
}
