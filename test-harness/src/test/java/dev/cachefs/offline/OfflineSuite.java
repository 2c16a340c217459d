package dev.cachefs.offline;

import dev.cachefs.mount.Uplink;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cachefs.harness.Lower;
import dev.cachefs.harness.NetworkLower;
import dev.cachefs.harness.Stack;
import dev.cachefs.harness.Sys;
import dev.cachefs.cache.CacheLayer;
import dev.cachefs.index.CacheIndex;
import dev.cachefs.nativeio.Errno;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Libc;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Disconnected operation over one real lower (a subclass names it): the link is cut (network
 * lowers) and the mount must go offline without hanging anybody, keep serving what it cached,
 * fail the rest with ENOTCONN, journal every change durably (across a daemon restart, which
 * starts with the lower unreachable), and notice the lower coming back. Every call on the mount
 * runs under a bound here, so a hang fails the test instead of stalling it.
 */
@Timeout(300)
abstract class OfflineSuite extends SuiteOnLower {
    /** The deadline of the mounts under test, and the slack a call may take beyond it. */
    static final long DEADLINE_MS = 2000;
    static final long SLACK_MS = 4000;

    static Uplink.Options uplinkOptions() {
        return Uplink.Options.defaults().withDeadline(DEADLINE_MS).withProbe(300);
    }

    private Stack mount() throws Exception {
        fx = Stack.on(lower).uplink(uplinkOptions()).mount();
        return fx;
    }

    private Stack remount(Stack old) throws Exception {
        old.close();
        fx = null;
        fx = Stack.again(old).uplink(uplinkOptions()).mount();
        return fx;
    }

    /** Takes the lower away: the network link for a network lower, else the mount is forced offline. */
    private void cut(Stack s) {
        if (lower.isNetwork()) {
            lower.cutLink();
        } else {
            s.uplink.connectivity().forceOffline();
        }
    }

