package dev.cachefs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.cachefs.fuse.CrashFs;
import dev.cachefs.harness.Mounts;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Power cuts of the cache disk. The cache directory lives on {@link CrashFs}; the daemon fills
 * the cache, goes offline (every other round: stays online with write-back, its uploads not due
 * yet) and writes files (each acknowledged by fsync), and at a seeded moment
 * the power goes: the daemon is killed and the cache is what a disk could hold, the unsynced
 * writes kept, lost or torn. A daemon started on that image must serve every acknowledged offline
 * write exactly, never serve cached data that differs from the lower (a torn chunk fails its
 * checksum and is not served), replay the writes onto the lower, and leave a cache that fsck
 * --repair makes clean without touching local changes.
 * {@code -Dcachefs.crash.rounds=N} for more rounds.
 */
@Timeout(1800)
class PowerCutIT {
    @TempDir
    Path tmp;
    Path lower;
    Path mnt;
    final List<Long> daemons = new ArrayList<>();
    Mounts.Live disk;

    @BeforeEach
    void setUp() throws IOException {
        Mounts.assumeFuse();
        lower = Files.createDirectory(tmp.resolve("lower"));
        mnt = Files.createDirectory(tmp.resolve("mnt"));
        Random r = new Random(11);
        for (int i = 0; i < 8; i++) {
            byte[] b = new byte[(512 << 10) + r.nextInt(2 << 20)];
            r.nextBytes(b);
            Files.write(lower.resolve("l" + i), b);
        }
    }

    @AfterEach
    void cleanUp() throws Exception {
        CliIT.release(mnt, daemons);
        if (disk != null) {
            disk.close();
        }
    }

    @Test
    void afterAPowerCutAcknowledgedWritesSurviveAndNoTornChunkIsServed() throws Exception {
        int rounds = Integer.getInteger("cachefs.crash.rounds", 3);
        Random seeds = new Random(Long.getLong("cachefs.crash.seed", 20261203L));
        List<String> failures = new ArrayList<>();
        long[] fates = new long[3];
        long ackedChecked = 0;
        for (int round = 0; round < rounds; round++) {
            long seed = seeds.nextLong();
            try {
                CrashFs.Fates f = round(round, new Random(seed));
                fates[0] += f.kept();
                fates[1] += f.dropped();
                fates[2] += f.garbled();
                ackedChecked += lastAcked;
            } catch (AssertionError | Exception e) {
                failures.add("round " + round + " (seed " + seed + "): " + e);
            } finally {
                if (MountTable.at(mnt).isPresent()) {
                    CliIT.run("umount", "--lazy", mnt.toString());
                    Mounts.forceUnmount(mnt);
                }
            }
        }
        System.out.println("power cuts: " + rounds + ", unsynced changes kept/dropped/torn " + Arrays.toString(fates)
                + ", acknowledged offline files checked: " + ackedChecked + ", cached files refused offline after the cut: " + refusedReads
                + ", damaged cache chunks fsck dropped: " + repairedChunks
                + ", failures: " + failures.size());
        assertEquals(List.of(), failures);
    }

    private int lastAcked;
    /** Damaged cache chunks fsck found after the cuts (never served: the reads above compare). */
    private long repairedChunks;
    /** Reads of lower files refused offline after the cut (never cached, or their chunks lost or torn). */
    private long refusedReads;

