package dev.cachefs.bench;

import dev.cachefs.harness.Lower;
import dev.cachefs.harness.SftpLower;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * rclone mount with its full VFS cache over the benchmark's server: its own SFTP client for the
 * SFTP lower (through the same shaping), the network mount (local backend) for NFS. The benches
 * keep the processes and end them.
 */
final class Rclone {
    private Rclone() {}

    /**
     * Mounts it at {@code work/rclone-NAME} and returns the mount point once {@code ready} (a
     * path relative to the root) is visible through it; the process goes to {@code started}.
     */
    static Path mount(Lower lower, Path work, String name, String ready, List<Process> started) throws Exception {
        Path m = Files.createDirectories(work.resolve("rclone-" + name));
        Path cache = work.resolve("rclone-cache-" + name);
        List<String> cmd = new ArrayList<>(List.of("rclone", "mount"));
        Map<String, String> env = new LinkedHashMap<>();
        if (lower instanceof SftpLower s) {
            env.put("RCLONE_CONFIG_BENCH_TYPE", "sftp");
            env.put("RCLONE_CONFIG_BENCH_HOST", s.host());
            env.put("RCLONE_CONFIG_BENCH_USER", "root");
            env.put("RCLONE_CONFIG_BENCH_KEY_FILE", s.keyFile().toString());
            cmd.add("bench:" + lower.serverDir());
        } else {
            cmd.add(lower.root().toString());
        }
        cmd.addAll(List.of(m.toString(), "--vfs-cache-mode", "full", "--cache-dir", cache.toString(),
                "--config", "/dev/null", "--log-file", work.resolve("rclone-" + name + ".log").toString()));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(work.resolve("rclone-" + name + ".out").toFile());
        pb.environment().putAll(env);
        Process p = pb.start();
        started.add(p);
        long t0 = System.nanoTime();
        while (!Files.exists(m.resolve(ready))) {
            if (!p.isAlive() || System.nanoTime() - t0 > TimeUnit.SECONDS.toNanos(30)) {
                throw new IllegalStateException("rclone mount did not come up; see " + work.resolve("rclone-" + name + ".log"));
            }
            Thread.sleep(100);
        }
        return m;
    }
}
