package dev.cachefs.fs;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cachefs.harness.Lower;
import dev.cachefs.harness.Lowers;
import dev.cachefs.harness.Stack;
import dev.cachefs.harness.Sys;
import dev.cachefs.nativeio.Errno;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Libc;
import dev.cachefs.nativeio.RawPath;
import dev.cachefs.offline.Connectivity;
import dev.cachefs.mount.Uplink;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Odd and hostile input through the mount (a local lower: these are about cachefs, not the
 * network): names no UTF-8 text can hold, the longest names, paths deeper than PATH_MAX,
 * symlink loops, files truncated or replaced on the lower while open, two writers of one file,
 * renames racing on the lower, the cache directory deleted under a live mount. Each gets the
 * lower's behaviour or a clear errno, never a hang or a dead daemon: every test ends by checking
 * the mount still answers. (Fifos, device nodes, hard links and sparse files past 4 GiB are the
 * conformance suite's; full cache disks are CullingIT's and OfflineSpaceIT's; corrupt, foreign
 * and old indexes are CacheIndexTest's and CliIT's.)
 */
@Timeout(180)
class HostileInputIT {
    Lower lower;
    Stack s;

    @BeforeEach
    void mount() throws Exception {
        lower = Lowers.start("local");
        s = Stack.on(lower).uplink(Uplink.Options.defaults().withDeadline(3000).withProbe(300)
                .withReconnect(Connectivity.Reconnect.MANUAL)).mount();
    }

    @AfterEach
    void unmount() {
        if (s != null) {
            s.close();
        }
        if (lower != null) {
            lower.close();
        }
    }

    /** The mount still serves: the daemon neither died nor hangs. */
    private void stillAnswers() throws Exception {
        Files.writeString(s.lower.resolve("alive.txt"), "alive");
        assertEquals("alive", Files.readString(s.mnt.resolve("alive.txt")));
    }

    private static String raw(byte[] name) {
        return RawPath.fromBytes(name, 0, name.length);
    }

    @Test
    void namesWithNewlinesInvalidUtf8AndTheLongestLengthWorkOnlineAndOffline() throws Exception {
        byte[] longest = new byte[255];
        Arrays.fill(longest, (byte) 'n');
        List<String> names = List.of(raw("line\nbreak".getBytes()), raw("tab\there".getBytes()),
                raw(new byte[] {'b', 'a', 'd', (byte) 0xff, (byte) 0xfe, '.', 't', 'x', 't'}), raw(longest),
                raw("-starts-with-dash".getBytes()), raw(" spaced ".getBytes()), raw("quote\"back\\slash".getBytes()));
        String lowerDir = Sys.raw(s.lower);
        String mntDir = Sys.raw(s.mnt);
        for (String n : names) {
            Sys.writeAll(lowerDir + "/" + n, RawPath.bytes(n));
        }
        for (String n : names) {
            assertArrayEquals(RawPath.bytes(n), Sys.readAll(mntDir + "/" + n), RawPath.display(n));
        }
        byte[] tooLong = new byte[256];
        Arrays.fill(tooLong, (byte) 'n');
        assertEquals(Errno.ENAMETOOLONG, errno(() -> Libc.lstat(mntDir + "/" + raw(tooLong))));
        s.cache.flushIndex();
        s.uplink.connectivity().forceOffline();
        for (String n : names) { // cached: served offline by name, byte for byte
            assertArrayEquals(RawPath.bytes(n), Sys.readAll(mntDir + "/" + n), "offline " + RawPath.display(n));
        }
        String madeOffline = raw(new byte[] {'o', 'f', 'f', '\n', (byte) 0xc3, (byte) 0x28});
        Sys.writeAll(mntDir + "/" + madeOffline, "journaled".getBytes());
        assertEquals("online", s.uplink.connectivity().goOnline("test", true));
        assertArrayEquals("journaled".getBytes(), Sys.readAll(lowerDir + "/" + madeOffline), "replayed under its own bytes");
        stillAnswers();
    }

