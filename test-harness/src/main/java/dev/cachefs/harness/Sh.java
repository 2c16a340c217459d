package dev.cachefs.harness;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** Short commands run to completion under a deadline: ip, tc, iptables, smbpasswd, ssh-keygen, ... */
public final class Sh {
    private Sh() {}

    /** What a finished command left: its exit status and its merged output. */
    public record Result(int status, String output) {
        public boolean ok() {
            return status == 0;
        }
    }

    /** Runs {@code cmd}; fails with its output when it exits non-zero or outlives the deadline. */
    public static String run(String... cmd) {
        Result r = tryRun(Duration.ofSeconds(30), Map.of(), cmd);
        if (!r.ok()) {
            throw new HarnessException(String.join(" ", cmd) + " exited " + r.status() + ": " + r.output().strip());
        }
        return r.output();
    }

    /** Runs {@code cmd} and reports how it ended, never throwing for a failed command. */
    public static Result tryRun(String... cmd) {
        return tryRun(Duration.ofSeconds(30), Map.of(), cmd);
    }

    public static Result tryRun(Duration deadline, Map<String, String> env, String... cmd) {
        Path out = null;
        try {
            out = Files.createTempFile("cachefs-sh", ".out");
            ProcessBuilder pb = new ProcessBuilder(List.of(cmd)).redirectErrorStream(true)
                    .redirectOutput(out.toFile()).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
            pb.environment().putAll(env);
            Process p = pb.start();
            if (!p.waitFor(deadline.toMillis(), TimeUnit.MILLISECONDS)) {
                p.destroyForcibly();
                p.waitFor(5, TimeUnit.SECONDS);
                return new Result(-1, "timed out after " + deadline + ": " + Files.readString(out, StandardCharsets.ISO_8859_1));
            }
            return new Result(p.exitValue(), Files.readString(out, StandardCharsets.ISO_8859_1));
        } catch (IOException e) {
            return new Result(-2, cmd[0] + ": " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Result(-3, "interrupted");
        } finally {
            if (out != null) {
                try {
                    Files.deleteIfExists(out);
                } catch (IOException ignored) {
                    // a temp file left in /tmp
                }
            }
        }
    }

    /** {@code cmd} with {@code nsenter --net=...} in front: a server started inside the namespace. */
    public static List<String> inNetns(String netns, List<String> cmd) {
        List<String> all = new ArrayList<>(List.of("nsenter", "--net=/run/netns/" + netns));
        all.addAll(cmd);
        return all;
    }
}
