package dev.cachefs.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cachefs.harness.Mounts;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The cachefs command as a user runs it: the built jar, in its own processes. */
@Timeout(120)
class CliIT {
    @TempDir
    Path tmp;
    Path lower;
    Path mnt;
    final List<Long> daemons = new ArrayList<>();

    record Result(int code, String out, String err) {}

    @BeforeEach
    void setUp() throws IOException {
        Mounts.assumeFuse();
        lower = Files.createDirectory(tmp.resolve("lower"));
        mnt = Files.createDirectory(tmp.resolve("mnt"));
        Files.writeString(lower.resolve("hello.txt"), "hello from the lower\n");
    }

    @AfterEach
    void cleanUp() throws Exception {
        release(mnt, daemons);
    }

    /** After a test: unmounts {@code mnt} if still mounted, and stops the daemons it started (by PID). */
    static void release(Path mnt, List<Long> daemons) throws Exception {
        if (MountTable.at(mnt).isPresent()) {
            run("umount", "--lazy", mnt.toString());
            Mounts.forceUnmount(mnt);
        }
        for (long pid : daemons) {
            ProcessHandle.of(pid).ifPresent(p -> {
                p.destroy();
                try {
                    p.onExit().get(10, TimeUnit.SECONDS);
                } catch (Exception e) {
                    p.destroyForcibly();
                }
            });
        }
    }

    /** Runs cachefs; an AssertionError with its message unless it exits 0. */
    static void mustSucceed(String... args) throws Exception {
        Result r = run(args);
        if (r.code() != 0) {
            throw new AssertionError("cachefs " + String.join(" ", args) + ": " + r.err());
        }
    }