    @Test
    void pathsDeeperThanPathMaxFailWithEnametoolongNotACrash() throws Exception {
        byte[] seg = new byte[200];
        Arrays.fill(seg, (byte) 'd');
        String name = raw(seg);
        int levels = 30; // 30 x 201 bytes: past PATH_MAX (4096)
        int fd = Libc.open(Sys.raw(s.lower), Libc.O_RDONLY | Libc.O_DIRECTORY, 0);
        for (int i = 0; i < levels; i++) { // built by relative steps: no path string is ever that long
            Libc.mkdirat(fd, name, 0755);
            int next = Libc.openat(fd, name, Libc.O_RDONLY | Libc.O_DIRECTORY, 0);
            Libc.close(fd);
            fd = next;
        }
        Libc.close(fd);
        int depth = 0;
        int errno = 0;
        int m = Libc.open(Sys.raw(s.mnt), Libc.O_RDONLY | Libc.O_DIRECTORY, 0);
        try {
            for (; depth < levels; depth++) {
                int next;
                try {
                    next = Libc.openat(m, name, Libc.O_RDONLY | Libc.O_DIRECTORY, 0);
                } catch (ErrnoException e) {
                    errno = e.errno();
                    break;
                }
                Libc.close(m);
                m = next;
            }
        } finally {
            Libc.close(m);
        }
        assertTrue(depth == levels || errno == Errno.ENAMETOOLONG,
                "walked " + depth + " of " + levels + " levels, then " + Errno.name(errno));
        assertTrue(depth >= 15, "everything shorter than PATH_MAX is reachable: " + depth);
        System.out.println("deep path: " + depth + " of " + levels + " levels through the mount, then " + Errno.name(errno));
        stillAnswers();
    }

    @Test
    void aSymlinkLoopIsEloopAndItsTargetsReadBack() throws Exception {
        Files.createSymbolicLink(s.lower.resolve("a"), Path.of("b"));
        Files.createSymbolicLink(s.lower.resolve("b"), Path.of("a"));
        String a = Sys.raw(s.mnt.resolve("a"));
        assertEquals(Errno.ELOOP, errno(() -> Sys.readAll(a)));
        assertEquals("b", Files.readSymbolicLink(s.mnt.resolve("a")).toString());
        assertTrue(Libc.lstat(a).isSymlink());
        stillAnswers();
    }