    /** Runs {@code c} (a call on the mount) on its own thread; fails if it takes longer than {@code ms}. */
    static <T> T within(long ms, String what, Callable<T> c) throws Exception {
        CompletableFuture<T> f = new CompletableFuture<>();
        Thread.ofPlatform().daemon().start(() -> {
            try {
                f.complete(c.call());
            } catch (Throwable e) {
                f.completeExceptionally(e);
            }
        });
        try {
            return f.get(ms, TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            throw new AssertionError(what + " did not return within " + ms + " ms: the mount hangs");
        } catch (java.util.concurrent.ExecutionException e) {
            if (e.getCause() instanceof Exception ex) {
                throw ex;
            }
            throw new AssertionError(e.getCause());
        }
    }

    static int errnoOf(Callable<?> c) throws Exception {
        try {
            c.call();
            return 0;
        } catch (ErrnoException e) {
            return e.errno();
        }
    }

    static byte[] random(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    private static Set<String> names(Path dir) throws Exception {
        Set<String> out = new TreeSet<>();
        try (var s = Files.list(dir)) {
            s.forEach(p -> out.add(p.getFileName().toString()));
        }
        return out;
    }

    static String xattr(String path, String name) throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(256);
            long n = Libc.lgetxattr(path, name, buf);
            return new String(buf.asSlice(0, n).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE), StandardCharsets.US_ASCII);
        }
    }

    /**
     * A directory {@code d} with a cached file {@code a}, a file {@code b} whose attributes only
     * are cached, a symlink {@code l} and a subdirectory {@code sub}; its listing and sub's are
     * cached (listed through the mount after their last change).
     */
    private void prepare(Stack s) throws Exception {
        Path d = s.lower.resolve("d");
        Files.createDirectories(d.resolve("sub"));
        Files.write(d.resolve("a"), random(300_000, 1));
        Files.write(d.resolve("b"), random(200_000, 2));
        if (symlinks()) {
            Files.createSymbolicLink(d.resolve("l"), Path.of("a"));
        }
        FileTime old = FileTime.fromMillis(System.currentTimeMillis() - 60_000);
        Files.setLastModifiedTime(d.resolve("sub"), old);
        Files.setLastModifiedTime(d, old);
        Path m = s.mnt.resolve("d");
        Files.size(s.mnt); // the root's attributes
        assertEquals(listed(), names(m));
        assertEquals(Set.of(), names(m.resolve("sub")));
        assertArrayEquals(random(300_000, 1), Files.readAllBytes(m.resolve("a")));
        assertEquals(200_000, Files.size(m.resolve("b")));
        if (symlinks()) {
            assertEquals("a", Files.readSymbolicLink(m.resolve("l")).toString());
        }
        s.cache.flushIndex();
    }

    private boolean symlinks() {
        return lower.capabilities().contains(Lower.Capability.SYMLINKS);
    }

    /** What prepare() made in d. */
    private Set<String> listed() {
        return symlinks() ? Set.of("a", "b", "l", "sub") : Set.of("a", "b", "sub");
    }

    /**
     * Makes the mount notice the cut: the lookup of a name nobody has seen must reach the (dead)
     * lower (a stat could be answered by the client's own attribute cache: sshfs keeps one).
     */
    private void goOffline(Stack s) throws Exception {
        cut(s);
        long t0 = System.nanoTime();
        within(DEADLINE_MS + SLACK_MS, "a lookup after the cut", () -> Files.exists(s.mnt.resolve("probe-" + System.nanoTime())));
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        assertTrue(s.uplink.connectivity().offline(), "offline after a stat that met the cut (" + ms + " ms)");
    }

    @Test
    void cachedDataAndMetadataAreServedOfflineAndTheRestIsEnotconn() throws Exception {
        Stack s = mount();
        prepare(s);
        goOffline(s);
        Path m = s.mnt.resolve("d");
        assertArrayEquals(random(300_000, 1), within(SLACK_MS, "cached read", () -> Files.readAllBytes(m.resolve("a"))));
        assertEquals(listed(), within(SLACK_MS, "listing", () -> names(m)));
        assertEquals(200_000, within(SLACK_MS, "stat", () -> Files.size(m.resolve("b"))));
        if (symlinks()) {
            assertEquals("a", within(SLACK_MS, "readlink", () -> Files.readSymbolicLink(m.resolve("l")).toString()));
        }
        assertEquals(Errno.ENOTCONN, within(SLACK_MS, "uncached read",
                () -> errnoOf(() -> Sys.readAll(Sys.raw(m.resolve("b"))))), "data not cached: ENOTCONN");
        assertEquals(Errno.ENOENT, within(SLACK_MS, "missing name",
                () -> errnoOf(() -> Libc.lstat(Sys.raw(m.resolve("nope"))))), "not in a cached listing: ENOENT");
        assertEquals("cached", xattr(Sys.raw(m.resolve("a")), "user.cachefs.state"));
        assertEquals("metadata-only", xattr(Sys.raw(m.resolve("b")), "user.cachefs.state"));
        assertEquals("no", xattr(Sys.raw(m.resolve("a")), "user.cachefs.pinned"));
    }

    @Test
    void aFileRewrittenThroughTheMountAsATemporaryAndARenameReadsWhollyOffline() throws Exception {
        // What git does with .git/index, and editors with what they save: write a new file beside
        // it, then rename it over the old one. Read once online after, it must read offline too.
        Stack s = mount();
        Files.createDirectories(s.mnt.resolve("g"));
        Files.write(s.mnt.resolve("g/index"), random(40_000, 7));
        for (int round = 0; round < 3; round++) {
            byte[] next = random(40_000 + round, 8 + round);
            Files.write(s.mnt.resolve("g/index.lock"), next);
            Files.move(s.mnt.resolve("g/index.lock"), s.mnt.resolve("g/index"), java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            assertArrayEquals(next, Files.readAllBytes(s.mnt.resolve("g/index")));
        }
        byte[] last = random(40_002, 10);
        Thread.sleep(1500); // the lower's own attribute caches (sshfs keeps them a while) settle
        assertArrayEquals(last, Files.readAllBytes(s.mnt.resolve("g/index")), "read online after the renames");
        goOffline(s);
        assertArrayEquals(last, within(SLACK_MS, "read offline", () -> Files.readAllBytes(s.mnt.resolve("g/index"))),
                "what was read whole online reads whole offline");
        try (var ch = java.nio.channels.FileChannel.open(s.mnt.resolve("g/index"), java.nio.file.StandardOpenOption.READ);
             var arena = java.lang.foreign.Arena.ofConfined()) { // unmapped at the end: a live mapping keeps the mount busy
            var map = ch.map(java.nio.channels.FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            assertArrayEquals(last, map.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE), "and mapped (git maps its index)");
        }
    }

    @Test
    void gitStatusRunsOfflineAfterRewritingItsIndexOnline() throws Exception {
        // git status rewrites .git/index (index.lock, renamed over it) when files changed within
        // the second of the index: offline the mount must find the new version at the path, not
        // the one the rename replaced (git maps the index: a missing page killed it with SIGBUS).
        Stack s = mount();
        Path r = s.mnt.resolve("repo");
        sh(Files.createDirectories(s.lower.resolve("repo")), "git init -q . && for i in $(seq 1 200); do mkdir -p d$((i%20)); echo \"file $i\" > d$((i%20))/f$i; done"
                + " && git add -A && git -c user.email=a@b -c user.name=a commit -qm init"
                + " && for i in $(seq 1 30); do echo more >> d$((i%20))/f$i; done");
        sh(r, "find . -type f -exec cat {} + > /dev/null 2>&1 || true"); // caches it all (gvfs lists git's temporaries a while)
        String online = sh(r, "git status --porcelain");
        assertEquals(30, online.lines().count(), online);
        goOffline(s);
        assertEquals(online, within(60_000, "git status offline", () -> sh(r, "git status --porcelain")));
    }

    @Test
    void filesExchangedThroughTheMountReadSwappedOffline() throws Exception {
        Stack s = mount();
        Path d = Files.createDirectories(s.mnt.resolve("x"));
        byte[] a = random(20_000, 31);
        byte[] b = random(30_000, 32);
        Files.write(d.resolve("a"), a);
        Files.write(d.resolve("b"), b);
        assertArrayEquals(a, Files.readAllBytes(d.resolve("a")));
        assertArrayEquals(b, Files.readAllBytes(d.resolve("b")));
        int err = errnoOf(() -> {
            Libc.renameat2(Libc.AT_FDCWD, Sys.raw(d.resolve("a")), Libc.AT_FDCWD, Sys.raw(d.resolve("b")), Libc.RENAME_EXCHANGE);
            return null;
        });
        org.junit.jupiter.api.Assumptions.assumeTrue(err == 0, "the lower does not exchange (errno " + err + ")");
        assertArrayEquals(b, Files.readAllBytes(d.resolve("a")), "exchanged online");
        goOffline(s);
        assertArrayEquals(b, within(SLACK_MS, "offline read", () -> Files.readAllBytes(d.resolve("a"))),
                "offline each name reads what was exchanged into it");
        assertArrayEquals(a, within(SLACK_MS, "offline read", () -> Files.readAllBytes(d.resolve("b"))));
    }

    private static String sh(Path dir, String script) throws Exception {
        ProcessBuilder b = new ProcessBuilder("bash", "-c", script).directory(dir.toFile()).redirectErrorStream(true);
        b.environment().putAll(java.util.Map.of("GIT_CONFIG_COUNT", "1", "GIT_CONFIG_KEY_0", "safe.directory",
                "GIT_CONFIG_VALUE_0", "*")); // lowers may show another owner
        Process p = b.start();
        String out = new String(p.getInputStream().readAllBytes());
        int rc = p.waitFor();
        assertEquals(0, rc, "'" + script + "' failed: " + out);
        return out;
    }

    @Test
    void aDirectoryListedRightAfterItChangedListsOfflineButIsListedAfreshOnline() throws Exception {
        Stack s = mount();
        long t0 = System.nanoTime();
        Path d = Files.createDirectories(s.lower.resolve("fresh"));
        Files.writeString(d.resolve("one"), "1");
        Files.createDirectories(d.resolve("empty"));
        // Listed within the second of the change: not trusted online (a change in the same
        // timestamp could be missing), but offline it is what the mount last saw.
        assertEquals(Set.of("one", "empty"), names(s.mnt.resolve("fresh")));
        assertEquals(Set.of(), names(s.mnt.resolve("fresh/empty")));
        long hits = s.stats().metaHits.sum();
        assertEquals(Set.of("one", "empty"), names(s.mnt.resolve("fresh")));
        if (System.nanoTime() - t0 < 1_500_000_000L) { // still within the 2 s a listing takes to settle
            assertEquals(hits, s.stats().metaHits.sum(), "online an unsettled listing is read from the lower again");
        }
        goOffline(s);
        assertEquals(Set.of("one", "empty"), within(SLACK_MS, "listing offline", () -> names(s.mnt.resolve("fresh"))));
        assertEquals(Set.of(), within(SLACK_MS, "empty listing offline", () -> names(s.mnt.resolve("fresh/empty"))),
                "an empty directory git keeps (objects/pack) lists offline, not ENOTCONN");
    }

    @Test
    void xattrsReadOnlineAreServedOfflineAndChangedThere() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(lower.capabilities().contains(Lower.Capability.XATTRS), "no xattrs");
        Stack s = mount();
        prepare(s);
        setXattr(Sys.raw(s.lower.resolve("d/a")), "user.colour", "blue");
        String a = Sys.raw(s.mnt.resolve("d/a"));
        assertEquals("blue", xattr(a, "user.colour"));
        s.cache.flushIndex();
        goOffline(s);
        assertEquals("blue", within(SLACK_MS, "getxattr", () -> xattr(a, "user.colour")));
        assertEquals(Errno.ENODATA, errnoOf(() -> xattr(a, "user.never-read")));
        setXattr(a, "user.tag", "offline");
        assertEquals("offline", xattr(a, "user.tag"));
        assertTrue(s.uplink.journal().stream().anyMatch(e -> e.op().equals("setxattr")), "journaled");
    }

    private static void setXattr(String path, String name, String value) throws ErrnoException {
        try (Arena arena = Arena.ofConfined()) {
            byte[] v = value.getBytes(StandardCharsets.US_ASCII);
            MemorySegment seg = arena.allocate(v.length);
            MemorySegment.copy(v, 0, seg, java.lang.foreign.ValueLayout.JAVA_BYTE, 0, v.length);
            Libc.lsetxattr(path, name, seg, 0);
        }
    }

    @Test
    void aPartlyCachedFileReadsInItsCachedRanges() throws Exception {
        Stack s = mount();
        prepare(s);
        byte[] data = random(8 << 20, 7);
        Files.write(s.lower.resolve("d/sub/part"), data);
        String part = Sys.raw(s.mnt.resolve("d/sub/part"));
        long tail = data.length - 4096;
        assertArrayEquals(java.util.Arrays.copyOfRange(data, (int) tail, data.length), preadDirect(part, tail),
                "online, the last page (only: O_DIRECT, no readahead)");
        s.cache.flushIndex();
        goOffline(s);
        assertArrayEquals(java.util.Arrays.copyOfRange(data, (int) tail, data.length),
                within(SLACK_MS, "a cached range", () -> preadDirect(part, tail)), "offline, the cached range reads");
        assertEquals(Errno.ENOTCONN, within(SLACK_MS, "an uncached range", () -> errnoOf(() -> preadDirect(part, 0))));
        assertEquals("partial", xattr(part, "user.cachefs.state"));
    }

    private static byte[] preadDirect(String path, long offset) throws ErrnoException {
        int fd = Libc.open(path, Libc.O_RDONLY | Libc.O_DIRECT, 0);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(4096, 4096);
            long n = Libc.pread(fd, buf, 4096, offset);
            return buf.asSlice(0, n).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
        } finally {
            Libc.close(fd);
        }
    }

    @Test
    void offlineChangesAreJournaledAndSurviveARestartWithTheLowerUnreachable() throws Exception {
        // Without replay, so that the journal itself is seen: the lower stays untouched.
        fx = Stack.on(lower).uplink(uplinkOptions().withReplay(false)).mount();
        Stack s = fx;
        prepare(s);
        goOffline(s);
        Path m = s.mnt.resolve("d");
        within(SLACK_MS, "offline changes", () -> {
            Files.writeString(m.resolve("new.txt"), "made offline");
            try (var ch = java.nio.channels.FileChannel.open(m.resolve("a"), java.nio.file.StandardOpenOption.WRITE)) {
                ch.write(java.nio.ByteBuffer.wrap("EDIT".getBytes(StandardCharsets.US_ASCII)), 0);
            }
            Files.move(m.resolve("b"), m.resolve("b2"));
            if (symlinks()) {
                Files.delete(m.resolve("l"));
            }
            Files.createDirectory(m.resolve("newdir"));
            Files.writeString(m.resolve("newdir/x"), "x");
            Files.setPosixFilePermissions(m.resolve("a"), java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
            Files.writeString(m.resolve("sub/inner"), "in sub");
            return null;
        });
        assertEquals(Errno.ENOTCONN, errnoOf(() -> Libc.close(Sys.open(Sys.raw(m.resolve("b2")), Libc.O_WRONLY, 0))),
                "a file whose data is not cached cannot be changed offline");
        byte[] edited = random(300_000, 1);
        System.arraycopy("EDIT".getBytes(StandardCharsets.US_ASCII), 0, edited, 0, 4);
        assertArrayEquals(edited, Files.readAllBytes(m.resolve("a")));
        assertEquals("dirty", xattr(Sys.raw(m.resolve("a")), "user.cachefs.state"));
        assertTrue(journal(s).size() >= (symlinks() ? 8 : 7), "every change journaled: " + journal(s));

        Stack again = within(60_000, "restart with the lower unreachable", () -> {
            s.close();
            fx = null;
            fx = Stack.again(s).uplink(uplinkOptions().withReplay(false)).mount();
            return fx;
        });
        assertTrue(again.uplink.connectivity().offline(), "a restart with changes pending comes up offline");
        Path m2 = again.mnt.resolve("d");
        within(SLACK_MS, "reads after the restart", () -> {
            assertEquals(Set.of("a", "b2", "new.txt", "newdir", "sub"), names(m2));
            assertArrayEquals(edited, Files.readAllBytes(m2.resolve("a")));
            assertEquals("made offline", Files.readString(m2.resolve("new.txt")));
            assertEquals("x", Files.readString(m2.resolve("newdir/x")));
            assertEquals("in sub", Files.readString(m2.resolve("sub/inner")));
            assertEquals(200_000, Files.size(m2.resolve("b2")));
            assertEquals("rw-------", java.nio.file.attribute.PosixFilePermissions.toString(
                    Files.getPosixFilePermissions(m2.resolve("a"))));
            return null;
        });
        List<CacheIndex.JournalEntry> j = journal(again);
        assertTrue(j.stream().anyMatch(e -> e.op().equals("rename") && e.path().endsWith("d/b") && e.path2().endsWith("d/b2")
                && e.base() != null), "the rename is journaled with its base: " + j);
        assertTrue(j.stream().anyMatch(e -> e.op().equals("write") && e.path().endsWith("d/a") && e.base() != null));
        assertTrue(Files.exists(again.cacheDir.resolve("base")), "the base copy of the edited file is kept");

        // The lower comes back: found, but the mount stays offline while changes wait for replay.
        restore();
        if (!lower.isNetwork()) {
            again.uplink.connectivity().goOnline("test", true);
        }
        NetworkLower.awaitTrue(Duration.ofSeconds(30), "the probe to reach the lower and refuse to go online",
                () -> again.uplink.connectivity().lastEvent() != null
                        && again.uplink.connectivity().lastEvent().name().equals("online-refused"));
        assertTrue(again.uplink.connectivity().offline(), "pending changes keep the mount offline");
        Connectivity.Event e = again.uplink.connectivity().lastEvent();
        assertTrue(e.reason().contains("local changes"), "said why: " + e);
        assertArrayEquals(random(300_000, 1), Files.readAllBytes(again.lower.resolve("d/a")),
                "the lower is untouched until replay");
        assertFalse(Files.exists(again.lower.resolve("d/new.txt")));
    }

    @Test
    void reconnectionReplaysEveryChangeAndKeepsBothVersionsOfAConflict() throws Exception {
        fx = Stack.on(lower).uplink(uplinkOptions().withConflictRules(List.of(ResyncSuite.rule("**", "keep-both")))).mount();
        Stack s = fx;
        prepare(s);
        Files.write(s.lower.resolve("d/sub/theirs"), random(1000, 9));
        Files.setLastModifiedTime(s.lower.resolve("d/sub"), FileTime.fromMillis(System.currentTimeMillis() - 60_000));
        assertArrayEquals(random(1000, 9), Files.readAllBytes(s.mnt.resolve("d/sub/theirs")));
        s.cache.flushIndex();
        goOffline(s);
        Path m = s.mnt.resolve("d");
        byte[] edited = random(300_000, 1);
        System.arraycopy("MINE".getBytes(StandardCharsets.US_ASCII), 0, edited, 0, 4);
        within(SLACK_MS * 2, "offline changes", () -> {
            Files.writeString(m.resolve("new.txt"), "made offline");
            Files.createDirectory(m.resolve("newdir"));
            Files.writeString(m.resolve("newdir/x"), "x");
            Files.move(m.resolve("b"), m.resolve("b2"));
            try (var ch = java.nio.channels.FileChannel.open(m.resolve("a"), java.nio.file.StandardOpenOption.WRITE)) {
                ch.write(java.nio.ByteBuffer.wrap("MINE".getBytes(StandardCharsets.US_ASCII)), 0);
            }
            try (var ch = java.nio.channels.FileChannel.open(m.resolve("sub/theirs"), java.nio.file.StandardOpenOption.WRITE)) {
                ch.write(java.nio.ByteBuffer.wrap("local edit".getBytes(StandardCharsets.US_ASCII)), 0);
            }
            Files.createLink(m.resolve("a-link"), m.resolve("a"));
            return null;
        });
        assertArrayEquals(edited, Files.readAllBytes(m.resolve("a-link")), "a hard link made offline shares the data");
        assertEquals(2, Files.getAttribute(m.resolve("a"), "unix:nlink"));
        // Meanwhile on the server the same file changed (the mount held offline until then).
        s.uplink.connectivity().forceOffline();
        restore();
        Files.write(s.lower.resolve("d/sub/theirs"), "remote edit".getBytes(StandardCharsets.US_ASCII));
        assertEquals("online", s.uplink.connectivity().goOnline("test", true));
        assertFalse(s.uplink.connectivity().offline());
        assertEquals(0, s.uplink.journal().size(), "the journal is empty after replay");
        Path low = s.lower.resolve("d");
        assertEquals("made offline", Files.readString(low.resolve("new.txt")));
        assertEquals("x", Files.readString(low.resolve("newdir/x")));
        assertArrayEquals(random(200_000, 2), Files.readAllBytes(low.resolve("b2")));
        assertFalse(Files.exists(low.resolve("b")));
        assertArrayEquals(edited, Files.readAllBytes(low.resolve("a")), "an update of an unchanged base goes up");
        assertArrayEquals(edited, Files.readAllBytes(low.resolve("a-link")), "the hard link goes up (a copy where the lower has none)");
        if (lower.capabilities().contains(Lower.Capability.HARD_LINKS)) {
            // Asked on the server's own disk: clients cache attributes and make inode numbers up.
            Path onServer = lower instanceof NetworkLower n
                    ? n.serverDir().resolve(lower.root().relativize(low.resolve("a")).toString()) : low.resolve("a");
            assertEquals(2, Files.getAttribute(onServer, "unix:nlink"), "as a hard link");
        }
        assertEquals("remote edit", Files.readString(low.resolve("sub/theirs")), "the lower's own change stays");
        List<Path> stashed;
        try (var l = Files.list(low.resolve("sub"))) {
            stashed = l.filter(p -> p.getFileName().toString().startsWith("theirs.conflict-")).toList();
        }
        assertEquals(1, stashed.size(), "the local version is kept beside it");
        byte[] local = random(1000, 9);
        System.arraycopy("local edit".getBytes(StandardCharsets.US_ASCII), 0, local, 0, 10);
        assertArrayEquals(local, Files.readAllBytes(stashed.get(0)));
        assertEquals(List.of("both-updated"), s.cache == null ? List.of() : conflictKinds(s));
        // Online again, the mount shows the lower's state.
        Thread.sleep(1100);
        assertArrayEquals(edited, within(SLACK_MS, "read", () -> Files.readAllBytes(m.resolve("a"))));
        assertEquals("remote edit", within(SLACK_MS, "read", () -> Files.readString(m.resolve("sub/theirs"))));
        assertEquals("made offline", within(SLACK_MS, "read", () -> Files.readString(m.resolve("new.txt"))));
    }

    @Test
    void offlinePermissionsAreCheckedAgainstTheCachedOwnerAndMode() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(Libc.geteuid() == 0, "needs root to act as another uid");
        org.junit.jupiter.api.Assumptions.assumeTrue(lower.capabilities().contains(Lower.Capability.UNIX_MODES),
                "the lower does not keep modes");
        Stack s = mount();
        Files.createDirectories(s.lower.resolve("p"));
        Files.write(s.lower.resolve("p/secret"), random(1000, 1));
        Files.setPosixFilePermissions(s.lower.resolve("p/secret"), java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
        Files.setPosixFilePermissions(s.lower.resolve("p"), java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.setLastModifiedTime(s.lower.resolve("p"), FileTime.fromMillis(System.currentTimeMillis() - 60_000));
        assertEquals(Set.of("secret"), names(s.mnt.resolve("p")));
        assertArrayEquals(random(1000, 1), Files.readAllBytes(s.mnt.resolve("p/secret")));
        s.cache.flushIndex();
        goOffline(s);
        String secret = Sys.raw(s.mnt.resolve("p/secret"));
        String mine = Sys.raw(s.mnt.resolve("p/mine"));
        int[] asOther = within(SLACK_MS, "calls as another user", () -> {
            int oldUid = Libc.setfsuid(4321);
            int oldGid = Libc.setfsgid(4321);
            try {
                return new int[] {errnoOf(() -> Sys.readAll(secret)), errnoOf(() -> {
                    Libc.close(Libc.open(mine, Libc.O_WRONLY | Libc.O_CREAT, 0644));
                    return null;
                })};
            } finally {
                Libc.setfsuid(oldUid);
                Libc.setfsgid(oldGid);
            }
        });
        assertEquals(Errno.EACCES, asOther[0], "a 0600 file of root, offline");
        assertEquals(Errno.EACCES, asOther[1], "a create in a 0755 directory of root, offline");
        assertArrayEquals(random(1000, 1), Files.readAllBytes(s.mnt.resolve("p/secret")), "its owner reads it");
    }

    private static List<String> conflictKinds(Stack s) throws Exception {
        return s.uplink.conflicts().stream().map(CacheIndex.Conflict::kind).toList();
    }

    private static List<CacheIndex.JournalEntry> journal(Stack s) throws Exception {
        return s.uplink.journal();
    }

    /**
     * A user saves just after the network dropped: the save is what finds the lower gone (the
     * client still answers lookups from its own attribute cache, as sshfs does, and fails the
     * open). It must be carried out offline, journaled, and replayed, never an I/O error.
     */
    @Test
    void theChangeThatDiscoversTheOutageIsCarriedOutOffline() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(lower.isNetwork(), "a local lower has no link to cut");
        Stack s = mount();
        prepare(s);
        Path m = s.mnt.resolve("d");
        lower.cutLink();
        Thread.sleep(3000); // the client notices by itself (sshfs: EIO after about 2 s)
        within(DEADLINE_MS + SLACK_MS, "a save right after the cut", () -> {
            Files.writeString(m.resolve("a"), "saved at the cut");
            return null;
        });
        within(DEADLINE_MS + SLACK_MS, "a mkdir", () -> Files.createDirectory(m.resolve("made-at-cut")));
        assertTrue(s.uplink.connectivity().offline(), "offline");
        assertEquals("saved at the cut", Files.readString(m.resolve("a")));
        assertTrue(s.uplink.journal().size() >= 2, "both changes journaled: " + s.uplink.journal());
        s.uplink.connectivity().forceOffline();
        restore();
        assertEquals("online", s.uplink.connectivity().goOnline("test", true));
        assertEquals(0, s.uplink.journal().size(), "replayed");
        assertEquals("saved at the cut", Files.readString(s.lower.resolve("d/a")));
        assertTrue(Files.isDirectory(s.lower.resolve("d/made-at-cut")));
    }

    @Test
    void theLowerComingBackIsDetectedAndTheMountGoesOnline() throws Exception {
        Stack s = mount();
        prepare(s);
        goOffline(s);
        List<String> events = new java.util.concurrent.CopyOnWriteArrayList<>();
        s.uplink.connectivity().onEvent(ev -> events.add(ev.name()));
        restore();
        if (!lower.isNetwork()) {
            assertEquals("online", s.uplink.connectivity().goOnline("test", true));
        }
        NetworkLower.awaitTrue(Duration.ofSeconds(30), "the mount to go online",
                () -> !s.uplink.connectivity().offline());
        // The event follows the switch (a reader may see the mount online just before it is sent).
        NetworkLower.awaitTrue(Duration.ofSeconds(5), "the online event", () -> events.contains("online"));
        // Online again: the lower's own changes show, and new data is fetched.
        Files.write(s.lower.resolve("d/c"), random(50_000, 3));
        Thread.sleep(1100);
        assertArrayEquals(random(50_000, 3), within(DEADLINE_MS + SLACK_MS, "read after reconnection",
                () -> Files.readAllBytes(s.mnt.resolve("d/c"))));
        assertArrayEquals(random(200_000, 2), within(DEADLINE_MS + SLACK_MS, "read after reconnection",
                () -> Files.readAllBytes(s.mnt.resolve("d/b"))));
    }

    @Test
    void aCutMidReadAndMidWriteHangsNobody() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(lower.isNetwork(), "needs a link to cut");
        Stack s = mount();
        prepare(s);
        byte[] big = random(24 << 20, 4);
        Files.write(s.lower.resolve("d/big"), big);
        lower.bandwidth(16_000); // 2 MB/s: the read takes about twelve seconds
        try {
            AtomicReference<Throwable> readEnd = new AtomicReference<>();
            AtomicReference<Throwable> writeEnd = new AtomicReference<>();
            CompletableFuture<Void> reader = CompletableFuture.runAsync(() -> {
                try {
                    Sys.readAll(Sys.raw(s.mnt.resolve("d/big")));
                } catch (Throwable t) {
                    readEnd.set(t);
                }
            }, r -> Thread.ofPlatform().daemon().start(r));
            CompletableFuture<Void> writer = CompletableFuture.runAsync(() -> {
                try (var ch = java.nio.channels.FileChannel.open(s.mnt.resolve("d/written"),
                        java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.WRITE)) {
                    for (int i = 0; i < 4096; i++) {
                        ch.write(java.nio.ByteBuffer.wrap(random(64 * 1024, i)));
                        ch.force(false);
                    }
                } catch (Throwable t) {
                    writeEnd.set(t);
                }
            }, r -> Thread.ofPlatform().daemon().start(r));
            Thread.sleep(2000);
            lower.cutLink();
            long t0 = System.nanoTime();
            reader.get(30, TimeUnit.SECONDS);
            writer.get(30, TimeUnit.SECONDS);
            long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
            assertNotNull(readEnd.get(), "the read of a file not cached fails once the link is cut");
            assertNotNull(writeEnd.get(), "the write to the lower fails once the link is cut");
            assertTrue(ms < 30_000, "both ended " + ms + " ms after the cut");
        } finally {
            lower.bandwidth(0);
        }
        within(DEADLINE_MS + SLACK_MS, "a lookup", () -> Files.exists(s.mnt.resolve("probe-" + System.nanoTime())));
        assertTrue(s.uplink.connectivity().offline());
        assertArrayEquals(random(300_000, 1), within(SLACK_MS, "cached read", () -> Files.readAllBytes(s.mnt.resolve("d/a"))));
        assertEquals(Errno.ENOTCONN, within(SLACK_MS, "uncached read",
                () -> errnoOf(() -> Sys.readAll(Sys.raw(s.mnt.resolve("d/b"))))));
        within(SLACK_MS, "an offline create", () -> Files.writeString(s.mnt.resolve("d/sub/after"), "after the cut"));
        assertEquals("after the cut", Files.readString(s.mnt.resolve("d/sub/after")));
    }

    @Test
    void aDeadLowerDoesNotFloodTheLog() throws Exception {
        Stack s = mount();
        prepare(s);
        java.io.ByteArrayOutputStream captured = new java.io.ByteArrayOutputStream();
        java.io.PrintStream err = System.err;
        // slf4j-simple looks System.err up at each line: everything logged from here on is seen
        System.setErr(new java.io.PrintStream(new java.io.OutputStream() {
            @Override
            public synchronized void write(int b) {
                err.write(b);
                captured.write(b);
            }

            @Override
            public synchronized void write(byte[] b, int off, int len) {
                err.write(b, off, len);
                captured.write(b, off, len);
            }
        }, true));
        int requests = 0;
        try {
            goOffline(s);
            Path m = s.mnt.resolve("d");
            for (int i = 0; i < 200; i++) {
                assertEquals(Errno.ENOTCONN, errnoOf(() -> Sys.readAll(Sys.raw(m.resolve("b")))));
                String name = "nope-" + i;
                assertEquals(Errno.ENOENT, errnoOf(() -> Libc.lstat(Sys.raw(m.resolve(name)))));
                requests += 2;
            }
            for (int i = 0; i < 20; i++) {
                Files.writeString(m.resolve("sub/offline-" + i), "x");
                requests++;
            }
            Thread.sleep(3000); // ten probes of the dead lower
        } finally {
            System.setErr(err);
        }
        List<String> lines = captured.toString(StandardCharsets.UTF_8).lines()
                .filter(l -> l.matches(".*\\[(INFO|WARN|ERROR)\\].*")).toList();
        assertTrue(lines.size() <= 6, requests + " failing requests and ten probes logged " + lines.size()
                + " lines (one per event is expected):\n" + String.join("\n", lines));
        assertTrue(lines.stream().anyMatch(l -> l.contains("OFFLINE")), "the switch itself is logged: " + lines);
    }

    @Test
    void withOfflineWaitAReadOfUncachedDataWaitsForTheLower() throws Exception {
        fx = Stack.on(lower).uplink(uplinkOptions().withMissWait(60_000)).mount();
        Stack s = fx;
        prepare(s);
        goOffline(s);
        CompletableFuture<byte[]> read = new CompletableFuture<>();
        Thread.ofPlatform().daemon().start(() -> {
            try {
                read.complete(Files.readAllBytes(s.mnt.resolve("d/b")));
            } catch (Throwable t) {
                read.completeExceptionally(t);
            }
        });
        Thread.sleep(1500);
        assertFalse(read.isDone(), "the read waits for the lower instead of failing");
        restore();
        if (!lower.isNetwork()) {
            assertEquals("online", s.uplink.connectivity().goOnline("test", true));
        }
        assertArrayEquals(random(200_000, 2), read.get(60, TimeUnit.SECONDS), "and completes once it is back");
    }

    /** A tree of directories and files under {@code root} on the lower, its directories dated a minute back. */
    private static java.util.Map<String, byte[]> tree(Path root, int dirs, int files, int size) throws Exception {
        java.util.Map<String, byte[]> made = new java.util.TreeMap<>();
        for (int d = 0; d < dirs; d++) {
            Path dir = root.resolve("dir" + d);
            Files.createDirectories(dir);
            for (int f = 0; f < files; f++) {
                byte[] data = random(size + f * 1000, d * 100L + f);
                Files.write(dir.resolve("f" + f), data);
                made.put("dir" + d + "/f" + f, data);
            }
        }
        FileTime old = FileTime.fromMillis(System.currentTimeMillis() - 60_000);
        for (int d = 0; d < dirs; d++) {
            Files.setLastModifiedTime(root.resolve("dir" + d), old);
        }
        Files.setLastModifiedTime(root, old);
        return made;
    }

    @Test
    void aPinnedSubtreeReadsWhollyAfterTheCut() throws Exception {
        Stack s = mount();
        Files.size(s.mnt);
        Path root = Files.createDirectories(s.lower.resolve("pinned"));
        java.util.Map<String, byte[]> made = tree(root, 3, 4, 150_000);
        Files.setLastModifiedTime(s.lower, FileTime.fromMillis(System.currentTimeMillis() - 60_000));
        names(s.mnt); // the root's listing, to find "pinned" offline
        s.cache.pin("pinned", true, p -> {});
        s.cache.flushIndex();
        goOffline(s);
        within(30_000, "reading the pinned tree", () -> {
            Set<String> seen = new TreeSet<>();
            try (var w = Files.walk(s.mnt.resolve("pinned"))) {
                for (Path p : (Iterable<Path>) w::iterator) {
                    if (Files.isRegularFile(p)) {
                        String rel = s.mnt.resolve("pinned").relativize(p).toString();
                        assertArrayEquals(made.get(rel), Files.readAllBytes(p), rel);
                        assertEquals("yes", xattr(Sys.raw(p), "user.cachefs.pinned"));
                        seen.add(rel);
                    }
                }
            }
            assertEquals(made.keySet(), seen, "every pinned file is listed and read offline");
            return null;
        });
    }

    @Test
    void anInterruptedPinResumesWithoutFetchingAgain() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(lower.isNetwork(), "needs a slow link to interrupt a pin");
        Stack s = mount();
        Path root = Files.createDirectories(s.lower.resolve("big"));
        java.util.Map<String, byte[]> made = tree(root, 2, 4, 1_000_000);
        long total = made.values().stream().mapToLong(b -> b.length).sum();
        lower.bandwidth(24_000); // 3 MB/s: the whole pin takes about three seconds
        try {
            long before = s.stats().snapshot().get("bytes_from_lower");
            Exception stopped = null;
            try {
                s.cache.pin("big", true, p -> {
                    throw new java.io.IOException("interrupted by the test");
                });
            } catch (java.io.IOException e) {
                stopped = e;
            }
            assertNotNull(stopped, "the pin was interrupted at its first progress report");
            long first = s.stats().snapshot().get("bytes_from_lower") - before;
            assertTrue(first > 0 && first < total, "part of it was fetched: " + first + " of " + total);
            CacheLayer.PinProgress done = s.cache.pin("big", true, p -> {});
            long second = s.stats().snapshot().get("bytes_from_lower") - before - first;
            assertEquals(made.size(), done.files());
            assertTrue(second <= total - first + 2L * 1024 * 1024,
                    "the second run fetches only what was missing (and the chunks in flight): " + second + " after " + first);
        } finally {
            lower.bandwidth(0);
        }
        for (var e : made.entrySet()) {
            assertEquals("cached", xattr(Sys.raw(s.mnt.resolve("big/" + e.getKey())), "user.cachefs.state"), e.getKey());
        }
    }
}
