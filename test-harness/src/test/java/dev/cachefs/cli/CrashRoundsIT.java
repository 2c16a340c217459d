package dev.cachefs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

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
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * SIGKILLs the daemon at seeded random moments of online writes, offline writes, replay, culling,
 * pinning and write-back (writes queued and uploaded), and after each kill mounts the same cache again and checks what the mount
 * promised: every file whose write was acknowledged by fsync is there with exactly its content
 * (on the lower for online writes; through the mount, then on the lower after replay, for
 * offline ones), what the cache serves equals the lower, and {@code cachefs fsck} finds the cache
 * clean. One lower and one cache serve all rounds, so state builds up as in real use.
 *
 * <p>{@code -Dcachefs.crash.rounds=N} (default 5: each phase once) and
 * {@code -Dcachefs.crash.seed=S} make the nightly campaign: {@code ./dev nightly} runs 300.
 */
@Timeout(7200)
class CrashRoundsIT {
    enum Phase { ONLINE_WRITES, OFFLINE_WRITES, REPLAY, CULLING, PINNING, WRITEBACK }

    @TempDir(cleanup = org.junit.jupiter.api.io.CleanupMode.ON_SUCCESS) // a failed campaign keeps its cache and log
    Path tmp;
    Path lower;
    Path mnt;
    Path cache;
    final List<Long> daemons = new ArrayList<>();
    /** Files whose last write was acknowledged (fsync returned), by name: what they must hold. */
    final Map<String, byte[]> acked = new ConcurrentHashMap<>();

    @BeforeEach
    void setUp() throws IOException {
        Mounts.assumeFuse();
        lower = Files.createDirectory(tmp.resolve("lower"));
        mnt = Files.createDirectory(tmp.resolve("mnt"));
        cache = tmp.resolve("cache");
        Files.createDirectories(lower.resolve("tree"));
        Random r = new Random(7);
        for (int i = 0; i < 24; i++) { // read by culling and pinning rounds
            byte[] b = new byte[(1 << 20) + r.nextInt(1 << 20)];
            r.nextBytes(b);
            Files.write(lower.resolve("tree/t" + i), b);
        }
    }

    @AfterEach
    void cleanUp() throws Exception {
        CliIT.release(mnt, daemons);
    }

    @Test
    void killedAtRandomMomentsTheDaemonLosesNothingItAcknowledged() throws Exception {
        int rounds = Integer.getInteger("cachefs.crash.rounds", Phase.values().length);
        long seed = Long.getLong("cachefs.crash.seed", 20261203L);
        Random seeds = new Random(seed);
        List<String> failures = new ArrayList<>();
        int[] perPhase = new int[Phase.values().length];
        for (int round = 0; round < rounds; round++) {
            Phase phase = round < Phase.values().length ? Phase.values()[round] : Phase.values()[seeds.nextInt(Phase.values().length)];
            long roundSeed = seeds.nextLong();
            perPhase[phase.ordinal()]++;
            try {
                round(phase, new Random(roundSeed));
            } catch (AssertionError | Exception e) {
                failures.add("round " + round + " " + phase + " (seed " + roundSeed + "): " + e + " [cache and log kept in " + cache + "]");
                if (MountTable.at(mnt).isPresent()) {
                    CliIT.run("umount", "--lazy", mnt.toString());
                    Mounts.forceUnmount(mnt);
                }
            }
        }
        System.out.println("crash rounds: " + rounds + " " + Arrays.toString(Phase.values()) + " " + Arrays.toString(perPhase)
                + ", acknowledged files checked: " + acked.size() + ", failures: " + failures.size());
        assertEquals(List.of(), failures);
    }