    @Test
    void aFileTruncatedOrReplacedOnTheLowerWhileOpenNeverReadsAsAMix() throws Exception {
        Random r = new Random(5);
        byte[] old = new byte[3 << 20];
        r.nextBytes(old);
        byte[] fresh = new byte[1 << 20];
        r.nextBytes(fresh);
        for (boolean replace : new boolean[] {false, true}) {
            Path f = s.lower.resolve(replace ? "replaced" : "truncated");
            Files.write(f, old);
            try (FileChannel ch = FileChannel.open(s.mnt.resolve(f.getFileName()), StandardOpenOption.READ)) {
                ByteBuffer head = ByteBuffer.allocate(1 << 20);
                ch.read(head, 0);
                assertArrayEquals(Arrays.copyOf(old, 1 << 20), head.array());
                if (replace) {
                    Path tmp = s.lower.resolve("replacement");
                    Files.write(tmp, fresh);
                    Files.move(tmp, f, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
                } else {
                    try (FileChannel w = FileChannel.open(f, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                        w.write(ByteBuffer.wrap(fresh));
                    }
                }
                // The open file reads on: what it gets, chunk by chunk, is one version or the other, or EOF.
                for (long off = 0; off < old.length; off += 256 << 10) {
                    ByteBuffer b = ByteBuffer.allocate(256 << 10);
                    int n;
                    try {
                        n = ch.read(b, off);
                    } catch (IOException e) {
                        break; // the lower's file changed under the read: an error is a fair answer
                    }
                    if (n <= 0) {
                        break;
                    }
                    byte[] got = Arrays.copyOf(b.array(), n);
                    byte[] fromOld = Arrays.copyOfRange(old, (int) off, (int) Math.min(old.length, off + n));
                    byte[] fromNew = off >= fresh.length ? new byte[0] : Arrays.copyOfRange(fresh, (int) off, (int) Math.min(fresh.length, off + n));
                    assertTrue(Arrays.equals(got, fromOld) || Arrays.equals(got, fromNew),
                            (replace ? "replaced" : "truncated") + ": bytes at " + off + " are neither version");
                }
            }
            assertArrayEquals(fresh, Files.readAllBytes(s.mnt.resolve(f.getFileName())), "a new open sees the new version");
        }
        stillAnswers();
    }

    @Test
    void twoWritersOfOneFileBothLand() throws Exception {
        Path f = s.mnt.resolve("shared.bin");
        int block = 64 << 10;
        int blocks = 64;
        Files.write(f, new byte[block * blocks]);
        AtomicReference<Throwable> failed = new AtomicReference<>();
        List<Thread> writers = new ArrayList<>();
        for (int w = 0; w < 2; w++) {
            int parity = w;
            writers.add(Thread.ofPlatform().start(() -> {
                try (FileChannel ch = FileChannel.open(f, StandardOpenOption.WRITE)) {
                    for (int i = parity; i < blocks; i += 2) {
                        byte[] b = new byte[block];
                        Arrays.fill(b, (byte) (i + 1));
                        ch.write(ByteBuffer.wrap(b), (long) i * block);
                        if (i % 8 == parity) {
                            ch.force(false);
                        }
                    }
                } catch (Throwable t) {
                    failed.set(t);
                }
            }));
        }
        for (Thread t : writers) {
            t.join();
        }
        assertEquals(null, failed.get());
        byte[] want = new byte[block * blocks];
        for (int i = 0; i < blocks; i++) {
            Arrays.fill(want, i * block, (i + 1) * block, (byte) (i + 1));
        }
        assertArrayEquals(want, Files.readAllBytes(s.lower.resolve("shared.bin")), "on the lower");
        assertArrayEquals(want, Files.readAllBytes(f), "through the mount");
        stillAnswers();
    }

    @Test
    void renamesRacingOnTheLowerGiveEnoentOrTheRightDataNeverAnotherFilesData() throws Exception {
        Files.createDirectories(s.lower.resolve("d1"));
        Files.writeString(s.lower.resolve("d1/x"), "x in d1");
        Files.createDirectories(s.lower.resolve("e"));
        Files.writeString(s.lower.resolve("e/x"), "x in e");
        AtomicBoolean stop = new AtomicBoolean();
        Thread renamer = Thread.ofPlatform().start(() -> {
            try {
                while (!stop.get()) {
                    Files.move(s.lower.resolve("d1"), s.lower.resolve("d2"));
                    Files.move(s.lower.resolve("d2"), s.lower.resolve("d1"));
                }
            } catch (IOException e) {
                throw new AssertionError(e);
            }
        });
        int reads = 0;
        int misses = 0;
        List<String> wrong = new ArrayList<>();
        long until = System.nanoTime() + 3_000_000_000L;
        while (System.nanoTime() < until) {
            for (String d : new String[] {"d1", "d2", "e"}) {
                try {
                    String got = Files.readString(s.mnt.resolve(d + "/x"));
                    reads++;
                    if (!got.equals(d.equals("e") ? "x in e" : "x in d1")) {
                        wrong.add(d + ": " + got);
                    }
                } catch (IOException e) {
                    misses++; // ENOENT or ESTALE while it moves: fair
                }
            }
        }
        stop.set(true);
        renamer.join();
        assertEquals(List.of(), wrong, "never another file's data");
        assertTrue(reads > 0, "some reads got through (" + misses + " missed)");
        stillAnswers();
    }

    @Test
    void theCacheDirectoryDeletedUnderALiveMountLeavesReadsCorrect() throws Exception {
        byte[] data = new byte[2 << 20];
        new Random(3).nextBytes(data);
        Files.write(s.lower.resolve("before"), data);
        assertArrayEquals(data, Files.readAllBytes(s.mnt.resolve("before")));
        try (var walk = Files.walk(s.cacheDir)) {
            for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
        assertArrayEquals(data, Files.readAllBytes(s.mnt.resolve("before")), "cached data read after the directory went");
        byte[] more = new byte[1 << 20];
        new Random(4).nextBytes(more);
        Files.write(s.lower.resolve("after"), more);
        assertArrayEquals(more, Files.readAllBytes(s.mnt.resolve("after")), "new data read after the directory went");
        Files.writeString(s.mnt.resolve("written"), "through the mount");
        assertEquals("through the mount", Files.readString(s.lower.resolve("written")));
        stillAnswers();
    }

    interface Call {
        void run() throws Exception;
    }

    private static int errno(Call c) throws Exception {
        try {
            c.run();
            return 0;
        } catch (ErrnoException e) {
            return e.errno();
        }
    }
}
