package dev.cachefs.harness;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** What a crashed run leaves (a server, a namespace with its guard route, a mount) the next run ends. */
@Timeout(60)
class HarnessCleanupIT {
    @Test
    void sweepEndsWhatADeadRunLeft() throws Exception {
        Harness.requireRoot("namespaces and mounts");
        // A run directory whose owner cannot be alive: PID 1 never has start time 1.
        Path dead = Harness.BASE.resolve("runs").resolve("1-1");
        Files.createDirectories(dead.resolve("procs"));
        Files.createDirectories(dead.resolve("netns"));
        Process server = new ProcessBuilder("sleep", "600").start();
        Process stranger = new ProcessBuilder("sleep", "600").start();
        try {
            Files.writeString(dead.resolve("procs").resolve(Long.toString(server.pid())),
                    Proc.startTime(server.pid()) + " sleep 600\n");
            // A record whose PID was reused by someone else: must not be touched.
            Files.writeString(dead.resolve("procs").resolve(Long.toString(stranger.pid())), "1 sleep 600\n");
            String ns = NetNs.PREFIX + "249";
            Files.writeString(dead.resolve("netns").resolve(ns), "10.213.249.0/24\n");
            Sh.run("ip", "netns", "add", ns);
            Sh.run("ip", "route", "add", "unreachable", "10.213.249.0/24", "metric", NetNs.GUARD_METRIC);
            Path mnt = Files.createDirectories(dead.resolve("mnt"));
            Sh.run("mount", "-t", "tmpfs", "leftover", mnt.toString());

            List<String> found = Harness.sweep();

            assertTrue(server.waitFor(10, TimeUnit.SECONDS), "the recorded server was ended: " + found);
            assertTrue(stranger.isAlive(), "a reused PID is left alone");
            assertFalse(Files.exists(Path.of("/run/netns", ns)), "namespace deleted");
            assertFalse(Sh.run("ip", "route", "show", "10.213.249.0/24").contains("unreachable"), "guard route deleted");
            assertTrue(Harness.mountsUnder(dead).isEmpty(), "mount released");
            assertFalse(Files.exists(dead), "run directory deleted");
            assertTrue(found.stream().anyMatch(s -> s.contains("namespace " + ns)), found.toString());
        } finally {
            server.destroyForcibly();
            stranger.destroyForcibly();
        }
    }
}