    private void round(Phase phase, Random r) throws Exception {
        long killAfterMs = 50 + r.nextInt(1500);
        switch (phase) {
            case ONLINE_WRITES -> {
                long pid = mount();
                Writer w = new Writer(r.nextLong(), "on");
                w.start();
                Thread.sleep(killAfterMs);
                kill(pid, w);
                check(acked, lower, "online-acknowledged file on the lower");
                mount();
                check(acked, mnt, "online-acknowledged file through the remounted cache");
            }
            case OFFLINE_WRITES -> {
                long pid = mount();
                CliIT.mustSucceed("offline", mnt.toString());
                Writer w = new Writer(r.nextLong(), "off");
                w.start();
                Thread.sleep(killAfterMs);
                kill(pid, w);
                mount("-o", "reconnect=manual"); // starts offline: the journal holds changes
                String mode = CliIT.statusOf(CliIT.run("status", mnt.toString()).out()).get("mode");
                if (!w.acks.isEmpty() && !"offline".equals(mode)) {
                    throw new AssertionError("changes were journaled, yet the mount starts " + mode);
                }
                // This round's writes are in their local copies; earlier rounds' files are on the lower and,
                // offline, readable only if the cache holds their data (else ENOTCONN, never other bytes).
                Map<String, byte[]> thisRound = new java.util.HashMap<>();
                for (String n : w.acks) {
                    if (acked.containsKey(n)) {
                        thisRound.put(n, acked.get(n));
                    }
                }
                check(thisRound, mnt, "offline-acknowledged file through the remounted cache");
                for (var e : acked.entrySet()) {
                    try {
                        if (!thisRound.containsKey(e.getKey()) && !Arrays.equals(e.getValue(), Files.readAllBytes(mnt.resolve(e.getKey())))) {
                            throw new AssertionError(e.getKey() + " is served offline with bytes that were never acknowledged");
                        }
                    } catch (IOException notCached) {
                        // not in the cache: refused offline, which is right
                    }
                }
                CliIT.mustSucceed("online", mnt.toString());
                awaitSynced();
                check(acked, lower, "offline-acknowledged file on the lower after replay");
            }
            case REPLAY -> {
                long pid = mount();
                CliIT.mustSucceed("offline", mnt.toString());
                Writer w = new Writer(r.nextLong(), "rp");
                w.limit = 40 + r.nextInt(120);
                w.run(); // every write acknowledged
                Thread online = Thread.ofPlatform().daemon().start(() -> {
                    try {
                        CliIT.run("online", mnt.toString());
                    } catch (Exception ignored) {
                        // killed under it
                    }
                });
                Thread.sleep(killAfterMs / 3);
                kill(pid, null);
                online.join(30_000);
                mount(); // replays the rest by itself
                awaitSynced();
                check(acked, lower, "file written offline, on the lower after a replay cut by SIGKILL");
            }
            case WRITEBACK -> {
                // Write-back with a short delay: kills land mid-write, mid-queue and mid-upload.
                long pid = mount("-o", "writeback=0.3", "--log-level", "debug");
                Writer w = new Writer(r.nextLong(), "wb");
                w.start();
                Thread.sleep(killAfterMs);
                kill(pid, w);
                mount("-o", "writeback=0.3", "--log-level", "debug"); // what is queued is uploaded by this mount (offline until replayed)
                // Until the upload, queued files are served from their copies; one uploaded before the kill
                // is served if cached, else refused while offline: never other bytes.
                for (String n : w.acks) {
                    byte[] want = acked.get(n);
                    try {
                        byte[] got = Files.readAllBytes(mnt.resolve(n));
                        if (want != null && !Arrays.equals(want, got)) {
                            throw new AssertionError(n + " is served with bytes that were never acknowledged: " + got.length
                                    + " bytes (hash " + Arrays.hashCode(got) + "), acknowledged " + want.length + " (hash "
                                    + Arrays.hashCode(want) + "); versions written: " + w.written.get(n));
                        }
                    } catch (IOException offlineNotCached) {
                        // uploaded and not cached, the remount still offline: refused, which is right
                    }
                }
                awaitSynced();
                check(acked, lower, "write-back-acknowledged file on the lower after the next mount's upload");
                check(acked, mnt, "write-back-acknowledged file through the mount after its upload");
                try (var l = Files.list(lower)) {
                    List<String> extra = l.map(p -> p.getFileName().toString())
                            .filter(x -> x.startsWith(".cachefs-upload-") || x.contains(".conflict-")).toList();
                    if (!extra.isEmpty()) {
                        throw new AssertionError("an upload left behind, or in conflict with itself: " + extra);
                    }
                }
            }
            case CULLING -> {
                long pid = mount("--cache-size", "6M");
                Thread reader = Thread.ofPlatform().daemon().start(() -> readTree(r.nextLong()));
                Thread.sleep(killAfterMs);
                kill(pid, null);
                reader.join(30_000);
                mount();
                compareTree("after a kill while culling");
            }
            case PINNING -> {
                long pid = mount();
                Thread pin = Thread.ofPlatform().daemon().start(() -> {
                    try {
                        CliIT.run("pin", "-r", "--quiet", mnt.resolve("tree").toString());
                    } catch (Exception ignored) {
                        // killed under it
                    }
                });
                Thread.sleep(killAfterMs / 2);
                kill(pid, null);
                pin.join(30_000);
                mount();
                compareTree("after a kill while pinning");
                CliIT.mustSucceed("pin", "-r", "--quiet", mnt.resolve("tree").toString());
                CliIT.mustSucceed("unpin", "-r", mnt.resolve("tree").toString());
            }
        }
        CliIT.mustSucceed("umount", mnt.toString());
        CliIT.Result f = CliIT.run("fsck", cache.toString());
        if (f.code() != 0) {
            throw new AssertionError("fsck after the round: " + f.out() + f.err());
        }
    }

