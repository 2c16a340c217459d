package dev.cachefs.bench;

import dev.cachefs.harness.CachefsCli;
import dev.cachefs.harness.Harness;
import dev.cachefs.harness.Mounts;
import java.io.IOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Stream;

/**
 * {@code ./cachefs bench --scale N}: a local lower of N small files (1,000 to a directory) walked
 * through cachefs cold, warm, and after a remount, beside bindfs and the disk, with what the daemon
 * holds: its resident memory per object beyond what it held once mounted, the time a mount takes
 * over an empty and over a full index, and whether a second walk grows the index. Long (a million
 * files take minutes per walk): not part of CI.
 */
final class ScaleBench {
    private static final int PER_DIR = 1000;
    private static final int SIZE = 100;

    private final Path out;
    private final int files;
    private final CachefsCli cli;
    private final List<Path> mounted = new ArrayList<>();
    private final CachefsMounts mounts;
    private final Map<String, Double> ms = new LinkedHashMap<>();
    private final Map<String, Long> bytes = new LinkedHashMap<>();

    ScaleBench(Path out, int files, Path jar) {
        this.out = out;
        this.files = files;
        this.cli = new CachefsCli(jar);
        this.mounts = new CachefsMounts(cli, mounted);
    }

    static Path defaultOut(Path root, int files) {
        return root.resolve("bench/out").resolve(LocalDate.now() + "-scale-" + files + "-" + System.currentTimeMillis() / 1000);
    }

    private static void say(String s) {
        System.out.println(s);
        System.out.flush();
    }

    int run(String argLine) throws Exception {
        Files.createDirectories(out);
        Path work = Harness.newDir("scalebench");
        try {
            Path lower = work.resolve("lower");
            say("bench --scale: making " + files + " files of " + SIZE + " bytes, " + PER_DIR + " to a directory");
            make(lower);
            Path bind = Files.createDirectories(work.resolve("bindfs"));
            Bench.sh("bindfs", lower.toString(), bind.toString());
            mounted.add(bind);
            try {
                timed("disk walk", () -> walk(lower));
                timed("bindfs walk", () -> walk(bind));
            } finally {
                Bench.sh("umount", bind.toString());
                mounted.remove(bind);
            }
            Path m = Files.createDirectories(work.resolve("mnt"));
            Path cache = work.resolve("cache");
            timed("mount, empty index", () -> mounts.mount(lower, m, cache));
            long base = rss(m);
            bytes.put("daemon RSS once mounted", base);
            timed("cachefs cold walk", () -> walk(m));
            bytes.put("daemon RSS after the cold walk", rss(m));
            timed("cachefs warm walk", () -> walk(m));
            bytes.put("daemon RSS after the warm walk", rss(m));
            mounts.umount(m);
            bytes.put("index after the first walk", indexBytes(cache));
            timed("mount, full index", () -> mounts.mount(lower, m, cache));
            long remountBase = rss(m);
            timed("cachefs walk after a remount", () -> walk(m));
            bytes.put("daemon RSS after the remount walk", rss(m));
            mounts.umount(m);
            bytes.put("index after the remount walk", indexBytes(cache));
            String report = report(argLine, base, remountBase);
            Files.writeString(out.resolve("report.md"), report);
            say("");
            say(report);
            say("bench --scale: report in " + out);
            return 0;
        } finally {
            for (Path p : new ArrayList<>(mounted)) {
                cli.run(Duration.ofSeconds(30), "umount", "--lazy", p.toString());
                Mounts.forceUnmount(p);
            }
            Harness.releaseOwn();
        }
    }

    private interface Step {
        void run() throws Exception;
    }

    /** Times {@code s} with the page cache, dentries and inodes dropped first. */
    private void timed(String what, Step s) throws Exception {
        CachefsCli.dropPageCache();
        long t = System.nanoTime();
        s.run();
        double v = (System.nanoTime() - t) / 1e6;
        ms.put(what, v);
        say(String.format(Locale.ROOT, "  %-30s %10.0f ms", what, v));
    }

    private void make(Path lower) throws IOException {
        byte[] data = new byte[SIZE];
        java.util.Arrays.fill(data, (byte) 'x');
        for (int i = 0; i < files; i++) {
            Path d = lower.resolve(String.format(Locale.ROOT, "d%04d", i / PER_DIR));
            if (i % PER_DIR == 0) {
                Files.createDirectories(d);
            }
            Files.write(d.resolve("f" + i % PER_DIR), data);
        }
    }

