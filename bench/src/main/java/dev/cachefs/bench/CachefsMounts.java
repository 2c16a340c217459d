package dev.cachefs.bench;

import dev.cachefs.harness.CachefsCli;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/** cachefs mounts a benchmark makes, through the CLI as a user would; each step must succeed. */
final class CachefsMounts {
    private final CachefsCli cli;
    private final List<Path> mounted;

    /** @param mounted where the mount points go while mounted (unmounted by the caller's clean-up) */
    CachefsMounts(CachefsCli cli, List<Path> mounted) {
        this.cli = cli;
        this.mounted = mounted;
    }

    void mount(Path source, Path m, Path cache, String... options) throws Exception {
        List<String> args = new java.util.ArrayList<>(List.of("mount", source.toString(), m.toString(), "--cache", cache.toString()));
        args.addAll(List.of(options));
        check(cli.run(Duration.ofSeconds(60), args.toArray(String[]::new)), "mount");
        mounted.add(m);
    }

    void umount(Path m) throws Exception {
        check(cli.run(Duration.ofSeconds(60), "umount", m.toString()), "umount");
        mounted.remove(m);
    }

    void run(String what, Duration timeout, Path m) throws Exception {
        check(cli.run(timeout, what, m.toString()), what);
    }

    static void check(CachefsCli.Result c, String what) {
        if (c.code() != 0) {
            throw new IllegalStateException("cachefs " + what + " failed: " + c.err().strip());
        }
    }
}
