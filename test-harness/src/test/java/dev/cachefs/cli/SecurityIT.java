package dev.cachefs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cachefs.harness.Mounts;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * What other users can reach: the cache directory and everything in it is private to the
 * mounting user (0700 directories, 0600 files, even under the daemon's umask of 0), planted
 * symlinks are not followed, and the control socket answers its owner and root only, whatever
 * its mode.
 */
@Timeout(120)
class SecurityIT {
    static final int NOBODY = 65534;

    @TempDir
    Path tmp;
    Path lower;
    Path mnt;
    final List<Long> daemons = new ArrayList<>();

    @BeforeEach
    void setUp() throws IOException {
        Mounts.assumeFuse();
        lower = Files.createDirectory(tmp.resolve("lower"));
        mnt = Files.createDirectory(tmp.resolve("mnt"));
        Files.writeString(lower.resolve("hello.txt"), "hello from the lower\n");
    }

    @AfterEach
    void cleanUp() throws Exception {
        CliIT.release(mnt, daemons);
    }

    @Test
    void everythingInTheCacheIsPrivateAfterOfflineWorkAndAConflict() throws Exception {
        Path cfg = Files.writeString(tmp.resolve("c.conf"), "[conflicts]\n**: keep-both\n");
        Path cache = tmp.resolve("cache");
        CliIT.mountInBackground(daemons, lower, mnt, cache, "--config", cfg.toString(), "-o", "stats_file=" + tmp.resolve("s.prom"));
        assertEquals("hello from the lower\n", Files.readString(mnt.resolve("hello.txt")));
        assertEquals(0, CliIT.run("offline", mnt.toString()).code());
        Files.writeString(mnt.resolve("hello.txt"), "edited offline\n");
        Files.writeString(mnt.resolve("new.txt"), "made offline\n");
        Files.writeString(lower.resolve("hello.txt"), "edited on the lower meanwhile\n");
        CliIT.Result on = CliIT.run("online", mnt.toString());
        assertEquals(0, on.code(), on.err());
        assertTrue(Files.isDirectory(cache.resolve("conflicts")), "the conflict kept its versions in the cache");
        List<String> wide = new ArrayList<>();
        try (var walk = Files.walk(cache)) {
            for (Path p : walk.toList()) {
                if (Files.isSymbolicLink(p) || (!Files.isRegularFile(p) && !Files.isDirectory(p))) {
                    continue;
                }
                Set<PosixFilePermission> mode = Files.getPosixFilePermissions(p);
                String want = Files.isDirectory(p) ? "rwx------" : "rw-------";
                if (!PosixFilePermissions.toString(mode).equals(want)) {
                    wide.add(PosixFilePermissions.toString(mode) + " " + cache.relativize(p));
                }
            }
        }
        assertEquals(List.of(), wide, "every directory 0700 and every file 0600");
        assertEquals("rw-r--r--", PosixFilePermissions.toString(Files.getPosixFilePermissions(tmp.resolve("s.prom"))),
                "the stats file is for a collector to read, not to write");
        assertEquals(0, CliIT.run("umount", mnt.toString()).code());
    }

    @Test
    void plantedSymlinksInTheCacheAreRefusedNotFollowed() throws Exception {
        Path outside = Files.createDirectory(tmp.resolve("outside"));
        Path cache = tmp.resolve("cache");
        // The cache directory itself a symlink
        Files.createSymbolicLink(cache, outside);
        CliIT.Result r = CliIT.run("mount", lower.toString(), mnt.toString(), "--cache", cache.toString());
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("symlink"), r.err());
        Files.delete(cache);
        // Its index a symlink to a file elsewhere
        Files.createDirectory(cache, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        Path victim = Files.writeString(outside.resolve("victim"), "not a database\n");
        Files.createSymbolicLink(cache.resolve("index.db"), victim);
        r = CliIT.run("mount", lower.toString(), mnt.toString(), "--cache", cache.toString());
        assertTrue(r.code() != 0 && r.err().strip().lines().count() == 1, r.err()); // the daemon found it: exit 1
        assertTrue(r.err().contains("index.db in the cache directory is a symlink"), r.err());
        assertEquals("not a database\n", Files.readString(victim), "the file it pointed at is untouched");
        Files.delete(cache.resolve("index.db"));
        // The local-copies area a symlink to a directory elsewhere: offline edits fail loudly
        Files.createSymbolicLink(cache.resolve("local"), outside);
        CliIT.mountInBackground(daemons, lower, mnt, cache);
        assertEquals("hello from the lower\n", Files.readString(mnt.resolve("hello.txt")));
        assertEquals(0, CliIT.run("offline", mnt.toString()).code());
        boolean failed = false;
        try {
            Files.writeString(mnt.resolve("hello.txt"), "edited offline\n");
        } catch (IOException e) {
            failed = true;
        }
        assertTrue(failed, "an offline change with nowhere safe to keep it is refused");
        try (var l = Files.list(outside)) {
            assertEquals(List.of("victim"), l.map(p -> p.getFileName().toString()).toList(), "nothing was written through the link");
        }
        assertEquals(0, CliIT.run("umount", mnt.toString()).code());
    }

    @Test
    void theControlSocketAnswersItsOwnerAndRootOnlyWhateverItsMode() throws Exception {
        Assumptions.assumeTrue(dev.cachefs.nativeio.Libc.geteuid() == 0, "needs root to run a client as another user");
        Path cache = tmp.resolve("cache");
        CliIT.mountInBackground(daemons, lower, mnt, cache);
        Path sock = ControlServer.socketFor(mnt.toAbsolutePath().normalize());
        Path dir = sock.getParent();
        Set<PosixFilePermission> dirMode = Files.getPosixFilePermissions(dir);
        assertEquals("rwx------", PosixFilePermissions.toString(dirMode));
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(sock)));
        try {
            // Open it up as a careless admin might: the peer check must still hold.
            Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
            Files.setPosixFilePermissions(sock, PosixFilePermissions.fromString("rw-rw-rw-"));
            String asNobody = probe(sock, "status", true);
            assertTrue(asNobody.contains("error: only the user who mounted this and root may control it"), asNobody);
            assertFalse(asNobody.contains("mode:"), asNobody);
            assertTrue(probe(sock, "status", false).contains("mode: online"), "root is answered");
            // Requests are bounded and must be whole
            String tooLong = probe(sock, "evict - " + "61".repeat(40_000), false);
            assertTrue(tooLong.contains("error: request longer than"), tooLong);
            String escape = probe(sock, "evict - " + java.util.HexFormat.of().formatHex("../../etc".getBytes(StandardCharsets.UTF_8)), false);
            assertTrue(escape.contains("error: path leaves the mount"), escape);
            String oddHex = probe(sock, "pin - 6", false);
            assertTrue(oddHex.startsWith("error: "), oddHex);
        } finally {
            Files.setPosixFilePermissions(dir, dirMode);
            Files.setPosixFilePermissions(sock, PosixFilePermissions.fromString("rw-------"));
        }
        assertEquals(0, CliIT.run("umount", mnt.toString()).code());
    }

    private static Path probeClasses;

    /**
     * A directory holding only {@link PeerProbe}'s class, readable by everyone: the build tree
     * may sit below a directory other users cannot enter (a clone made in a mode-0700 temporary
     * directory), and then nobody's JVM could not load the probe.
     */
    private static synchronized Path probeClasses() throws IOException {
        if (probeClasses == null) {
            String name = PeerProbe.class.getName().replace('.', '/') + ".class";
            Path base = Files.createTempDirectory(Path.of("/tmp"), "cachefs-probe-");
            Path cls = base.resolve(name);
            Files.createDirectories(cls.getParent());
            try (var in = PeerProbe.class.getClassLoader().getResourceAsStream(name)) {
                Files.copy(in, cls);
            }
            Files.setPosixFilePermissions(cls, PosixFilePermissions.fromString("rw-r--r--"));
            for (Path d = cls.getParent(); d.startsWith(base); d = d.getParent()) {
                Files.setPosixFilePermissions(d, PosixFilePermissions.fromString("rwxr-xr-x"));
            }
            // deleteOnExit removes in the reverse order of registration: parents first here
            for (Path p = base; ; p = p.resolve(cls.getName(p.getNameCount()))) {
                p.toFile().deleteOnExit();
                if (p.equals(cls)) {
                    break;
                }
            }
            probeClasses = base;
        }
        return probeClasses;
    }

    /** Sends {@code line} on {@code sock} from a JVM of its own, as nobody or as root; its answer. */
    private static String probe(Path sock, String line, boolean asNobody) throws Exception {
        List<String> cmd = new ArrayList<>();
        if (asNobody) {
            cmd.addAll(List.of("setpriv", "--reuid=" + NOBODY, "--regid=" + NOBODY, "--clear-groups", "--"));
        }
        cmd.addAll(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-XX:-UsePerfData",
                "-cp", probeClasses().toString(), PeerProbe.class.getName(),
                sock.toString(), line));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), "the probe ended");
        return out;
    }
}