    private void walk(Path dir) throws IOException {
        long[] n = {0};
        Files.walkFileTree(dir, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) {
                n[0]++;
                return FileVisitResult.CONTINUE;
            }
        });
        if (n[0] != files) {
            throw new IOException("the walk of " + dir + " saw " + n[0] + " files, not " + files);
        }
    }

    /** The resident memory of the daemon serving {@code m}. */
    private long rss(Path m) throws Exception {
        CachefsCli.Result r = cli.run(Duration.ofSeconds(30), "status", m.toString());
        CachefsMounts.check(r, "status");
        String pid = r.out().lines().filter(l -> l.trim().startsWith("daemon pid")).map(l -> l.replaceAll("\\D", ""))
                .findFirst().orElseThrow(() -> new IOException("no daemon pid in cachefs status"));
        for (String l : Files.readAllLines(Path.of("/proc", pid, "status"))) {
            if (l.startsWith("VmRSS:")) {
                return Long.parseLong(l.replaceAll("\\D", "")) * 1024;
            }
        }
        throw new IOException("no VmRSS for pid " + pid);
    }

    private static long indexBytes(Path cache) throws IOException {
        try (Stream<Path> s = Files.list(cache)) {
            long total = 0;
            for (Path p : s.filter(p -> p.getFileName().toString().startsWith("index.db")).toList()) {
                total += Files.size(p);
            }
            return total;
        }
    }

    private String report(String argLine, long base, long remountBase) {
        StringBuilder b = new StringBuilder("# cachefs bench --scale\n\n");
        b.append("Run ").append(LocalDate.now()).append(" with `./cachefs bench ").append(argLine).append("`: a local lower of ")
                .append(files).append(" files of ").append(SIZE).append(" bytes, ").append(PER_DIR)
                .append(" to a directory; page cache, dentries and inodes dropped before each step; one run.\n\n");
        b.append("| step | ms |\n|---|---|\n");
        ms.forEach((k, v) -> b.append("| ").append(k).append(" | ").append(String.format(Locale.ROOT, "%.0f", v)).append(" |\n"));
        b.append("\n| memory and index | MB |\n|---|---|\n");
        bytes.forEach((k, v) -> b.append("| ").append(k).append(" | ").append(String.format(Locale.ROOT, "%.1f", v / 1e6)).append(" |\n"));
        long afterCold = bytes.get("daemon RSS after the cold walk");
        long afterRemount = bytes.get("daemon RSS after the remount walk");
        b.append("\n| goal (1,000,000 files) | reached |\n|---|---|\n");
        b.append("| cold walk within 1.5x bindfs | ").append(ratio("cachefs cold walk", "bindfs walk")).append(" |\n");
        b.append("| walk after a remount within 1.5x the warm walk | ").append(ratio("cachefs walk after a remount", "cachefs warm walk"))
                .append(" |\n");
        b.append(String.format(Locale.ROOT, "| daemon RSS under 1 KB per object beyond its base | %.0f bytes after the cold walk, %.0f after the remount walk |\n",
                (afterCold - base) / (double) files, (afterRemount - remountBase) / (double) files));
        b.append("| mount with a full index under 2 s | ").append(String.format(Locale.ROOT, "%.0f ms (empty index: %.0f ms)",
                ms.get("mount, full index"), ms.get("mount, empty index"))).append(" |\n");
        long i1 = bytes.get("index after the first walk");
        long i2 = bytes.get("index after the remount walk");
        b.append(String.format(Locale.ROOT, "| the index not growing on re-walks | %.1f MB, then %.1f MB (%+.1f%%) |\n",
                i1 / 1e6, i2 / 1e6, 100.0 * (i2 - i1) / i1));
        b.append("\nMount times are the `cachefs mount` command's, JVM starts included. The walk is a Java tree walk"
                + " reading every file's attributes (`Files.walkFileTree`).\n");
        return b.toString();
    }

    private String ratio(String a, String bKey) {
        Double x = ms.get(a);
        Double y = ms.get(bKey);
        return x == null || y == null || y <= 0 ? "-" : String.format(Locale.ROOT, "%.2fx", x / y);
    }
}