    /** Writes seeded files through the mount, each fsynced; an acknowledged one goes into {@link #acked}. */
    private final class Writer extends Thread {
        final Random r;
        final String prefix;
        final List<String> acks = new ArrayList<>();
        /** Each version written, by name: its length and hash, and whether it was acknowledged. */
        final Map<String, List<String>> written = new ConcurrentHashMap<>();
        int limit = Integer.MAX_VALUE;

        Writer(long seed, String prefix) {
            this.r = new Random(seed);
            this.prefix = prefix;
            setDaemon(true);
        }

        @Override
        public void run() {
            try {
                for (int i = 0; i < limit; i++) {
                    // a new file or one written before (rewritten from the start: allowed offline too)
                    String name = prefix + r.nextInt(60);
                    byte[] data = new byte[r.nextInt(4) == 0 ? r.nextInt(3 << 20) : r.nextInt(64 << 10)];
                    r.nextBytes(data);
                    acked.remove(name); // in flight: its old content is no longer promised
                    try (FileChannel ch = FileChannel.open(mnt.resolve(name), StandardOpenOption.CREATE,
                            StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                        ByteBuffer b = ByteBuffer.wrap(data);
                        while (b.hasRemaining()) {
                            ch.write(b);
                        }
                        ch.force(true);
                    }
                    acked.put(name, data);
                    acks.add(name);
                    written.computeIfAbsent(name, k -> new java.util.concurrent.CopyOnWriteArrayList<>())
                            .add(data.length + "/" + Arrays.hashCode(data) + " acked at " + System.currentTimeMillis());
                }
            } catch (IOException e) {
                // the daemon died under it: what it acknowledged is in acked
            }
        }
    }

    private long mount(String... more) throws Exception {
        long pid = CliIT.mountInBackground(daemons, lower, mnt, cache, more);
        return pid;
    }

    private void kill(long pid, Thread writer) throws Exception {
        ProcessHandle.of(pid).ifPresent(p -> {
            p.destroyForcibly(); // SIGKILL, our own daemon by PID
            p.onExit().join();
        });
        if (writer != null) {
            writer.join(30_000);
        }
        CliIT.awaitUnmounted(mnt);
    }

    private void awaitSynced() throws Exception {
        long t0 = System.nanoTime();
        Map<String, String> st = Map.of();
        while (System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(90)) {
            st = CliIT.statusOf(CliIT.run("status", mnt.toString()).out());
            if (st.getOrDefault("journal", "").startsWith("0 ") && "online".equals(st.get("mode"))) {
                return;
            }
            Thread.sleep(300);
        }
        throw new AssertionError("not replayed within 90 s: " + st);
    }

    private static void check(Map<String, byte[]> want, Path root, String what) throws IOException {
        for (var e : want.entrySet()) {
            byte[] got;
            try {
                got = Files.readAllBytes(root.resolve(e.getKey()));
            } catch (IOException ex) {
                throw new AssertionError(what + " " + e.getKey() + " cannot be read: " + ex);
            }
            if (!Arrays.equals(e.getValue(), got)) {
                throw new AssertionError(what + " " + e.getKey() + " differs: " + got.length + " bytes, "
                        + e.getValue().length + " acknowledged");
            }
        }
    }

    private void readTree(long seed) {
        Random r = new Random(seed);
        try {
            for (int pass = 0; pass < 4; pass++) {
                for (int i = 0; i < 24; i++) {
                    Files.readAllBytes(mnt.resolve("tree/t" + r.nextInt(24)));
                }
            }
        } catch (IOException e) {
            // the daemon died under it
        }
    }

    private void compareTree(String when) throws IOException {
        for (int i = 0; i < 24; i++) {
            Path p = Path.of("tree/t" + i);
            if (!Arrays.equals(Files.readAllBytes(lower.resolve(p)), Files.readAllBytes(mnt.resolve(p)))) {
                throw new AssertionError(when + ": " + p + " read through the mount differs from the lower");
            }
        }
    }
}
