package dev.cachefs.cli;

import java.nio.file.Path;
import picocli.CommandLine.Option;
import java.util.List;
import java.util.ArrayList;
import dev.cachefs.nativeio.RawPath;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/** {@code cachefs offline MOUNT} and {@code cachefs online MOUNT}: force the mount's mode. */
final class ModeCommands {
    private ModeCommands() {}

    /**
     * Asks the daemon to go online (it replays first; no time bound, a replay takes what its
     * uploads take, each lower call under its deadline), showing the replay's progress on a
     * terminal; a refusal is the command's failure.
     */
    private static Path goOnline(Path mountpoint) {
        Path mp = mountpoint.toAbsolutePath().normalize();
        ControlServer.query(mp, "status"); // is it a live cachefs mount (a clear error if not)
        Map<String, String> a = waitFor(mp, "online", "replay", "replaying");
        String result = a.getOrDefault("result", "?");
        if (!result.equals("online") && !result.equals("already online")) {
            throw new Main.UserError(Main.FAILED, mountpoint + " " + result);
        }
        return mp;
    }

    /**
     * Asks the daemon {@code command}, which may take long, and waits for its answer, showing the
     * status line {@code progress} on a terminal meanwhile.
     */
    private static Map<String, String> waitFor(Path mp, String command, String progress, String doing) {
        java.util.concurrent.CompletableFuture<Map<String, String>> answer = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                return ControlServer.ask(mp, command);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        boolean tty = System.console() != null;
        boolean shown = false;
        Map<String, String> a;
        while (true) {
            try {
                a = answer.get(1, java.util.concurrent.TimeUnit.SECONDS);
                break;
            } catch (java.util.concurrent.TimeoutException e) {
                if (tty) {
                    String p = ControlServer.query(mp, "status").get(progress);
                    if (p != null) {
                        System.err.print("\rcachefs: " + doing + " " + p + "   ");
                        shown = true;
                    }
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new Main.UserError(Main.FAILED, "interrupted");
            } catch (java.util.concurrent.ExecutionException e) {
                throw new Main.UserError(Main.FAILED, "cannot reach the daemon of " + mp + ": " + e.getCause().getMessage());
            }
        }
        if (shown) {
            System.err.println();
        }
        if (a.containsKey("error")) {
            throw new Main.UserError(Main.FAILED, mp + ": " + a.get("error"));
        }
        return a;
    }

    @Command(name = "offline", header = "Work from the cache alone.", mixinStandardHelpOptions = true,
            description = "Make a cachefs mount work from its cache alone, until `cachefs online`. Changes are journaled "
                    + "for replay; reads of what is not cached fail with ENOTCONN.",
            footer = {"", "Example:  cachefs offline ~/mnt"})
    static final class Offline implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "MOUNTPOINT", description = "where cachefs is mounted")
        Path mountpoint;

