package dev.cachefs.cli;

import dev.cachefs.nativeio.RawPath;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** pin, unpin, evict and pins: what the cache keeps, asked of the live mount that holds each path. */
final class PinCommands {
    private PinCommands() {}

    /** A path given by the user: the cachefs mount it is in, and its path relative to that mount's root. */
    record Target(Path mountpoint, String rel) {}

    static Target resolve(Path given) {
        Path abs = given.toAbsolutePath().normalize();
        for (Path p = abs; p != null; p = p.getParent()) {
            try {
                var m = MountTable.at(p);
                if (m.isPresent() && m.get().type().equals("fuse.cachefs")) {
                    String rel = p.relativize(abs).toString();
                    return new Target(p, RawPath.fromText(rel));
                }
            } catch (IOException e) {
                throw new Main.UserError(Main.FAILED, "cannot read the mount table: " + e.getMessage());
            }
        }
        throw new Main.UserError(Main.USAGE, given + " is not inside a cachefs mount");
    }

    private static void check(Map<String, String> answer) {
        if (answer.containsKey("error")) {
            throw new Main.UserError(Main.FAILED, answer.get("error"));
        }
    }

    /** Sends {@code command} for each path to the mount holding it; each answer, checked. */
    private static void each(List<Path> paths, String command, boolean recursive,
                             java.util.function.BiConsumer<Path, Map<String, String>> answer) throws IOException {
        for (Path given : paths) {
            Target t = resolve(given);
            Map<String, String> a = ControlServer.ask(t.mountpoint(), PinControl.request(command, recursive, t.rel()));
            check(a);
            answer.accept(given, a);
        }
    }

    @Command(name = "pin", header = "Keep files in the cache, for offline use.", mixinStandardHelpOptions = true,
            description = "Fetch files into the cache and keep them there (never culled, apart from the size limit), so "
                    + "they stay readable offline. With -r, whole directories with their listings and symlinks. Safe "
                    + "to interrupt and run again: what is cached is not fetched twice. Pins persist.",
            footer = {"", "Examples:  cachefs pin -r ~/mnt/project", "           cachefs pin --quiet --json big.iso"})
    static final class Pin implements Callable<Integer> {
        @Parameters(paramLabel = "PATH", arity = "1..*", description = "files or (with -r) directories in a cachefs mount")
        List<Path> paths = new ArrayList<>();

        @Option(names = {"-r", "--recursive"}, description = "pin directories and everything under them")
        boolean recursive;

        @Option(names = {"-q", "--quiet"}, description = "no progress")
        boolean quiet;

        @Option(names = "--json", description = "print a JSON summary per path")
        boolean json;

        @Override
        public Integer call() throws IOException {
            boolean tty = System.console() != null && !quiet;
            for (Path given : paths) {
                Target t = resolve(given);
                Map<String, String> last = new java.util.LinkedHashMap<>();
                ControlServer.ask(t.mountpoint(), PinControl.request("pin", recursive, t.rel()), (k, v) -> {
                    if (k.equals("progress") && tty) {
                        String[] f = v.split(" ");
                        long files = Long.parseLong(f[0]);
                        long total = Long.parseLong(f[1]);
                        long bytes = Long.parseLong(f[2]);
                        long totalBytes = Long.parseLong(f[3]);
                        double secs = Math.max(0.001, Long.parseLong(f[4]) / 1000.0);
                        double rate = bytes / secs;
                        long eta = rate > 0 ? (long) ((totalBytes - bytes) / rate) : -1;
                        System.err.printf("\r%s: %d/%d files, %d/%d MiB, %.1f MiB/s, ETA %s   ", given, files, total,
                                bytes >> 20, totalBytes >> 20, rate / (1 << 20), eta < 0 ? "?" : eta + " s");
                    } else {
                        last.put(k, v);
                    }
                });
                if (tty) {
                    System.err.println();
                }
                check(last);
                if (json) {
                    System.out.printf("{\"path\": %s, \"files\": %s, \"bytes\": %s, \"ms\": %s}%n",
                            dev.cachefs.offline.Connectivity.Event.quote(given.toString()), last.get("files"), last.get("bytes"), last.get("ms"));
                } else if (!quiet) {
                    System.out.println("pinned " + given + ": " + last.get("files") + " files, " + last.get("bytes") + " bytes");
                }
            }
            return 0;
        }
    }

