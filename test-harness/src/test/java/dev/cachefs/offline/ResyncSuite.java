package dev.cachefs.offline;

import static dev.cachefs.offline.OfflineSuite.errnoOf;
import static dev.cachefs.offline.OfflineSuite.random;
import static dev.cachefs.offline.OfflineSuite.within;
import static dev.cachefs.offline.OfflineSuite.xattr;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cachefs.cache.Policy;
import dev.cachefs.harness.Stack;
import dev.cachefs.harness.Sys;
import dev.cachefs.index.CacheIndex;
import dev.cachefs.nativeio.Errno;
import dev.cachefs.nativeio.Libc;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Reconnection over one real lower (a subclass names it): offline edits on the mount, direct
 * edits on the lower meanwhile, then replay. Each conflict kind, each policy, rules by pattern,
 * the three-way merge, the conflicts view and resolving, a replay cut midway, and a seeded random
 * workload checked against the invariant: every offline change ends on the lower, in a stash, or
 * in an open conflict.
 */
@Timeout(300)
abstract class ResyncSuite extends SuiteOnLower {
    static Policy.ConflictRule rule(String pattern, String action) {
        return new Policy.ConflictRule(Policy.glob(pattern), action);
    }

    private Stack mount(List<Policy.ConflictRule> rules) throws Exception {
        fx = Stack.on(lower).uplink(OfflineSuite.uplinkOptions().withConflictRules(rules)).mount();
        return fx;
    }

    /** Brings the lower back with the mount still offline, so the test can change the lower first. */
    private void lowerBackMountOffline(Stack s) {
        s.uplink.connectivity().forceOffline();
        restore();
    }