        @Override
        public Integer call() {
            ControlServer.query(mountpoint.toAbsolutePath().normalize(), "offline");
            System.out.println("cachefs: " + mountpoint + " is offline");
            return 0;
        }
    }

    @Command(name = "online", header = "Use the lower again (replaying offline changes).", mixinStandardHelpOptions = true,
            description = "Make a cachefs mount use its lower again, if it answers. Changes made offline are replayed onto"
                    + " it first (as cachefs sync does).",
            footer = {"", "Example:  cachefs online ~/mnt"})
    static final class Online implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "MOUNTPOINT", description = "where cachefs is mounted")
        Path mountpoint;

        @Override
        public Integer call() {
            goOnline(mountpoint);
            System.out.println("cachefs: " + mountpoint + " is online");
            return 0;
        }
    }

    @Command(name = "sync", header = "Replay offline changes now and go online; upload what write-back queued.",
            mixinStandardHelpOptions = true,
            description = "Replay the changes a cachefs mount made offline onto its lower now, and go online; with "
                    + "-o writeback, upload what is queued and wait until the lower has it all (files open for writing "
                    + "go once closed). Where the lower changed the same thing, the [conflicts] rules of the config "
                    + "decide (default: ask, left open for cachefs resolve; see cachefs conflicts).",
            footer = {"", "Example:  cachefs sync ~/mnt && cachefs conflicts ~/mnt"})
    static final class Sync implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "MOUNTPOINT", description = "where cachefs is mounted")
        Path mountpoint;

        @Override
        public Integer call() {
            Path mp = goOnline(mountpoint);
            if (ControlServer.query(mp, "status").getOrDefault("write-back", "off").startsWith("on")) {
                Map<String, String> up = waitFor(mp, "upload", "upload queue", "uploading: queue");
                if (!"uploaded".equals(up.get("result"))) {
                    throw new Main.UserError(Main.FAILED, mp + ": the upload stopped before the queue was empty (the mount is"
                            + " going away?); upload queue: " + up.getOrDefault("upload queue", "?"));
                }
            }
            Map<String, String> st = ControlServer.query(mp, "status");
            System.out.println("cachefs: " + mountpoint + " is online; " + st.getOrDefault("journal", "?") + " left"
                    + (st.containsKey("last event") ? "; " + st.get("last event") : ""));
            return 0;
        }
    }

    @Command(name = "conflicts", header = "List conflicts replay found.", mixinStandardHelpOptions = true,
            description = "List the open conflicts replay found in a cachefs mount: when, kind, path, and where each "
                    + "version is (MOUNT/.cachefs/conflicts/PATH/{local,remote,base,merged}). --all: resolved ones "
                    + "too.",
            footer = {"", "Example:  cachefs conflicts ~/mnt && cat ~/mnt/.cachefs/conflicts/notes.txt/remote"})
    static final class Conflicts implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "MOUNTPOINT", description = "where cachefs is mounted")
        Path mountpoint;

        @Option(names = "--all", description = "resolved conflicts too, with how and where each version went")
        boolean all;

        @Override
        public Integer call() {
            Path mp = mountpoint.toAbsolutePath().normalize();
            Map<String, String> a = ControlServer.answer(mp, "conflicts");
            a.forEach((k, v) -> {
                if (!k.startsWith("conflict ")) {
                    return;
                }
                String[] f = v.split("\t", -1);
                byte[] raw = java.util.HexFormat.of().parseHex(f[2]);
                String path = RawPath.display(RawPath.fromBytes(raw, 0, raw.length));
                boolean open = f[3].equals("open");
                if (open) {
                    System.out.printf("%s  %s  %s  open: %s%n", f[0], f[1], path, mp.resolve(".cachefs/conflicts").resolve(path));
                } else if (all) {
                    System.out.printf("%s  %s  %s  %s: %s%n", f[0], f[1], path, f[4], f[5]);
                }
            });
            System.out.println(a.getOrDefault("open", "0") + " open conflicts" + (all ? ", " + a.getOrDefault("count", "0")
                    + " in all" : ""));
            return 0;
        }
    }

    @Command(name = "resolve", header = "Settle open conflicts.", mixinStandardHelpOptions = true,
            description = "Settle open conflicts: keep the local version (it goes to the lower), the remote one (the local"
                    + " one stays in the cache's conflicts folder), both (the local one goes beside the remote as "
                    + "NAME.conflict-HOST-TIME.EXT) or the merged one (an unclean merge, edited or not).",
            footer = {"", "Examples:  cachefs resolve ~/mnt/notes.txt --keep local",
                    "           cachefs resolve --all ~/mnt --keep both",
                    "           cachefs resolve --all ~/mnt --pattern '**/*.o' --keep remote"})
    static final class Resolve implements Callable<Integer> {
        @Parameters(paramLabel = "PATH", arity = "1..*",
                description = "files in open conflict in a cachefs mount (with --all: the mount point)")
        List<Path> paths = new ArrayList<>();

        @Option(names = "--keep", required = true, paramLabel = "local|remote|both|merged", description = "which version wins")
        String keep;

        @Option(names = "--all", description = "every open conflict of the mount (or those --pattern matches)")
        boolean all;

        @Option(names = "--pattern", paramLabel = "GLOB", description = "with --all: only paths matching it (as in the config)")
        String pattern;

        @Override
        public Integer call() throws java.io.IOException {
            if (!List.of("local", "remote", "both", "merged").contains(keep)) {
                throw new Main.UserError(Main.USAGE, "--keep takes local, remote, both or merged, not '" + keep + "'");
            }
            if (pattern != null && !all) {
                throw new Main.UserError(Main.USAGE, "--pattern goes with --all");
            }
            int failed = 0;
            if (all) {
                for (Path mp : paths) {
                    Path m = mp.toAbsolutePath().normalize();
                    Map<String, String> a = ControlServer.ask(m, "resolve-all " + keep + " "
                            + java.util.HexFormat.of().formatHex(RawPath.bytes(pattern == null ? "" : pattern)));
                    if (a.containsKey("error")) {
                        throw new Main.UserError(Main.FAILED, a.get("error"));
                    }
                    for (var e : a.entrySet()) {
                        if (e.getKey().startsWith("resolved ")) {
                            byte[] raw = java.util.HexFormat.of().parseHex(e.getKey().substring(9));
                            System.out.println(m.resolve(RawPath.display(RawPath.fromBytes(raw, 0, raw.length))) + ": " + e.getValue());
                            failed += e.getValue().startsWith("error: ") ? 1 : 0;
                        }
                    }
                    System.out.println(a.getOrDefault("count", "0") + " conflicts resolved in " + m);
                }
            } else {
                for (Path given : paths) {
                    PinCommands.Target t = PinCommands.resolve(given);
                    Map<String, String> a = ControlServer.ask(t.mountpoint(), "resolve " + keep + " "
                            + java.util.HexFormat.of().formatHex(RawPath.bytes(t.rel())));
                    if (a.containsKey("error")) {
                        System.err.println("cachefs: " + a.get("error"));
                        failed++;
                    } else {
                        System.out.println(given + ": " + a.get("result"));
                    }
                }
            }
            return failed == 0 ? 0 : Main.FAILED;
        }
    }
}
