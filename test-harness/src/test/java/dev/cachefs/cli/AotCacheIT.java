package dev.cachefs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cachefs.harness.Mounts;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The daemon's JVM AOT cache as the launcher makes it: the training run of the real jar, then
 * daemons the CLI starts from that cache, and from a damaged one without it.
 */
@Timeout(400)
class AotCacheIT {
    @TempDir
    Path tmp;
    Path mnt;
    final List<Long> daemons = new ArrayList<>();

    @AfterEach
    void cleanUp() throws Exception {
        if (mnt != null) {
            CliIT.release(mnt, daemons);
        }
    }

    private static Path jar() {
        return Path.of(System.getProperty("cachefs.jar", "../cachefs-core/target/cachefs-all.jar")).toAbsolutePath();
    }

    private static String java() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }

    @Test
    void aTrainingRunMakesTheCacheThatTheDaemonsStartFrom() throws Exception {
        Mounts.assumeFuse();
        Path aot = tmp.resolve("trained.aot");
        Path train = tmp.resolve("train");
        Path log = tmp.resolve("train.log");
        Process p = new ProcessBuilder(java(), "--enable-native-access=ALL-UNNAMED", "-XX:AOTCacheOutput=" + aot, "-cp",
                jar().toString(), "dev.cachefs.cli.Main", "aot-train", train.toString())
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        if (!p.waitFor(300, TimeUnit.SECONDS)) {
            p.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
            Mounts.forceUnmount(train.resolve("mnt"));
            throw new AssertionError("the training did not finish in 300 s:\n" + Files.readString(log));
        }
        assertEquals(0, p.exitValue(), Files.readString(log));
        assertFalse(MountTable.at(train.resolve("mnt")).isPresent(), "the training left its mount");
        assertTrue(Files.size(aot) > 1_000_000, "cache of " + Files.size(aot) + " bytes");
        // Its mount served the tree: what it read is in its cache, and the changes it made reached the lower.
        assertTrue(Files.size(train.resolve("cache/index.db")) > 0);
        try (var s = Files.list(train.resolve("lower"))) {
            assertEquals(List.of("big.bin", "link", "src"), s.map(x -> x.getFileName().toString()).sorted().toList(),
                    "the training's own files were removed through the mount");
        }

        Path lower = Files.createDirectory(tmp.resolve("lower"));
        Files.writeString(lower.resolve("hello.txt"), "hello from the lower\n");
        mnt = Files.createDirectory(tmp.resolve("mnt"));
        long pid = mount(lower, tmp.resolve("cache"), aot);
        String cmdline = Files.readString(Path.of("/proc/" + pid + "/cmdline")).replace('\0', ' ');
        assertTrue(cmdline.contains("-XX:AOTCache=" + aot), cmdline);
        assertTrue(Files.readString(Path.of("/proc/" + pid + "/maps")).contains(aot.toString()),
                "the daemon's JVM did not map the cache it was given");
        assertEquals("hello from the lower\n", Files.readString(mnt.resolve("hello.txt")));
        CliIT.mustSucceed("umount", mnt.toString());

        // A cache cut short (a disk that filled up, say): the JVM refuses it and the daemon starts without.
        Path damaged = Files.write(tmp.resolve("damaged.aot"), java.util.Arrays.copyOf(Files.readAllBytes(aot), 100_000));
        Files.setLastModifiedTime(damaged, FileTime.fromMillis(System.currentTimeMillis() + 60_000));
        pid = mount(lower, tmp.resolve("cache"), damaged);
        assertFalse(Files.readString(Path.of("/proc/" + pid + "/maps")).contains(damaged.toString()));
        assertEquals("hello from the lower\n", Files.readString(mnt.resolve("hello.txt")));
        String daemonLog = Files.readString(tmp.resolve("cache/cachefs.log"), StandardCharsets.UTF_8);
        assertFalse(daemonLog.contains("[aot]") || daemonLog.contains("[cds]"), daemonLog);
    }

    /** Mounts with the CLI, the daemon told to use {@code aot}; the daemon's pid. */
    private long mount(Path lower, Path cache, Path aot) throws Exception {
        ProcessBuilder b = new ProcessBuilder(java(), "--enable-native-access=ALL-UNNAMED", "-jar", jar().toString(), "mount",
                lower.toString(), mnt.toString(), "--cache", cache.toString());
        b.environment().put(AotCache.ENV, aot.toString());
        Process p = b.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "mount did not return");
        assertEquals(0, p.exitValue(), err);
        Matcher m = Pattern.compile("pid (\\d+)").matcher(out);
        assertTrue(m.find(), out);
        long pid = Long.parseLong(m.group(1));
        daemons.add(pid);
        return pid;
    }
}
