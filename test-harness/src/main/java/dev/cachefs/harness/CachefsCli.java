package dev.cachefs.harness;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs the real cachefs CLI (the jar) as a separate process, for the demo and the benchmark. */
public final class CachefsCli {
    /** Exit code and what the command printed. */
    public record Result(int code, String out, String err) {}

    private final Path jar;

    public CachefsCli(Path jar) {
        this.jar = jar;
    }

    /**
     * {@code cachefs ARGS...}, killed past {@code limit} (code 124). Output goes to files, not
     * pipes: a daemon the command leaves in the background must not hold the caller's pipes open.
     */
    public Result run(Duration limit, String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-jar", jar.toString()));
        cmd.addAll(List.of(args));
        Path out = Files.createTempFile("cachefs-cli", ".out");
        Path err = Files.createTempFile("cachefs-cli", ".err");
        try {
            Process p = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
            if (!p.waitFor(limit.toSeconds(), TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return new Result(124, "", "cachefs " + String.join(" ", args) + " did not finish in " + limit.toSeconds() + " s");
            }
            return new Result(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8), Files.readString(err, StandardCharsets.UTF_8));
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }

    /** Drops the kernel's page cache, dentries and inodes machine-wide (root), so the next read is cold. */
    public static void dropPageCache() throws IOException {
        Files.writeString(Path.of("/proc/sys/vm/drop_caches"), "3");
    }
}