    /** Waits (20 s at most) for a mount whose daemon died to be taken away, then forces it. */
    static void awaitUnmounted(Path mnt) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (MountTable.at(mnt).isPresent() && System.nanoTime() < deadline) {
            Thread.sleep(20); // auto_unmount takes the dead mount away
        }
        if (MountTable.at(mnt).isPresent()) {
            Mounts.forceUnmount(mnt);
        }
    }

    static Result run(String... args) throws IOException, InterruptedException {
        Path jar = Path.of(System.getProperty("cachefs.jar", "../cachefs-core/target/cachefs-all.jar")).toAbsolutePath();
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-jar", jar.toString()));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).start();
        // Drain both streams before waiting; the background daemon does not hold them open.
        var out = p.getInputStream();
        var err = p.getErrorStream();
        String o = new String(out.readAllBytes(), StandardCharsets.UTF_8);
        String e = new String(err.readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("cachefs " + String.join(" ", args) + " did not finish");
        }
        return new Result(p.exitValue(), o, e);
    }

    private long mountInBackground(String... more) throws Exception {
        return mountInBackground(daemons, lower, mnt, tmp.resolve("cache"), more);
    }

    /** Mounts with the CLI (in the background); the daemon's pid, also added to {@code daemons}. */
    static long mountInBackground(List<Long> daemons, Path lower, Path mnt, Path cache, String... more) throws Exception {
        List<String> args = new java.util.ArrayList<>(List.of("mount", lower.toString(), mnt.toString(), "--cache",
                cache.toString()));
        args.addAll(List.of(more));
        Result r = run(args.toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        Matcher m = Pattern.compile("pid (\\d+)").matcher(r.out());
        assertTrue(m.find(), r.out());
        long pid = Long.parseLong(m.group(1));
        daemons.add(pid);
        return pid;
    }

    @Test
    void wrongArgumentsGiveOneClearLineAndExitCode2() throws Exception {
        Path file = Files.writeString(tmp.resolve("plain-file"), "x");
        Path badRule = Files.writeString(tmp.resolve("bad.conf"), "[conflicts]\n*.x: keep-mine\n");
        List<List<String>> cases = List.of(
                List.of("mount", lower.toString(), mnt.toString(), "--config", badRule.toString()),
                List.of("resolve", mnt.resolve("x").toString(), "--keep", "theirs"),
                List.of("mount", tmp.resolve("nope").toString(), mnt.toString()),
                List.of("mount", file.toString(), mnt.toString()),
                List.of("mount", lower.toString(), tmp.resolve("no-mountpoint").toString()),
                List.of("mount", lower.toString(), lower.resolve(".").toString()),
                List.of("mount", lower.toString(), mnt.toString(), "-o", "no_such_option"),
                List.of("mount", lower.toString(), mnt.toString(), "-o", "max_write=12"),
                List.of("umount", mnt.toString()),
                List.of("mount"),
                List.of("mount", lower.toString()),
                List.of("mount", lower.toString(), mnt.toString(), "-o", "metrics=0.0.0.0:9464"),
                List.of("mount", lower.toString(), mnt.toString(), "-o", "metrics=notaport"),
                List.of("mount", lower.toString(), mnt.toString(), "--log-level", "loud"));
        for (List<String> c : cases) {
            Result r = run(c.toArray(String[]::new));
            assertEquals(2, r.code(), c + ": " + r.err());
            assertTrue(r.err().startsWith("cachefs: ") && r.err().strip().lines().count() == 1,
                    c + " should print one line, printed: " + r.err());
        }
        assertFalse(MountTable.at(mnt).isPresent());
    }

    @Test
    void offlineAndOnlineForceTheModeAndTheHookHearsOfIt() throws Exception {
        Path events = tmp.resolve("events.jsonl");
        mountInBackground("--on-event", "cat >> " + events + "; echo \"$CACHEFS_EVENT $CACHEFS_MODE\" >> " + events + ".env");
        assertEquals("hello from the lower\n", Files.readString(mnt.resolve("hello.txt")));
        Result off = run("offline", mnt.toString());
        assertEquals(0, off.code(), off.err());
        Result st = run("status", mnt.toString());
        assertTrue(st.out().matches("(?s).*mode\\s+offline \\(forced\\)\n.*"), st.out());
        assertEquals("hello from the lower\n", Files.readString(mnt.resolve("hello.txt")), "cached, read offline");
        Files.writeString(mnt.resolve("made-offline.txt"), "journaled");
        assertFalse(Files.exists(lower.resolve("made-offline.txt")), "offline, the lower is not touched");
        String offStatus = run("status", mnt.toString()).out();
        assertTrue(offStatus.matches("(?s).*journal\\s+[1-9]\\d* local changes\n.*"), offStatus);
        assertTrue(offStatus.matches("(?s).*objects dirty\\s+1\n.*"), offStatus);
        String log = Files.readString(events);
        assertTrue(log.lines().anyMatch(l -> l.startsWith("{\"event\":\"offline\",\"mode\":\"offline\"")), log);
        assertTrue(Files.readString(Path.of(events + ".env")).contains("offline offline"));
        assertEquals(0, run("umount", mnt.toString()).code());

        // The journal survives: the next mount starts offline and still shows the change (manual
        // reconnection: else its probe may replay before this looks) ...
        mountInBackground("--on-event", "cat >> " + events, "-o", "reconnect=manual");
        assertEquals("journaled", Files.readString(mnt.resolve("made-offline.txt")));
        assertTrue(run("status", mnt.toString()).out().matches("(?s).*mode\\s+offline\n.*"));
        assertFalse(Files.exists(lower.resolve("made-offline.txt")));
        // ... until it goes online: the journal is replayed first.
        Result on = run("sync", mnt.toString());
        assertEquals(0, on.code(), on.out() + on.err());
        assertTrue(on.out().contains("is online; 0 local changes left"), on.out());
        Result conflicts = run("conflicts", mnt.toString());
        assertEquals(0, conflicts.code(), conflicts.err());
        assertTrue(conflicts.out().strip().endsWith("0 open conflicts"), conflicts.out());
        assertEquals("journaled", Files.readString(lower.resolve("made-offline.txt")), "replayed onto the lower");
        assertTrue(run("status", mnt.toString()).out().matches("(?s).*journal\\s+0 local changes\n.*"));
        dev.cachefs.harness.NetworkLower.awaitTrue(java.time.Duration.ofSeconds(20), "the event hook",
                () -> Files.readString(events).contains("\"replayed\""));
    }

    @Test
    void withWriteBackStatusShowsTheUploadQueueAndSyncWaitsUntilTheLowerHasIt() throws Exception {
        // A delay far longer than the test: only `cachefs sync` can make the upload happen in time.
        mountInBackground("-o", "writeback=600");
        Files.writeString(mnt.resolve("queued.txt"), "written back\n");
        Files.writeString(mnt.resolve("hello.txt"), "changed through the mount\n");
        Result st = run("status", mnt.toString());
        assertEquals(0, st.code(), st.err());
        assertTrue(st.out().matches("(?s).*write-back\\s+on, uploads after 600\\.0 s\n.*"), st.out());
        assertTrue(st.out().matches("(?s).*upload queue\\s+2 files, 39 bytes, oldest change .*"), st.out());
        assertFalse(Files.exists(lower.resolve("queued.txt")), "not uploaded before the delay");
        assertEquals("hello from the lower\n", Files.readString(lower.resolve("hello.txt")));

        Result sync = run("sync", mnt.toString());
        assertEquals(0, sync.code(), sync.out() + sync.err());
        assertTrue(sync.out().contains("0 local changes left"), sync.out());
        assertEquals("written back\n", Files.readString(lower.resolve("queued.txt")), "on the lower once sync returns");
        assertEquals("changed through the mount\n", Files.readString(lower.resolve("hello.txt")));
        Result after = run("status", mnt.toString());
        assertTrue(after.out().matches("(?s).*upload queue\\s+0 files, 0 bytes\n.*"), after.out());
        assertTrue(after.out().matches("(?s).*uploaded\\s+\\d+ changes, 39 bytes since the mount\n.*"), after.out());
    }

    @Test
    void umountReturnsOnceTheDaemonHasUploadedItsQueueAndExitedAndSaysWhatStaysQueued() throws Exception {
        long pid = mountInBackground("-o", "writeback=600");
        for (int i = 0; i < 50; i++) {
            Files.writeString(mnt.resolve("q" + i + ".txt"), "queued " + i);
        }
        Result u = run("umount", mnt.toString());
        assertEquals(0, u.code(), u.out() + u.err());
        assertTrue(u.out().contains("the daemon uploads its queue before it exits (50 files"), u.out());
        assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "the daemon has exited when umount returns");
        for (int i = 0; i < 50; i++) {
            assertEquals("queued " + i, Files.readString(lower.resolve("q" + i + ".txt")), "uploaded before umount returned");
        }
        assertFalse(u.out().contains("stay queued"), u.out());

        // Offline, nothing can go up: the unmount says what waits for the next mount.
        long pid2 = mountInBackground("-o", "writeback=600");
        assertEquals(0, run("offline", mnt.toString()).code());
        Files.writeString(mnt.resolve("later.txt"), "for the next mount");
        Result u2 = run("umount", mnt.toString());
        assertEquals(0, u2.code(), u2.out() + u2.err());
        assertTrue(u2.out().matches("(?s).*cachefs: \\d+ changes stay queued in .* for the next mount \\(offline\\).*"), u2.out());
        assertFalse(ProcessHandle.of(pid2).map(ProcessHandle::isAlive).orElse(false));
        assertFalse(Files.exists(lower.resolve("later.txt")));
        mountInBackground("-o", "writeback=600");
        assertEquals(0, run("sync", mnt.toString()).code(), "the next mount uploads it");
        assertEquals("for the next mount", Files.readString(lower.resolve("later.txt")));
    }

    @Test
    void invalidateMakesTheKernelAskAgainBeforeItsTimeout() throws Exception {
        mountInBackground("-o", "attr_timeout=3600,entry_timeout=3600");
        Path f = mnt.resolve("hello.txt");
        assertEquals(21, Files.size(f));
        Files.writeString(lower.resolve("hello.txt"), "changed behind the mount's back\n");
        Files.writeString(lower.resolve("new.txt"), "new");
        assertEquals(21, Files.size(f), "the kernel trusts its attributes for an hour");
        Result r = run("invalidate", f.toString());
        assertEquals(0, r.code(), r.err());
        assertEquals(32, Files.size(f), "asked again after invalidate");
        assertEquals("changed behind the mount's back\n", Files.readString(f));
        assertEquals(2, run("invalidate", tmp.resolve("plain").toString()).code(), "a path outside any cachefs mount");
    }

    @Test
    void statusShowsTheLiveMountAndItsIdentityMode() throws Exception {
        long pid = mountInBackground();
        Result st = run("status", mnt.toString());
        assertEquals(0, st.code(), st.err());
        assertTrue(st.out().matches("(?s).*daemon pid\\s+" + pid + "\n.*"), st.out());
        assertTrue(st.out().matches("(?s).*mode\\s+online\n.*"), st.out());
        assertTrue(st.out().matches("(?s).*lower\\s+" + Pattern.quote(lower.toString()) + "\n.*"), st.out());
        // The temp directory's filesystem decides: handle where it gives stable handles, else path.
        Matcher m = Pattern.compile("identity\\s+(handle|path)\n").matcher(st.out());
        assertTrue(m.find(), st.out());
        assertEquals(0, run("umount", mnt.toString()).code());
        assertEquals(2, run("status", mnt.toString()).code(), "not mounted any more");

        // Forced path identity shows as such.
        Result r = run("mount", lower.toString(), mnt.toString(), "--cache", tmp.resolve("cache2").toString(), "--identity", "path");
        assertEquals(0, r.code(), r.err());
        Matcher p2 = Pattern.compile("pid (\\d+)").matcher(r.out());
        assertTrue(p2.find());
        daemons.add(Long.parseLong(p2.group(1)));
        Result forced = run("status", mnt.toString());
        assertTrue(forced.out().matches("(?s).*identity\\s+path\n.*"), forced.out());
        assertTrue(forced.out().matches("(?s).*identity reason\\s+forced.*"), forced.out());
    }

    private Map<String, Long> stats() throws Exception {
        Result r = run("stats", mnt.toString(), "--json");
        assertEquals(0, r.code(), r.err());
        Map<String, Long> m = new java.util.HashMap<>();
        Matcher kv = Pattern.compile("\"(\\w+)\": (\\d+)").matcher(r.out());
        while (kv.find()) {
            m.put(kv.group(1), Long.parseLong(kv.group(2)));
        }
        assertTrue(m.containsKey("bytes_from_lower"), r.out());
        return m;
    }

    @Test
    void statsCountWhatTheCacheDidAndARemountReadsNothingFromTheLower() throws Exception {
        byte[] data = new byte[3 * 1024 * 1024 + 17];
        new java.util.Random(9).nextBytes(data);
        Files.write(lower.resolve("big"), data);
        mountInBackground();
        assertArrayEquals(data, Files.readAllBytes(mnt.resolve("big")));
        assertArrayEquals(data, Files.readAllBytes(mnt.resolve("big")));
        Map<String, Long> s = stats();
        assertTrue(s.get("bytes_from_lower") >= data.length, s.toString());
        assertTrue(s.get("miss_bytes") > 0 && s.get("lower_calls") > 0 && s.get("revalidations") > 0, s.toString());
        Result human = run("stats", mnt.toString());
        assertTrue(human.out().contains("hit_ratio"), human.out());
        assertEquals(0, run("umount", mnt.toString()).code());

        mountInBackground(); // the same cache directory
        assertArrayEquals(data, Files.readAllBytes(mnt.resolve("big")));
        Map<String, Long> again = stats();
        assertEquals(0L, again.get("bytes_from_lower"), "served from the cache kept across the remount: " + again);
        assertTrue(again.get("passthrough_opens") + again.get("hit_bytes") > 0, again.toString());
    }

    /**
     * --cache-size caps the cached data; status shows the whole directory on disk, part by part,
     * and the parts add up to what du measures.
     */
    @Test
    void statusShowsWhatTheCacheDirectoryHoldsBesideTheCap() throws Exception {
        byte[] data = new byte[3 << 20];
        new java.util.Random(12).nextBytes(data);
        for (int i = 0; i < 4; i++) {
            Files.write(lower.resolve("f" + i), data);
        }
        mountInBackground("--cache-size", "48M");
        for (int i = 0; i < 4; i++) {
            assertArrayEquals(data, Files.readAllBytes(mnt.resolve("f" + i)));
        }
        Map<String, String> st = statusOf(run("status", mnt.toString()).out());
        String line = st.get("cache directory");
        Matcher m = Pattern.compile("(\\d+) bytes on disk: data (\\d+), index (\\d+), journal reserve (\\d+),"
                + " offline changes (\\d+), conflict versions (\\d+), other (\\d+) .*--cache-size caps the data.*")
                .matcher(line == null ? "" : line);
        assertTrue(m.matches(), "status: " + st);
        long total = Long.parseLong(m.group(1));
        long sum = 0;
        for (int g = 2; g <= 7; g++) {
            sum += Long.parseLong(m.group(g));
        }
        assertEquals(total, sum, "the parts add up");
        assertTrue(Long.parseLong(m.group(2)) >= 4L * data.length, "the data read is there: " + line);
        assertTrue(Long.parseLong(m.group(4)) > 0, "the journal reserve is shown: " + line);
        Process du = new ProcessBuilder("du", "-s", "-B1", tmp.resolve("cache").toString()).start();
        long measured = Long.parseLong(new String(du.getInputStream().readAllBytes(), StandardCharsets.UTF_8).split("\\s+")[0]);
        du.waitFor();
        assertTrue(Math.abs(measured - total) <= Math.max(measured / 5, 2L << 20), "du says " + measured + ", status " + total);
    }

    @Test
    void pinListEvictAndUnpinThroughTheCli() throws Exception {
        Files.createDirectories(lower.resolve("proj/src"));
        byte[] data = new byte[700_000];
        new java.util.Random(10).nextBytes(data);
        Files.write(lower.resolve("proj/src/a.bin"), data);
        Files.write(lower.resolve("proj/b.bin"), data);
        mountInBackground();
        Result pin = run("pin", "-r", "--json", mnt.resolve("proj").toString());
        assertEquals(0, pin.code(), pin.err());
        assertTrue(pin.out().contains("\"files\": 2") && pin.out().contains("\"bytes\": " + 2 * data.length), pin.out());
        Result pins = run("pins", mnt.toString());
        assertEquals(0, pins.code(), pins.err());
        assertTrue(pins.out().contains(mnt.resolve("proj/src/a.bin").toString()) && pins.out().contains("2 pinned"), pins.out());
        long fetched = stats().get("bytes_from_lower");
        assertEquals(2L * data.length, fetched, "the pin fetched both files");
        assertArrayEquals(data, Files.readAllBytes(mnt.resolve("proj/b.bin")));
        assertEquals(fetched, stats().get("bytes_from_lower"), "pinned data is read from the cache");
        Result dir = run("pin", mnt.resolve("proj").toString());
        assertEquals(1, dir.code(), "a directory needs -r: " + dir.out() + dir.err());
        assertTrue(dir.err().contains("use -r"), dir.err());
        Result outside = run("pin", tmp.toString());
        assertEquals(2, outside.code());
        assertTrue(outside.err().contains("not inside a cachefs mount"), outside.err());
        Result ev = run("evict", "-r", mnt.resolve("proj").toString());
        assertEquals(0, ev.code(), ev.err());
        assertTrue(ev.out().contains("2 files"), ev.out());
        assertTrue(run("pins", mnt.toString()).out().contains("0 pinned"));
        assertEquals(0, run("unpin", "-r", mnt.resolve("proj").toString()).code());
    }

    @Test
    void mountReturnsWhenLiveAndUmountStopsTheDaemon() throws Exception {
        long pid = mountInBackground();
        assertEquals("hello from the lower\n", Files.readString(mnt.resolve("hello.txt")));
        assertEquals("fuse.cachefs", MountTable.at(mnt).orElseThrow().type());
        Files.writeString(mnt.resolve("new.txt"), "written through cachefs");
        assertEquals("written through cachefs", Files.readString(lower.resolve("new.txt")));

        Result busy = run("mount", lower.toString(), mnt.toString());
        assertEquals(2, busy.code());
        assertTrue(busy.err().contains("busy"), busy.err());

        Result u = run("umount", mnt.toString());
        assertEquals(0, u.code(), u.err());
        assertFalse(MountTable.at(mnt).isPresent());
        ProcessHandle daemon = ProcessHandle.of(pid).orElse(null);
        if (daemon != null) {
            daemon.onExit().get(20, TimeUnit.SECONDS);
        }
        assertTrue(Files.exists(tmp.resolve("cache")), "the cache directory was created");
        assertEquals("rwx------", java.nio.file.attribute.PosixFilePermissions.toString(
                Files.getPosixFilePermissions(tmp.resolve("cache"))));
    }

    private static long[] journalDoneOfTotal(Path indexDb) {
        try (var c = java.sql.DriverManager.getConnection("jdbc:sqlite:" + indexDb);
             var st = c.createStatement();
             var r = st.executeQuery("SELECT COALESCE(SUM(done), 0), COUNT(*) FROM journal")) {
            return new long[] {r.getLong(1), r.getLong(2)};
        } catch (java.sql.SQLException e) {
            return new long[] {-1, -1}; // busy: ask again
        }
    }

    /**
     * SIGKILL of the daemon in the middle of a replay, then a new daemon on the same cache: it
     * starts offline (changes pending), replays the rest on its own, and nothing is applied twice
     * (no second keep-both copy, no file made twice, no upload file left behind).
     */
    @Test
    void sigkillMidReplayThenARemountFinishesItAndAppliesNothingTwice() throws Exception {
        Path cfg = Files.writeString(tmp.resolve("cachefs.conf"), "[conflicts]\n**: keep-both\n");
        long pid = mountInBackground("--config", cfg.toString());
        assertEquals("hello from the lower\n", Files.readString(mnt.resolve("hello.txt")));
        assertEquals(0, run("offline", mnt.toString()).code());
        int n = 400;
        for (int i = 0; i < n; i++) {
            byte[] data = new byte[16 << 10];
            new java.util.Random(i).nextBytes(data);
            Files.write(mnt.resolve("f" + i), data);
        }
        Files.writeString(mnt.resolve("hello.txt"), "edited offline\n");
        Files.writeString(lower.resolve("hello.txt"), "edited on the lower meanwhile\n");
        Path db = tmp.resolve("cache/index.db");
        Thread online = Thread.ofPlatform().daemon().start(() -> {
            try {
                run("online", mnt.toString()); // dies with the daemon
            } catch (Exception ignored) {
                // the daemon was killed under it
            }
        });
        long[] seen = {0, 0};
        long t0 = System.nanoTime();
        while (System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(60)) {
            seen = journalDoneOfTotal(db);
            if (seen[0] > 0) {
                break;
            }
            Thread.sleep(5);
        }
        ProcessHandle.of(pid).orElseThrow().destroyForcibly(); // SIGKILL, our own daemon by PID
        ProcessHandle.of(pid).ifPresent(p -> p.onExit().join());
        online.join(30_000);
        long[] after = journalDoneOfTotal(db);
        assertTrue(after[0] > 0 && after[0] < after[1], "killed mid-replay: " + after[0] + " of " + after[1] + " done");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (MountTable.at(mnt).isPresent() && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        mountInBackground("--config", cfg.toString());
        long t1 = System.nanoTime();
        Map<String, String> st = Map.of();
        while (System.nanoTime() - t1 < TimeUnit.SECONDS.toNanos(60)) {
            st = statusOf(run("status", mnt.toString()).out());
            if (st.getOrDefault("journal", "").startsWith("0 ") && "online".equals(st.get("mode"))) {
                break;
            }
            Thread.sleep(300);
        }
        assertEquals("online", st.get("mode"), "the new daemon replays the rest by itself: " + st);
        for (int i = 0; i < n; i++) {
            byte[] data = new byte[16 << 10];
            new java.util.Random(i).nextBytes(data);
            assertArrayEquals(data, Files.readAllBytes(lower.resolve("f" + i)), "f" + i);
        }
        assertEquals("edited on the lower meanwhile\n", Files.readString(lower.resolve("hello.txt")));
        List<String> names;
        try (var l = Files.list(lower)) {
            names = l.map(p -> p.getFileName().toString()).sorted().toList();
        }
        List<String> copies = names.stream().filter(x -> x.startsWith("hello.conflict-")).toList();
        assertEquals(1, copies.size(), names.toString());
        assertEquals("edited offline\n", Files.readString(lower.resolve(copies.getFirst())));
        assertEquals(n + 2, names.size(), "the files, hello.txt and its one copy; nothing else: " + names);
    }

    @Test
    void conflictsAreListedReadableAndResolvedThroughTheCli() throws Exception {
        mountInBackground();
        assertEquals("hello from the lower\n", Files.readString(mnt.resolve("hello.txt")));
        assertEquals(0, run("offline", mnt.toString()).code());
        Files.writeString(mnt.resolve("hello.txt"), "edited offline\n");
        Files.writeString(lower.resolve("hello.txt"), "edited on the lower meanwhile\n");
        Result on = run("online", mnt.toString());
        assertEquals(0, on.code(), on.err());
        Result list = run("conflicts", mnt.toString());
        assertEquals(0, list.code(), list.err());
        assertTrue(list.out().contains("both-updated  hello.txt  open: " + mnt.resolve(".cachefs/conflicts/hello.txt")), list.out());
        assertTrue(list.out().contains("1 open conflicts"), list.out());
        assertEquals("edited on the lower meanwhile\n", Files.readString(mnt.resolve(".cachefs/conflicts/hello.txt/remote")));
        assertEquals("hello from the lower\n", Files.readString(mnt.resolve(".cachefs/conflicts/hello.txt/base")));
        Thread.sleep(1100);
        assertEquals("edited offline\n", Files.readString(mnt.resolve("hello.txt")), "the local version is shown");
        assertEquals(2, run("resolve", mnt.resolve("hello.txt").toString(), "--keep", "mine").code());
        Result none = run("resolve", mnt.resolve("nothing-here").toString(), "--keep", "local");
        assertEquals(1, none.code());
        assertTrue(none.err().contains("no open conflict at nothing-here"), none.err());
        Result r = run("resolve", mnt.resolve("hello.txt").toString(), "--keep", "local");
        assertEquals(0, r.code(), r.err());
        assertEquals("edited offline\n", Files.readString(lower.resolve("hello.txt")));
        Result all = run("conflicts", "--all", mnt.toString());
        assertTrue(all.out().contains("0 open conflicts, 1 in all"), all.out());
        assertTrue(all.out().contains("hello.txt  keep-local (by the user)"), all.out());
        assertTrue(statusOf(run("status", mnt.toString()).out()).get("open conflicts").equals("0"));
    }

    @Test
    void theMountHelperTakesFstabStyleOptionsAndStatusSpeaksJson() throws Exception {
        Path jar = Path.of(System.getProperty("cachefs.jar", "../cachefs-core/target/cachefs-all.jar")).toAbsolutePath();
        Path helper = Path.of("../scripts/mount.fuse.cachefs").toAbsolutePath().normalize();
        ProcessBuilder pb = new ProcessBuilder(helper.toString(), lower.toString(), mnt.toString(), "-o",
                "rw,_netdev,cache=" + tmp.resolve("fstab-cache") + ",cache_size=64M,meta_ttl=5,x-systemd.automount")
                .redirectErrorStream(true).redirectOutput(tmp.resolve("helper.out").toFile());
        pb.environment().put("CACHEFS_CMD", Path.of(System.getProperty("java.home"), "bin", "java")
                + " --enable-native-access=ALL-UNNAMED -jar " + jar);
        Process p = pb.start();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        String out = Files.readString(tmp.resolve("helper.out"));
        assertEquals(0, p.exitValue(), out);
        java.util.regex.Matcher m = Pattern.compile("pid (\\d+)").matcher(out);
        assertTrue(m.find(), out);
        daemons.add(Long.parseLong(m.group(1)));
        assertEquals("hello from the lower\n", Files.readString(mnt.resolve("hello.txt")));
        Result st = run("status", "--json", mnt.toString());
        assertEquals(0, st.code(), st.err());
        assertTrue(st.out().strip().startsWith("{") && st.out().strip().endsWith("}"), st.out());
        assertTrue(st.out().contains("\"mode\": \"online\""), st.out());
        assertTrue(st.out().contains("\"cache\": \"" + tmp.resolve("fstab-cache")), "cache= became --cache: " + st.out());
        assertTrue(st.out().contains("\"hit rate\": "), st.out());
        assertTrue(st.out().contains("\"open conflicts\": \"0\""), st.out());
        assertEquals(0, run("umount", mnt.toString()).code());
    }

    @Test
    void aConfigFileDescribesTheMountAndItsMetricsAreServedOnLoopbackAndToAFile() throws Exception {
        Path stats = tmp.resolve("cachefs.prom");
        Path conf = Files.writeString(tmp.resolve("m.conf"), String.join("\n",
                "pin: hello.txt",
                "[mount]",
                "lower: " + lower,
                "mountpoint: " + mnt,
                "cache: " + tmp.resolve("conf-cache"),
                "cache-size: 1G",
                "log-level: warn",
                "options: meta_ttl=5",
                "options: metrics=127.0.0.1:0,stats_file=" + stats + ",stats_interval=1") + "\n");
        Result r = run("mount", "--config", conf.toString(), "--cache-size", "64M");
        assertEquals(0, r.code(), r.err());
        Matcher pid = Pattern.compile("pid (\\d+)").matcher(r.out());
        assertTrue(pid.find(), r.out());
        daemons.add(Long.parseLong(pid.group(1)));
        assertEquals("hello from the lower\n", Files.readString(mnt.resolve("hello.txt")));
        Map<String, String> st = statusOf(run("status", mnt.toString()).out());
        assertEquals(tmp.resolve("conf-cache").toString(), st.get("cache"), "the cache dir came from the config");
        assertTrue(st.get("cache used").endsWith(" of 67108864"), "the command line's --cache-size won: " + st);
        String url = st.get("metrics");
        assertTrue(url != null && url.matches("http://127\\.0\\.0\\.1:\\d+/metrics"), "status names the endpoint: " + st);

        var http = java.net.http.HttpClient.newHttpClient();
        var resp = http.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(url)).build(),
                java.net.http.HttpResponse.BodyHandlers.ofString());
        assertEquals(200, resp.statusCode());
        assertTrue(resp.headers().firstValue("Content-Type").orElse("").startsWith("text/plain; version=0.0.4"));
        Map<String, Long> m = parseMetrics(resp.body());
        String label = "{mountpoint=\"" + mnt + "\"}";
        assertEquals(1L, m.get("cachefs_online" + label), resp.body());
        assertTrue(m.get("cachefs_passthrough_opens_total" + label) + m.get("cachefs_daemon_opens_total" + label) >= 1,
                "the open was counted: " + resp.body());
        assertTrue(m.get("cachefs_bytes_from_lower_total" + label) >= 21, "the pin fetched the file: " + resp.body());
        assertEquals(67108864L, m.get("cachefs_cache_limit_bytes" + label));
        assertEquals(0L, m.get("cachefs_journal_entries" + label));
        assertTrue(m.containsKey("cachefs_objects{mountpoint=\"" + mnt + "\",state=\"cached\"}"), resp.body());
        assertTrue(resp.body().contains("# TYPE cachefs_read_bytes_total counter\n"), resp.body());
        var other = http.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(url.replace("/metrics", "/"))).build(),
                java.net.http.HttpResponse.BodyHandlers.ofString());
        assertEquals(404, other.statusCode());

        // Offline, the file says so within a few of its intervals.
        assertEquals(0, run("offline", mnt.toString()).code());
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
        Map<String, Long> f = Map.of();
        while (System.nanoTime() < until) {
            f = Files.exists(stats) ? parseMetrics(Files.readString(stats)) : Map.of();
            if (Long.valueOf(0).equals(f.get("cachefs_online" + label))) {
                break;
            }
            Thread.sleep(200);
        }
        assertEquals(0L, f.get("cachefs_online" + label), "the stats file follows the mode: " + f);
        assertEquals(1L, f.get("cachefs_forced_offline" + label));
        assertEquals(0, run("umount", mnt.toString()).code());
        String log = Files.readString(tmp.resolve("conf-cache/cachefs.log"));
        assertTrue(log.contains("[WARN] Connectivity - OFFLINE"), "warnings are logged: " + log);
        assertFalse(log.contains("[INFO]"), "log-level: warn leaves out the rest: " + log);
    }

    @Test
    void aCorruptForeignOrReadOnlyCacheIsRefusedInOneLineThatNamesTheFix() throws Exception {
        Path corrupt = Files.createDirectory(tmp.resolve("corrupt"));
        byte[] noise = new byte[100_000];
        new java.util.Random(1).nextBytes(noise);
        Files.write(corrupt.resolve("index.db"), noise);
        Result r = run("mount", lower.toString(), mnt.toString(), "--cache", corrupt.toString());
        assertTrue(r.code() != 0 && r.err().strip().lines().count() == 1, r.err());
        assertTrue(r.err().contains("is corrupt") && r.err().contains("cachefs fsck --repair"), r.err());
        Result repair = run("fsck", "--repair", corrupt.toString());
        assertEquals(0, repair.code(), repair.out() + repair.err());
        assertArrayEquals(noise, Files.readAllBytes(Files.list(corrupt).filter(p -> p.getFileName().toString()
                .startsWith("index.db.corrupt")).findFirst().orElseThrow()), "the corrupt index is kept aside, not deleted");
        mountInBackground(daemons, lower, mnt, corrupt);
        assertEquals("hello from the lower\n", Files.readString(mnt.resolve("hello.txt")), "repaired, it mounts");
        assertEquals(0, run("umount", mnt.toString()).code());

        Path foreign = Files.createDirectory(tmp.resolve("foreign"));
        try (var c = java.sql.DriverManager.getConnection("jdbc:sqlite:" + foreign.resolve("index.db"));
             var st = c.createStatement()) {
            st.execute("CREATE TABLE photos (id INTEGER)");
        }
        r = run("mount", lower.toString(), mnt.toString(), "--cache", foreign.toString());
        assertTrue(r.code() != 0 && r.err().contains("some other program") && r.err().contains("move it away"), r.err());

        Path ro = Files.createDirectory(tmp.resolve("ro"));
        assertEquals(0, new ProcessBuilder("mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", ro.toString())
                .inheritIO().start().waitFor());
        try {
            new ProcessBuilder("mount", "-o", "remount,ro", ro.toString()).inheritIO().start().waitFor();
            r = run("mount", lower.toString(), mnt.toString(), "--cache", ro.resolve("cache").toString());
            assertEquals(2, r.code(), r.err());
            assertTrue(r.err().contains("Read-only file system"), r.err());
        } finally {
            new ProcessBuilder("umount", ro.toString()).inheritIO().start().waitFor();
        }
        assertFalse(MountTable.at(mnt).isPresent());
    }

    /** A Prometheus text exposition as sample (name and labels) to value; every line must be well formed. */
    private static Map<String, Long> parseMetrics(String text) {
        Map<String, Long> m = new java.util.HashMap<>();
        Pattern sample = Pattern.compile("(cachefs_[a-z_]+(?:\\{[a-z_]+=\"(?:[^\"\\\\]|\\\\.)*\"(?:,[a-z_]+=\"(?:[^\"\\\\]|\\\\.)*\")*\\})?) (-?\\d+)");
        for (String line : text.split("\n")) {
            if (line.startsWith("# HELP cachefs_") || line.startsWith("# TYPE cachefs_")) {
                continue;
            }
            Matcher x = sample.matcher(line);
            assertTrue(x.matches(), "not a sample line: " + line);
            m.put(x.group(1), Long.parseLong(x.group(2)));
        }
        return m;
    }

    /** "key  value" lines of cachefs status. */
    static Map<String, String> statusOf(String out) {
        Map<String, String> m = new java.util.HashMap<>();
        for (String line : out.split("\n")) {
            String[] kv = line.split("\\s{2,}", 2);
            if (kv.length == 2) {
                m.put(kv[0].strip(), kv[1].strip());
            }
        }
        return m;
    }

    @Test
    void killedDaemonLeavesNoDeadMount() throws Exception {
        long pid = mountInBackground();
        assertTrue(Files.exists(mnt.resolve("hello.txt")));
        ProcessHandle.of(pid).orElseThrow().destroyForcibly(); // SIGKILL, our own daemon by PID
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (MountTable.at(mnt).isPresent() && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        assertFalse(MountTable.at(mnt).isPresent(), "auto_unmount should take the mount away");
        assertTrue(Files.isDirectory(mnt), "the mount point is a plain directory again");
    }

    @Test
    void foregroundMountServesUntilSigterm() throws Exception {
        Path jar = Path.of(System.getProperty("cachefs.jar", "../cachefs-core/target/cachefs-all.jar")).toAbsolutePath();
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-jar", jar.toString(), "mount", lower.toString(),
                mnt.toString(), "--foreground", "--cache", tmp.resolve("cache").toString())
                .redirectErrorStream(true).redirectOutput(tmp.resolve("fg.log").toFile()).start();
        daemons.add(p.pid());
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (MountTable.at(mnt).isEmpty() && System.nanoTime() < deadline && p.isAlive()) {
            Thread.sleep(50);
        }
        assertTrue(MountTable.at(mnt).isPresent(), Files.readString(tmp.resolve("fg.log")));
        assertEquals("hello from the lower\n", Files.readString(mnt.resolve("hello.txt")));
        p.destroy(); // SIGTERM
        assertTrue(p.waitFor(20, TimeUnit.SECONDS), "daemon should exit on SIGTERM");
        assertFalse(MountTable.at(mnt).isPresent());
    }
}
