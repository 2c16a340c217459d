package dev.cachefs.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cachefs.harness.Lower;
import dev.cachefs.harness.Lowers;
import dev.cachefs.harness.Mounts;
import dev.cachefs.harness.NetworkLower;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The CLI over a real SFTP lower whose server goes away: sshfs (with reconnect) then answers EIO
 * at once instead of hanging, and a mount must still start from the cache's record.
 */
@Timeout(240)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class SftpCliIT {
    private Lower sftp;
    @TempDir
    Path tmp;
    private Path lower;
    private Path mnt;
    private final List<Long> daemons = new ArrayList<>();
    private static int seq;

    @BeforeAll
    void startLower() {
        Mounts.assumeFuse();
        sftp = Lowers.start("sftp");
    }

    @AfterAll
    void stopLower() {
        if (sftp != null) {
            sftp.close();
        }
    }

    @BeforeEach
    void setUp() throws Exception {
        lower = Files.createDirectory(sftp.root().resolve("cli-" + (++seq)));
        mnt = Files.createDirectory(tmp.resolve("mnt"));
    }

    @AfterEach
    void cleanUp() throws Exception {
        try {
            CliIT.release(mnt, daemons);
            daemons.clear();
        } finally {
            restoreAndWait();
        }
    }

    private void restoreAndWait() throws Exception {
        sftp.restoreLink();
        NetworkLower.awaitTrue(Duration.ofSeconds(60), "sshfs to reconnect", () -> {
            Path probe = Files.createDirectory(sftp.root().resolve("probe-" + System.nanoTime()));
            Files.delete(probe);
            return true;
        });
    }

    /** Cuts the link and waits until sshfs answers the lower directory with an error (not a hang). */
    private void cutUntilEio() throws Exception {
        sftp.cutLink();
        NetworkLower.awaitTrue(Duration.ofSeconds(30), "sshfs to answer EIO", () -> {
            try (var l = Files.list(lower.resolve("never-listed-" + System.nanoTime()))) {
                return false;
            } catch (java.nio.file.NoSuchFileException e) {
                return false; // answered from its cache or by the server: not cut yet
            } catch (java.io.IOException e) {
                return true;
            }
        });
    }

    @Test
    void aMountWhileTheServerIsGoneStartsOfflineFromThePinnedTree() throws Exception {
        Files.createDirectories(lower.resolve("proj"));
        byte[] doc = "the pinned document\n".getBytes();
        Files.write(lower.resolve("proj/doc.txt"), doc);
        Path cache = tmp.resolve("cache");
        CliIT.mountInBackground(daemons, lower, mnt, cache);
        CliIT.Result pin = CliIT.run("pin", "-r", mnt.resolve("proj").toString());
        assertEquals(0, pin.code(), pin.err());
        assertEquals(0, CliIT.run("umount", mnt.toString()).code());
        CliIT.awaitUnmounted(mnt);

        cutUntilEio();
        CliIT.Result r = CliIT.run("mount", lower.toString(), mnt.toString(), "--cache", cache.toString());
        assertEquals(0, r.code(), "mounted from the cache: " + r.out() + r.err());
        var m = java.util.regex.Pattern.compile("pid (\\d+)").matcher(r.out());
        assertTrue(m.find(), r.out());
        daemons.add(Long.parseLong(m.group(1)));
        assertTrue(r.out().strip().lines().count() == 1 && r.out().contains("; OFFLINE ("), "one line that says offline: " + r.out());
        assertArrayEquals(doc, Files.readAllBytes(mnt.resolve("proj/doc.txt")), "the pinned file, offline");

        sftp.restoreLink();
        Files.writeString(sftp.serverDir().resolve(lower.getFileName()).resolve("proj/new.txt"), "made on the server");
        NetworkLower.awaitTrue(Duration.ofSeconds(60), "the mount to go online and show the server's new file",
                () -> Files.exists(mnt.resolve("proj/new.txt")));
        assertEquals("made on the server", Files.readString(mnt.resolve("proj/new.txt")));
        assertTrue(CliIT.run("status", mnt.toString()).out().matches("(?s).*mode\\s+online\n.*"));
    }

    @Test
    void withoutARecordAMountWhileTheServerIsGoneIsRefusedInOneLine() throws Exception {
        cutUntilEio();
        CliIT.Result r = CliIT.run("mount", lower.toString(), mnt.toString(), "--cache", tmp.resolve("fresh").toString());
        assertNotEquals(0, r.code(), r.out());
        assertTrue(r.err().startsWith("cachefs: ") && r.err().strip().lines().count() == 1, r.err());
        assertTrue(r.err().contains("no record"), r.err());
        assertFalse(MountTable.at(mnt).isPresent());
    }
}