    private CrashFs.Fates round(int round, Random r) throws Exception {
        Path cfs = Files.createDirectory(tmp.resolve("disk" + round));
        CrashFs fs = new CrashFs();
        disk = Mounts.mount(cfs, fs, Mounts.testOptions().withPassthrough(false));
        Path cache = cfs.resolve("cache");
        // Every other round writes online with write-back (queued, not uploaded before the cut).
        boolean writeBack = round % 2 == 1;
        String wb = writeBack ? ",writeback=600" : "";
        long pid = CliIT.mountInBackground(daemons, lower, mnt, cache, "-o", "nopassthrough,reconnect=manual" + wb);
        for (int i = 0; i < 8; i++) {
            if (r.nextBoolean()) {
                Files.readAllBytes(mnt.resolve("l" + i)); // cached, not synced
            }
        }
        if (!writeBack) {
            CliIT.mustSucceed("offline", mnt.toString());
        }
        Map<String, byte[]> acked = new TreeMap<>();
        int writes = 5 + r.nextInt(20);
        for (int i = 0; i < writes; i++) {
            String name = "w" + round + "-" + i;
            byte[] data = new byte[r.nextInt(3) == 0 ? r.nextInt(2 << 20) : r.nextInt(40 << 10)];
            r.nextBytes(data);
            boolean sync = r.nextInt(4) != 0;
            try (FileChannel ch = FileChannel.open(mnt.resolve(name), StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING)) {
                ByteBuffer b = ByteBuffer.wrap(data);
                while (b.hasRemaining()) {
                    ch.write(b);
                }
                if (sync) {
                    ch.force(true);
                }
            }
            if (sync) {
                acked.put(name, data); // unsynced ones may hold anything after the cut, as on any disk
            }
        }
        Thread.sleep(r.nextInt(300));
        // The power goes: the daemon stops at once, and the disk keeps what it keeps.
        ProcessHandle.of(pid).ifPresent(p -> {
            p.destroyForcibly();
            p.onExit().join();
        });
        CliIT.awaitUnmounted(mnt);
        Path image = Files.createDirectory(tmp.resolve("after" + round));
        CrashFs.Fates fates = fs.imageAfterPowerCut(image, r);
        disk.close();
        disk = null;
        Path after = image.resolve("cache");

        CliIT.mountInBackground(daemons, lower, mnt, after, "-o", "reconnect=manual" + wb);
        Map<String, String> st = CliIT.statusOf(CliIT.run("status", mnt.toString()).out());
        if (!acked.isEmpty() && !"offline".equals(st.get("mode"))) {
            throw new AssertionError("offline changes were journaled, yet the mount starts " + st.get("mode"));
        }
        for (var e : acked.entrySet()) {
            byte[] got = Files.readAllBytes(mnt.resolve(e.getKey()));
            if (!Arrays.equals(e.getValue(), got)) {
                throw new AssertionError("acknowledged offline write " + e.getKey() + " reads " + got.length + " bytes, not the "
                        + e.getValue().length + " written");
            }
        }
        for (int i = 0; i < 8; i++) { // cached data: the lower's exactly, or not served at all
            byte[] want = Files.readAllBytes(lower.resolve("l" + i));
            try {
                byte[] got = Files.readAllBytes(mnt.resolve("l" + i));
                if (!Arrays.equals(want, got)) {
                    throw new AssertionError("l" + i + " is served with content the lower never had");
                }
            } catch (IOException notCached) {
                refusedReads++; // offline and not (or no longer: a torn chunk) cached: refused, which is right
            }
        }
        CliIT.mustSucceed("online", mnt.toString());
        for (var e : acked.entrySet()) {
            if (!Arrays.equals(e.getValue(), Files.readAllBytes(lower.resolve(e.getKey())))) {
                throw new AssertionError("acknowledged offline write " + e.getKey() + " did not reach the lower intact");
            }
        }
        CliIT.mustSucceed("umount", mnt.toString());
        CliIT.Result repair = CliIT.run("fsck", "--repair", after.toString());
        if (repair.code() != 0 || repair.out().contains("LOCAL CHANGES DAMAGED")) {
            throw new AssertionError("fsck --repair after the power cut: " + repair.out() + repair.err());
        }
        CliIT.Result clean = CliIT.run("fsck", after.toString());
        if (clean.code() != 0) {
            throw new AssertionError("fsck after repair: " + clean.out() + clean.err());
        }
        lastAcked = acked.size();
        repairedChunks += repair.out().lines().filter(l -> l.contains(" chunk ")).count();
        return fates;
    }
}