    @Command(name = "unpin", header = "Stop keeping files in the cache.", mixinStandardHelpOptions = true,
            description = "Stop keeping files in the cache: their data stays until culling needs the space.",
            footer = {"", "Example:  cachefs unpin -r ~/mnt/project"})
    static final class Unpin implements Callable<Integer> {
        @Parameters(paramLabel = "PATH", arity = "1..*", description = "files or (with -r) directories in a cachefs mount")
        List<Path> paths = new ArrayList<>();

        @Option(names = {"-r", "--recursive"}, description = "everything under directories too")
        boolean recursive;

        @Override
        public Integer call() throws IOException {
            each(paths, "unpin", recursive, (given, a) -> System.out.println("unpinned " + given + ": " + a.get("unpinned") + " objects"));
            return 0;
        }
    }

    @Command(name = "evict", header = "Drop the cached data of files now.", mixinStandardHelpOptions = true,
            description = "Drop the cached data of files now (and their pins); they are fetched again when read. Files "
                    + "open right now keep theirs; local changes not yet on the lower are never dropped.",
            footer = {"", "Example:  cachefs evict ~/mnt/videos/big.mkv"})
    static final class Evict implements Callable<Integer> {
        @Parameters(paramLabel = "PATH", arity = "1..*", description = "files or (with -r) directories in a cachefs mount")
        List<Path> paths = new ArrayList<>();

        @Option(names = {"-r", "--recursive"}, description = "everything under directories too")
        boolean recursive;

        @Override
        public Integer call() throws IOException {
            each(paths, "evict", recursive, (given, a) -> System.out.println("evicted " + given + ": " + a.get("evicted")
                    + " files, " + a.get("bytes") + " bytes"
                    + (Integer.parseInt(a.get("busy")) > 0 ? ", " + a.get("busy") + " kept (open or changed locally)" : "")));
            return 0;
        }
    }

    @Command(name = "invalidate", header = "Make a mount ask its lower again about paths.", mixinStandardHelpOptions = true,
            description = "Make a mount ask its lower again about PATHs instead of trusting what it remembers: the "
                    + "kernel's attributes, pages and names, cached listings and xattrs; cached data whose version "
                    + "changed is dropped. For a lower whose changes do not show in size or times.",
            footer = {"", "Example:  cachefs invalidate -r ~/mnt/build"})
    static final class Invalidate implements Callable<Integer> {
        @Parameters(paramLabel = "PATH", arity = "1..*", description = "files or (with -r) directories in a cachefs mount")
        List<Path> paths = new ArrayList<>();

        @Option(names = {"-r", "--recursive"}, description = "everything under directories too")
        boolean recursive;

        @Override
        public Integer call() throws IOException {
            each(paths, "invalidate", recursive, (given, a) -> System.out.println("invalidated " + given + " ("
                    + a.get("invalidated") + " known to the kernel)"));
            return 0;
        }
    }

    @Command(name = "pins", header = "List what is pinned.", mixinStandardHelpOptions = true, description = "List what is pinned in a mount, with the bytes each holds.",
            footer = {"", "Example:  cachefs pins ~/mnt"})
    static final class Pins implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "MOUNTPOINT", description = "where cachefs is mounted")
        Path mountpoint;

        @Override
        public Integer call() {
            Path mp = mountpoint.toAbsolutePath().normalize();
            Map<String, String> a = ControlServer.query(mp, "pins");
            check(a);
            a.forEach((k, v) -> {
                if (k.startsWith("pin ")) {
                    byte[] raw = HexFormat.of().parseHex(k.substring(4));
                    System.out.printf("%12s  %s%n", v, mp.resolve(RawPath.display(RawPath.fromBytes(raw, 0, raw.length))));
                }
            });
            System.out.println(a.get("count") + " pinned");
            return 0;
        }
    }
}