    private static String base(int lines) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < lines; i++) {
            b.append("line ").append(i).append('\n');
        }
        return b.toString();
    }

    private static String replaceLine(String text, int line, String with) {
        String[] l = text.split("\n", -1);
        l[line % Math.max(1, l.length - 1)] = with;
        return String.join("\n", l);
    }

    /** Makes {@code dir} with {@code files}, reads each whole through the mount (so it can be edited offline). */
    private void cached(Stack s, String dir, Map<String, String> files) throws Exception {
        Path d = Files.createDirectories(s.lower.resolve(dir));
        for (var e : files.entrySet()) {
            Files.writeString(d.resolve(e.getKey()), e.getValue());
        }
        Files.setLastModifiedTime(d, FileTime.fromMillis(System.currentTimeMillis() - 60_000));
        for (var e : files.entrySet()) {
            assertEquals(e.getValue(), Files.readString(s.mnt.resolve(dir).resolve(e.getKey())));
        }
        try (var l = Files.list(s.mnt.resolve(dir))) {
            l.count();
        }
        s.cache.flushIndex();
    }

    private static void offlineWrite(Path p, String text) throws Exception {
        within(OfflineSuite.SLACK_MS, "offline write of " + p, () -> Files.writeString(p, text));
    }

    private static Set<String> names(Path dir) throws Exception {
        Set<String> out = new TreeSet<>();
        try (var l = Files.list(dir)) {
            l.forEach(p -> out.add(p.getFileName().toString()));
        }
        return out;
    }

    private static CacheIndex.Conflict conflictAt(Stack s, String path) throws Exception {
        CacheIndex.Conflict found = null;
        for (CacheIndex.Conflict c : s.uplink.conflicts()) {
            if (c.path().equals(path)) {
                found = c;
            }
        }
        assertTrue(found != null, "a conflict at " + path + " in " + s.uplink.conflicts());
        return found;
    }

    /** The cache's kept variant of a resolved conflict (from its detail). */
    private static Path variant(Stack s, CacheIndex.Conflict c, String which) {
        var m = java.util.regex.Pattern.compile("variants=(\\d+)").matcher(c.detail());
        assertTrue(m.find(), c.detail());
        return s.cacheDir.resolve("conflicts").resolve(m.group(1)).resolve(which);
    }

    @Test
    void rulesDecideEachConflictAndNothingIsLost() throws Exception {
        Stack s = mount(List.of(rule("**/keep-local.txt", "keep-local"), rule("**/keep-remote.txt", "keep-remote"),
                rule("**/newest.txt", "newest-wins"), rule("**/merge-*.txt", "merge"), rule("**/both.txt", "keep-both"),
                rule("**/*.txt", "keep-remote"))); // never reached by the files above: the first match wins
        List<String> plain = List.of("keep-local.txt", "keep-remote.txt", "newest.txt", "both.txt", "ask.dat");
        String base = base(20);
        Map<String, String> files = new HashMap<>();
        for (String f : plain) {
            files.put(f, base);
        }
        files.put("merge-clean.txt", base);
        files.put("merge-unclean.txt", base);
        cached(s, "r", files);
        takeLowerAway(s);
        Path m = s.mnt.resolve("r");
        Map<String, String> local = new HashMap<>();
        for (String f : plain) {
            local.put(f, "local " + f + "\n" + base);
        }
        local.put("merge-clean.txt", replaceLine(base, 2, "line 2, edited here"));
        local.put("merge-unclean.txt", replaceLine(base, 5, "line 5, edited here"));
        for (var e : local.entrySet()) {
            offlineWrite(m.resolve(e.getKey()), e.getValue());
        }
        lowerBackMountOffline(s);
        Path low = s.lower.resolve("r");
        Map<String, String> remote = new HashMap<>();
        for (String f : plain) {
            remote.put(f, "remote " + f + " (longer)\n" + base);
        }
        remote.put("merge-clean.txt", replaceLine(base, 15, "line 15, edited there"));
        remote.put("merge-unclean.txt", replaceLine(base, 5, "line 5, edited there"));
        for (var e : remote.entrySet()) {
            Files.writeString(low.resolve(e.getKey()), e.getValue());
        }
        Files.setLastModifiedTime(low.resolve("newest.txt"), FileTime.fromMillis(System.currentTimeMillis() + 3_600_000));
        assertEquals("online", s.uplink.connectivity().goOnline("test", true));
        assertEquals(0, s.uplink.journal().size());

        assertEquals(local.get("keep-local.txt"), Files.readString(low.resolve("keep-local.txt")));
        assertEquals(remote.get("keep-remote.txt"), Files.readString(low.resolve("keep-remote.txt")));
        assertEquals(local.get("keep-remote.txt"), Files.readString(variant(s, conflictAt(s, "r/keep-remote.txt"), "local")),
                "keep-remote stashes the local version in the cache");
        assertEquals(remote.get("keep-local.txt"), Files.readString(variant(s, conflictAt(s, "r/keep-local.txt"), "remote")),
                "keep-local keeps the lower's version in the cache");
        assertEquals(remote.get("newest.txt"), Files.readString(low.resolve("newest.txt")), "the lower's is newer");
        assertEquals(local.get("newest.txt"), Files.readString(variant(s, conflictAt(s, "r/newest.txt"), "local")));
        assertEquals(replaceLine(replaceLine(base, 2, "line 2, edited here"), 15, "line 15, edited there"),
                Files.readString(low.resolve("merge-clean.txt")), "a clean merge has both edits");
        assertEquals(remote.get("both.txt"), Files.readString(low.resolve("both.txt")));
        List<Path> copies;
        try (Stream<Path> l = Files.list(low)) {
            copies = l.filter(p -> p.getFileName().toString().startsWith("both.conflict-")).toList();
        }
        assertEquals(1, copies.size(), "keep-both puts the local one beside it");
        assertEquals(local.get("both.txt"), Files.readString(copies.getFirst()));
        assertTrue(names(low).stream().noneMatch(n -> n.startsWith(".cachefs-upload-")), "no upload left behind: " + names(low));

        // Left open: the unclean merge, and ask.dat (no rule matches it: the default asks).
        assertEquals(Set.of("r/ask.dat", "r/merge-unclean.txt"), s.uplink.openConflicts().keySet());
        assertEquals(remote.get("ask.dat"), Files.readString(low.resolve("ask.dat")), "the lower keeps its version meanwhile");
        Thread.sleep(1100); // past the kernel's attribute timeout
        assertEquals(local.get("ask.dat"), within(OfflineSuite.SLACK_MS, "read", () -> Files.readString(m.resolve("ask.dat"))),
                "the mount shows the local version while the conflict is open");
        assertEquals("conflict", xattr(Sys.raw(m.resolve("ask.dat")), "user.cachefs.state"));
        assertEquals(Errno.EROFS, errnoOf(() -> Libc.open(Sys.raw(m.resolve("ask.dat")), Libc.O_WRONLY, 0)));
        Path view = s.mnt.resolve(".cachefs/conflicts/r");
        assertEquals(Set.of("ask.dat", "merge-unclean.txt"), names(view));
        assertEquals(Set.of("local", "remote", "base"), names(view.resolve("ask.dat")));
        assertEquals(local.get("ask.dat"), Files.readString(view.resolve("ask.dat/local")));
        assertEquals(remote.get("ask.dat"), Files.readString(view.resolve("ask.dat/remote")));
        assertEquals(base, Files.readString(view.resolve("ask.dat/base")));
        String merged = Files.readString(view.resolve("merge-unclean.txt/merged"));
        assertTrue(merged.contains("<<<<<<< local\nline 5, edited here\n||||||| base\nline 5\n=======\nline 5, edited there\n>>>>>>> remote\n"),
                merged);
        assertEquals(Errno.EROFS, errnoOf(() -> Libc.open(Sys.raw(view.resolve("ask.dat/local")), Libc.O_WRONLY, 0)));
        assertFalse(names(s.mnt).contains(".cachefs"), "the view is not listed in the root");

        s.uplink.resolve("r/ask.dat", "local");
        s.fs.invalidate("r/ask.dat", false);
        assertEquals(local.get("ask.dat"), Files.readString(low.resolve("ask.dat")));
        s.uplink.resolve("r/merge-unclean.txt", "merged");
        s.fs.invalidate("r/merge-unclean.txt", false);
        assertEquals(merged, Files.readString(low.resolve("merge-unclean.txt")));
        assertTrue(s.uplink.openConflicts().isEmpty());
        Thread.sleep(1100);
        assertEquals(merged, within(OfflineSuite.SLACK_MS, "read", () -> Files.readString(m.resolve("merge-unclean.txt"))));
        assertFalse(xattr(Sys.raw(m.resolve("ask.dat")), "user.cachefs.state").equals("conflict"));
        assertEquals(Errno.ENOENT, errnoOf(() -> Sys.readAll(Sys.raw(view.resolve("ask.dat/local")))));
    }

    @Test
    void aResolverPlugInFoundOnTheClassPathMergesByRule() throws Exception {
        Stack s = mount(List.of(rule("*.log", "union")));
        cached(s, "p", Map.of("events.log", "one\n"));
        takeLowerAway(s);
        offlineWrite(s.mnt.resolve("p/events.log"), "one\ntwo here\n");
        lowerBackMountOffline(s);
        Files.writeString(s.lower.resolve("p/events.log"), "one\nthree there, longer\n");
        assertEquals("online", s.uplink.connectivity().goOnline("test", true));
        assertEquals("one\ntwo here\nthree there, longer\n", Files.readString(s.lower.resolve("p/events.log")));
        assertEquals("merged by union", conflictAt(s, "p/events.log").resolution());
    }

    /**
     * Found by CrashRoundsIT: after a replay the objects it changed must carry the lower's
     * attributes as the replay left them, or the next offline change of them (with no look at
     * them online in between) takes the offline-made attributes for its base and replay then
     * sees a remote change that never happened.
     */
    @Test
    void aSecondOfflinePeriodRightAfterAReplayFindsNoFalseConflicts() throws Exception {
        Stack s = mount(List.of());
        cached(s, "y", Map.of("edited", "v1\n"));
        Path m = s.mnt.resolve("y");
        for (int period = 2; period <= 3; period++) {
            takeLowerAway(s);
            offlineWrite(m.resolve("edited"), "v" + period + " edited offline\n");
            offlineWrite(m.resolve("made-offline"), "v" + period + " made offline\n");
            Thread.sleep(1100); // the replay's uploads get other times than the offline changes
            lowerBackMountOffline(s);
            assertEquals("online", s.uplink.connectivity().goOnline("test", true));
            assertEquals(Set.of(), s.uplink.openConflicts().keySet(), "period " + period);
            assertEquals("v" + period + " edited offline\n", Files.readString(s.lower.resolve("y/edited")));
            assertEquals("v" + period + " made offline\n", Files.readString(s.lower.resolve("y/made-offline")));
        }
    }

    /**
     * What was written offline stays readable offline after it synced: replay's local copies become
     * the cached data of what they made on the lower (an edit, a new file of several chunks, one
     * renamed after it was written), while a local version that lost its conflict never does.
     */
    @Test
    void whatWasWrittenOfflineStaysReadableOfflineAfterItSynced() throws Exception {
        Stack s = mount(List.of(rule("**/lost.txt", "keep-remote")));
        cached(s, "w", Map.of("edited.txt", "v1\n", "lost.txt", "v1\n"));
        Path m = s.mnt.resolve("w");
        byte[] made = random(2 * 1024 * 1024 + 12345, 77);
        takeLowerAway(s);
        offlineWrite(m.resolve("edited.txt"), "v2 edited offline\n");
        within(OfflineSuite.SLACK_MS, "offline write of made.bin", () -> Files.write(m.resolve("made.bin"), made));
        offlineWrite(m.resolve("draft.txt"), "written, then renamed\n");
        within(OfflineSuite.SLACK_MS, "offline rename", () -> Files.move(m.resolve("draft.txt"), m.resolve("final.txt")));
        offlineWrite(m.resolve("lost.txt"), "local, loses to the remote\n");
        lowerBackMountOffline(s);
        Files.writeString(s.lower.resolve("w/lost.txt"), "remote\n");
        assertEquals("online", s.uplink.connectivity().goOnline("test", true));
        assertEquals(Set.of(), s.uplink.openConflicts().keySet());
        assertArrayEquals(made, Files.readAllBytes(s.lower.resolve("w/made.bin")));
        assertEquals("remote\n", Files.readString(s.lower.resolve("w/lost.txt")));
        s.cache.flushIndex();

        takeLowerAway(s);
        dev.cachefs.harness.CachefsCli.dropPageCache(); // the reads below must come from the cache, not the kernel's pages
        assertEquals("v2 edited offline\n", within(OfflineSuite.SLACK_MS, "offline read",
                () -> Files.readString(m.resolve("edited.txt"))));
        assertArrayEquals(made, within(OfflineSuite.SLACK_MS, "offline read", () -> Sys.readAll(Sys.raw(m.resolve("made.bin")))));
        assertEquals("written, then renamed\n", within(OfflineSuite.SLACK_MS, "offline read",
                () -> Files.readString(m.resolve("final.txt"))));
        // the local version lost: the remote one (if the cache has it) or ENOTCONN, never the local one
        String[] read = new String[1];
        int err = within(OfflineSuite.SLACK_MS, "offline read of the conflict's winner",
                () -> errnoOf(() -> read[0] = new String(Sys.readAll(Sys.raw(m.resolve("lost.txt"))), StandardCharsets.UTF_8)));
        assertTrue(err == Errno.ENOTCONN || (err == 0 && read[0].equals("remote\n")), "lost.txt: errno " + err + ", read " + read[0]);
    }

    @Test
    void deletionsOnEitherSideStayOpenUntilTheUserSettlesThem() throws Exception {
        Stack s = mount(List.of());
        cached(s, "x", Map.of("edited-here", "v1\n", "deleted-here", "v1\n"));
        takeLowerAway(s);
        Path m = s.mnt.resolve("x");
        offlineWrite(m.resolve("edited-here"), "v2 local\n");
        within(OfflineSuite.SLACK_MS, "offline unlink", () -> {
            Files.delete(m.resolve("deleted-here"));
            return null;
        });
        lowerBackMountOffline(s);
        Path low = s.lower.resolve("x");
        Files.delete(low.resolve("edited-here"));
        Files.writeString(low.resolve("deleted-here"), "v2 remote, longer\n");
        assertEquals("online", s.uplink.connectivity().goOnline("test", true));
        assertEquals("updated-locally-deleted-remotely", conflictAt(s, "x/edited-here").kind());
        assertEquals("deleted-locally-updated-remotely", conflictAt(s, "x/deleted-here").kind());
        assertEquals(Set.of("x/edited-here", "x/deleted-here"), s.uplink.openConflicts().keySet());
        Thread.sleep(1100);
        assertEquals("v2 local\n", within(OfflineSuite.SLACK_MS, "read", () -> Files.readString(m.resolve("edited-here"))),
                "the local version is shown though the lower deleted it");
        assertEquals("v2 remote, longer\n", Files.readString(m.resolve("deleted-here")), "the lower's change is shown");
        s.uplink.resolve("x/edited-here", "local");
        s.uplink.resolve("x/deleted-here", "local");
        assertEquals("v2 local\n", Files.readString(low.resolve("edited-here")));
        assertFalse(Files.exists(low.resolve("deleted-here")), "keep local: deleted, as it was offline");
        assertEquals("v2 remote, longer\n", Files.readString(variant(s, conflictAt(s, "x/deleted-here"), "remote")),
                "the lower's version is still in the cache");
    }

    @Test
    void filesMadeInADirectoryTheLowerRemovedLandInItMadeAgain() throws Exception {
        Stack s = mount(List.of());
        cached(s, "g", Map.of("old", "old\n"));
        takeLowerAway(s);
        offlineWrite(s.mnt.resolve("g/new.txt"), "made offline\n");
        lowerBackMountOffline(s);
        Files.delete(s.lower.resolve("g/old"));
        Files.delete(s.lower.resolve("g"));
        assertEquals("online", s.uplink.connectivity().goOnline("test", true));
        assertEquals("made offline\n", Files.readString(s.lower.resolve("g/new.txt")));
        assertEquals("created-in-directory-removed-remotely", conflictAt(s, "g/new.txt").kind());
        assertFalse(conflictAt(s, "g/new.txt").open());
    }

    @Test
    void aReplayCutMidwayResumesAndAppliesNothingTwice() throws Exception {
        Assumptions.assumeTrue(lower.isNetwork(), "needs a link to cut");
        Stack s = mount(List.of(rule("**", "keep-both")));
        cached(s, "c", Map.of("shared.txt", "base\n"));
        takeLowerAway(s);
        Path m = s.mnt.resolve("c");
        int n = 24;
        for (int i = 0; i < n; i++) {
            byte[] data = random(256 << 10, 100 + i);
            Path p = m.resolve("f" + i);
            within(OfflineSuite.SLACK_MS, "offline create", () -> Files.write(p, data));
        }
        offlineWrite(m.resolve("shared.txt"), "local\n");
        lowerBackMountOffline(s);
        Files.writeString(s.lower.resolve("c/shared.txt"), "remote, longer\n");
        lower.bandwidth(4000); // ~0.5 MB/s: the replay takes seconds
        CompletableFuture<String> first = CompletableFuture.supplyAsync(() -> s.uplink.connectivity().goOnline("test", true));
        long t0 = System.nanoTime();
        while (s.uplink.journal().size() > n - 4 && System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(60)) {
            Thread.sleep(50);
        }
        int left = s.uplink.journal().size();
        lower.cutLink();
        String r = first.get(120, TimeUnit.SECONDS);
        assertTrue(left > 0 && left < n + 1, "cut midway: " + left + " of " + (n + 1) + " left");
        assertTrue(s.uplink.connectivity().offline(), "still offline after the cut: " + r);
        assertTrue(s.uplink.journal().size() > 0, "the replay stopped short");
        restore();
        String again = s.uplink.connectivity().goOnline("test", true); // or the probe got there first
        assertTrue(again.equals("online") || again.equals("already online"), again);
        assertEquals(0, s.uplink.journal().size());
        Path low = s.lower.resolve("c");
        for (int i = 0; i < n; i++) {
            assertArrayEquals(random(256 << 10, 100 + i), Files.readAllBytes(low.resolve("f" + i)), "f" + i);
        }
        Set<String> all = names(low);
        assertEquals("remote, longer\n", Files.readString(low.resolve("shared.txt")));
        List<String> copies = all.stream().filter(x -> x.startsWith("shared.conflict-")).toList();
        assertEquals(1, copies.size(), "one keep-both copy, not one per attempt: " + all);
        assertEquals("local\n", Files.readString(low.resolve(copies.getFirst())));
        assertTrue(all.stream().noneMatch(x -> x.startsWith(".cachefs-upload-")), "no upload left behind: " + all);
        assertTrue(all.stream().noneMatch(x -> x.matches("f\\d+\\.conflict-.*")), "no file applied twice: " + all);
    }

    /**
     * The invariant under a seeded random workload: files edited, made, renamed and deleted
     * offline on the mount while the lower's side edits, makes and deletes some of the same
     * names; after reconnection every version a user wrote offline (the last one of each file
     * still there at the end) is on the lower, in the cache's stash, or the local version of an
     * open conflict.
     */
    @Test
    void aSeededOfflineWorkloadLosesNothing() throws Exception {
        long seed = Long.getLong("cachefs.resync.seed", 20261203L);
        Random r = new Random(seed);
        Stack s = mount(List.of(rule("**/*.k", "keep-both"), rule("**/*.m", "merge"), rule("**/*.r", "keep-remote"),
                rule("**/*.n", "newest-wins")));
        String[] exts = {".k", ".m", ".r", ".n", ".a"};
        Map<String, String> start = new HashMap<>();
        for (int i = 0; i < 10; i++) {
            start.put("w" + i + exts[i % exts.length], base(10) + "seed " + i + "\n");
        }
        cached(s, "w", start);
        takeLowerAway(s);
        Path m = s.mnt.resolve("w");
        Map<String, String> mine = new HashMap<>(start); // what the mount shows, as the user left it
        Set<String> written = new HashSet<>();
        int ops = 60;
        for (int i = 0; i < ops; i++) {
            List<String> names = new ArrayList<>(mine.keySet());
            java.util.Collections.sort(names);
            int op = r.nextInt(10);
            String name = names.isEmpty() ? null : names.get(r.nextInt(names.size()));
            if (op < 5 && name != null) { // edit a line
                String text = replaceLine(mine.get(name), r.nextInt(10), "edit " + i + " of seed " + seed);
                offlineWrite(m.resolve(name), text);
                mine.put(name, text);
                written.add(name);
            } else if (op < 7) { // a new file
                String fresh = "n" + i + exts[r.nextInt(exts.length)];
                String text = "new " + i + " of seed " + seed + "\n" + base(10);
                offlineWrite(m.resolve(fresh), text);
                mine.put(fresh, text);
                written.add(fresh);
            } else if (op < 8 && name != null) { // rename to a fresh name
                String to = "m" + i + name.substring(name.indexOf('.'));
                within(OfflineSuite.SLACK_MS, "offline rename", () -> Files.move(m.resolve(name), m.resolve(to)));
                mine.put(to, mine.remove(name));
                if (written.remove(name)) {
                    written.add(to);
                }
            } else if (name != null) { // delete
                within(OfflineSuite.SLACK_MS, "offline delete", () -> {
                    Files.delete(m.resolve(name));
                    return null;
                });
                mine.remove(name);
                written.remove(name);
            }
        }
        lowerBackMountOffline(s);
        Path low = s.lower.resolve("w");
        List<String> theirs = new ArrayList<>(start.keySet());
        java.util.Collections.sort(theirs);
        for (int i = 0; i < 8; i++) {
            String name = theirs.get(r.nextInt(theirs.size()));
            Path p = low.resolve(name);
            int op = r.nextInt(3);
            if (op == 0 && Files.exists(p)) {
                Files.delete(p);
            } else if (op == 1 && Files.exists(p)) {
                Files.writeString(p, replaceLine(Files.readString(p), r.nextInt(10), "remote edit " + i));
            } else {
                String fresh = "n" + r.nextInt(ops) + exts[r.nextInt(exts.length)];
                Files.writeString(low.resolve(fresh), "remote-made " + i + "\n"); // perhaps a name made offline too
            }
        }
        assertEquals("online", s.uplink.connectivity().goOnline("test", true));
        assertEquals(0, s.uplink.journal().size());
        // Every version anywhere: on the lower, in the cache's conflicts folder, and the local copies of open conflicts.
        Set<String> found = new HashSet<>();
        try (Stream<Path> l = Files.walk(low)) {
            for (Path p : l.filter(Files::isRegularFile).toList()) {
                found.add(Files.readString(p));
            }
        }
        Path stash = s.cacheDir.resolve("conflicts");
        if (Files.isDirectory(stash)) {
            try (Stream<Path> l = Files.walk(stash)) {
                for (Path p : l.filter(Files::isRegularFile).toList()) {
                    found.add(Files.readString(p));
                }
            }
        }
        for (String open : s.uplink.openConflicts().keySet()) {
            Path v = s.mnt.resolve(".cachefs/conflicts").resolve(open).resolve("local");
            if (Files.exists(v)) { // none where the file was deleted offline
                found.add(Files.readString(v));
            }
        }
        List<String> lost = new ArrayList<>();
        for (String name : written) {
            if (!found.contains(mine.get(name))) {
                lost.add(name);
            }
        }
        assertEquals(List.of(), lost, "offline versions found nowhere (seed " + seed + ", conflicts " + s.uplink.conflicts() + ")");
        assertTrue(names(low).stream().noneMatch(x -> x.startsWith(".cachefs-upload-")));
    }
}
