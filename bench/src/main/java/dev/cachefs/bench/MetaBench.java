package dev.cachefs.bench;

import dev.cachefs.harness.CachefsCli;
import dev.cachefs.harness.Harness;
import dev.cachefs.harness.Lower;
import dev.cachefs.harness.Lowers;
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
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;

/**
 * {@code ./cachefs bench --meta}: metadata and small files, in one run. A real git repository
 * (generated with git: thousands of small files in nested directories) on the server, measured
 * through the network lower alone and through cachefs over it (cold, warm, after a remount,
 * offline), and from a local copy through cachefs over a local directory, bindfs and the disk.
 * Every warm fill ends with the workload it fills for, so what is measured is within meta_ttl.
 * Before every measurement the page cache, dentries and inodes are dropped: the kernel's own
 * caches answer nothing, the daemon answers everything. Medians of the rounds; ratios and the
 * goals of issue 23 in the report.
 */
final class MetaBench {
    static final List<String> WORKLOADS = List.of("walk", "git-status", "small-reads");
    static final List<String> SYSTEMS = List.of("lower", "cachefs-cold", "cachefs-warm", "cachefs-remount",
            "cachefs-offline", "local-cachefs-cold", "local-cachefs-warm", "local-cachefs-remount", "bindfs", "disk");

    private final Path out;
    private final String profile;
    private final String kind;
    private final int repeat;
    private final int dirs;
    private final int filesPerDir;
    private final CachefsCli cli;
    private final Map<String, Map<String, List<Double>>> results = new LinkedHashMap<>();
    private final List<Path> mounted = new ArrayList<>();
    private final CachefsMounts mounts;
    private final Map<String, Path> warm = new LinkedHashMap<>();
    private final Map<String, Path> warmCache = new LinkedHashMap<>();
    private final List<String> notes = new ArrayList<>();
    private Lower lower;
    private Path work;
    private Path localCopy;
    private List<String> files;

    MetaBench(Path out, String profile, String kind, boolean quick, int repeat, Path jar) {
        this.out = out;
        this.profile = profile;
        this.kind = kind;
        this.repeat = repeat;
        this.cli = new CachefsCli(jar);
        this.mounts = new CachefsMounts(cli, mounted);
        this.dirs = quick ? 40 : 100;
        this.filesPerDir = 50;
    }

    static Path defaultOut(Path root, String profile, String kind, boolean quick) {
        return root.resolve("bench/out").resolve(LocalDate.now() + "-meta-" + profile + "-" + kind
                + (quick ? "-quick" : "") + "-" + System.currentTimeMillis() / 1000);
    }

    private static void say(String s) {
        System.out.println(s);
        System.out.flush();
    }

    int run(String argLine) throws Exception {
        Files.createDirectories(out);
        try {
            lower = Lowers.start(kind);
            if (profile.equals("wan")) {
                lower.latency(10);
                lower.bandwidth(100_000);
            }
            work = Harness.newDir("metabench");
            say("bench --meta: " + kind + " lower, profile " + profile + ", a git repository of " + dirs * filesPerDir
                    + " files, " + repeat + " round(s)");
            makeRepository(lower.serverDir().resolve("repo"));
            localCopy = work.resolve("local");
            Bench.sh("cp", "-a", lower.serverDir().resolve("repo").toString(), localCopy.toString());
            for (int round = 1; round <= repeat; round++) {
                say("bench --meta: round " + round + " of " + repeat);
                List<String> order = new ArrayList<>(SYSTEMS);
                Collections.rotate(order, round - 1);
                for (String w : WORKLOADS) {
                    for (String system : order) {
                        double v;
                        try {
                            v = measure(system, w);
                        } catch (IOException e) {
                            notes.add(w + " on " + system + " failed: " + e.getMessage());
                            say("  " + w + " " + system + " FAILED: " + e.getMessage());
                            continue;
                        }
                        results.computeIfAbsent(w, k -> new LinkedHashMap<>()).computeIfAbsent(system, k -> new ArrayList<>()).add(v);
                        say(String.format(Locale.ROOT, "  %-11s %-22s %10.1f ms", w, system, v));
                    }
                }
            }
            String report = report(argLine);
            Files.writeString(out.resolve("report.md"), report);
            say("");
            say(report);
            say("bench --meta: report in " + out);
            return 0;
        } finally {
            for (Path m : new ArrayList<>(mounted)) {
                cli.run(Duration.ofSeconds(30), "umount", "--lazy", m.toString());
                Mounts.forceUnmount(m);
            }
            if (lower != null) {
                lower.close();
            }
            Harness.releaseOwn();
        }
    }

    /** A repository as a developer has one: nested directories of small sources, committed. */
    private void makeRepository(Path repo) throws IOException {
        Random r = new Random(23);
        files = new ArrayList<>();
        byte[] text = new byte[1024];
        for (int d = 0; d < dirs; d++) {
            Path sub = Files.createDirectories(repo.resolve(String.format(Locale.ROOT, "src/m%02d/p%03d", d % 10, d)));
            for (int f = 0; f < filesPerDir; f++) {
                for (int i = 0; i < text.length; i++) {
                    text[i] = (byte) ('a' + r.nextInt(26));
                }
                String name = String.format(Locale.ROOT, "F%03d.java", f);
                Files.write(sub.resolve(name), text);
                files.add(repo.relativize(sub.resolve(name)).toString());
            }
        }
        git(repo, "init", "-q");
        git(repo, "add", "-A");
        git(repo, "-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "-q", "-m", "bench tree");
        // Old enough that cachefs keeps listings (it does not trust one read in the second of a change).
        Bench.sh("sh", "-c", "find '" + repo + "' -exec touch -h -d '10 minutes ago' {} +");
    }

    private static void git(Path repo, String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("git", "-C", repo.toString(), "-c", "safe.directory=*"));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String text = new String(p.getInputStream().readAllBytes());
        try {
            if (!p.waitFor(600, TimeUnit.SECONDS) || p.exitValue() != 0) {
                throw new IOException("git " + String.join(" ", args) + " failed (exit " + (p.isAlive() ? "none" : p.exitValue())
                        + (p.isAlive() || p.exitValue() <= 128 ? "" : ", signal " + (p.exitValue() - 128)) + "): " + text.strip());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted");
        }
    }

    // ---- systems ------------------------------------------------------------------------

    private double measure(String system, String w) throws Exception {
        boolean local = system.startsWith("local-");
        String cachefs = local ? system.substring("local-".length()) : system;
        Path source = local ? localCopy : lower.root().resolve("repo");
        return switch (cachefs) {
            case "lower" -> run(w, source);
            case "disk" -> run(w, localCopy);
            case "bindfs" -> {
                Path m = work.resolve("bindfs");
                if (!mounted.contains(m)) {
                    Files.createDirectories(m);
                    Bench.sh("bindfs", localCopy.toString(), m.toString());
                    mounted.add(m);
                }
                yield run(w, m);
            }
            case "cachefs-cold" -> {
                Path m = Files.createDirectories(work.resolve("cold-" + System.nanoTime()));
                Path cache = work.resolve("cache-" + m.getFileName());
                mount(source, m, cache);
                try {
                    yield run(w, m);
                } finally {
                    umount(m);
                    Bench.sh("rm", "-rf", cache.toString());
                }
            }
            case "cachefs-warm" -> {
                Path m = warm(source, local);
                fill(w, m);
                yield run(w, m);
            }
            case "cachefs-remount" -> {
                Path m = warm(source, local);
                fill(w, m);
                umount(m);
                mount(source, m, warmCache.get(local ? "local" : "net"));
                yield run(w, m);
            }
            case "cachefs-offline" -> {
                Path m = warm(source, local);
                fill(w, m);
                check(cli.run(Duration.ofSeconds(30), "offline", m.toString()), "offline");
                try {
                    yield run(w, m);
                } finally {
                    check(cli.run(Duration.ofSeconds(120), "online", m.toString()), "online");
                }
            }
            default -> throw new IllegalArgumentException(system);
        };
    }

    private Path warm(Path source, boolean local) throws Exception {
        String key = local ? "local" : "net";
        Path m = warm.get(key);
        if (m == null) {
            m = Files.createDirectories(work.resolve("warm-" + key));
            Path cache = work.resolve("cache-warm-" + key);
            mount(source, m, cache);
            warm.put(key, m);
            warmCache.put(key, cache);
        }
        return m;
    }

    /**
     * Makes a warm mount hold what {@code w} needs: the files' data (small-reads), then the
     * workload itself, last, so its attributes are as fresh as a user's second run.
     */
    private void fill(String w, Path m) throws Exception {
        readAll(m);
        if (w.equals("git-status")) {
            git(m, "status", "--porcelain");
        } else {
            walk(m);
        }
    }

    private void mount(Path source, Path m, Path cache) throws Exception {
        mounts.mount(source, m, cache);
    }

    private void umount(Path m) throws Exception {
        mounts.umount(m);
    }

    private static void check(CachefsCli.Result c, String what) {
        CachefsMounts.check(c, what);
    }

    // ---- workloads ----------------------------------------------------------------------

    private double run(String w, Path dir) throws Exception {
        CachefsCli.dropPageCache();
        long t = System.nanoTime();
        switch (w) {
            case "walk" -> walk(dir);
            case "git-status" -> git(dir, "status", "--porcelain");
            case "small-reads" -> readAll(dir);
            default -> throw new IllegalArgumentException(w);
        }
        return (System.nanoTime() - t) / 1e6;
    }

    private static long walk(Path dir) throws IOException {
        long[] n = {0};
        Files.walkFileTree(dir, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) {
                n[0] += attrs.size();
                return FileVisitResult.CONTINUE;
            }
        });
        return n[0];
    }

    private void readAll(Path dir) throws IOException {
        for (String f : files) {
            Files.readAllBytes(dir.resolve(f));
        }
    }

    // ---- report -------------------------------------------------------------------------

    private double median(String w, String system) {
        List<Double> v = results.getOrDefault(w, Map.of()).getOrDefault(system, List.of());
        if (v.isEmpty()) {
            return Double.NaN;
        }
        List<Double> s = new ArrayList<>(v);
        Collections.sort(s);
        return s.get(s.size() / 2);
    }

    /** How many times faster {@code a} is than {@code b} (times: b / a). */
    private String speedup(String w, String a, String b) {
        double x = median(w, a);
        double y = median(w, b);
        return Double.isNaN(x) || Double.isNaN(y) || x <= 0 ? "-" : String.format(Locale.ROOT, "%.2fx", y / x);
    }

    /** {@code a}'s time as a multiple of {@code b}'s. */
    private String timeRatio(String w, String a, String b) {
        double x = median(w, a);
        double y = median(w, b);
        return Double.isNaN(x) || Double.isNaN(y) || y <= 0 ? "-" : String.format(Locale.ROOT, "%.2fx", x / y);
    }

    String report(String argLine) {
        StringBuilder b = new StringBuilder();
        b.append("# cachefs metadata benchmark: ").append(kind).append(" lower, ").append(profile).append(" profile")
                .append(profile.equals("wan") ? " (+10 ms RTT, 100 Mbit/s)" : " (no shaping)").append("\n\n");
        b.append("Run ").append(LocalDate.now()).append(" with `./cachefs bench ").append(argLine).append("`; a git repository of ")
                .append(files.size()).append(" files of 1 KiB in ").append(dirs).append(" directories; medians of ")
                .append(repeat).append(" round(s), systems interleaved; page cache, dentries and inodes dropped before every")
                .append(" measurement. `local-*`: cachefs over a local copy (beside bindfs over it and the disk).\n\n");
        b.append("Times in ms:\n\n| workload |");
        for (String s : SYSTEMS) {
            b.append(' ').append(s).append(" |");
        }
        b.append("\n|---|");
        b.append("---|".repeat(SYSTEMS.size())).append('\n');
        for (String w : WORKLOADS) {
            b.append("| ").append(w).append(" |");
            for (String s : SYSTEMS) {
                double v = median(w, s);
                b.append(' ').append(Double.isNaN(v) ? "-" : String.format(Locale.ROOT, v >= 100 ? "%.0f" : "%.1f", v)).append(" |");
            }
            b.append('\n');
        }
        b.append("\nAgainst the lower alone (times faster):\n\n| workload | cold | warm | remount | offline |\n|---|---|---|---|---|\n");
        for (String w : WORKLOADS) {
            b.append("| ").append(w).append(" | ").append(speedup(w, "cachefs-cold", "lower")).append(" | ")
                    .append(speedup(w, "cachefs-warm", "lower")).append(" | ").append(speedup(w, "cachefs-remount", "lower"))
                    .append(" | ").append(speedup(w, "cachefs-offline", "lower")).append(" |\n");
        }
        b.append("\nOver a local directory (time as a multiple of bindfs's, and of the disk's):\n\n"
                + "| workload | cold / bindfs | warm / bindfs | remount / bindfs | warm / disk | remount / warm |\n|---|---|---|---|---|---|\n");
        for (String w : WORKLOADS) {
            b.append("| ").append(w).append(" | ").append(timeRatio(w, "local-cachefs-cold", "bindfs")).append(" | ")
                    .append(timeRatio(w, "local-cachefs-warm", "bindfs")).append(" | ")
                    .append(timeRatio(w, "local-cachefs-remount", "bindfs")).append(" | ")
                    .append(timeRatio(w, "local-cachefs-warm", "disk")).append(" | ")
                    .append(timeRatio(w, "local-cachefs-remount", "local-cachefs-warm")).append(" |\n");
        }
        b.append("\nGoals (issue 23): ").append(profile.equals("wan")
                ? "WAN: warm walk >= 50x the lower, remount walk >= 20x, offline walk >= 50x, cold walk >= 0.95x; "
                : "").append("local: warm walk <= 1.5x bindfs's time, warm small-reads <= 1.2x bindfs's, "
                + "cold small-reads >= 0.95x the lower alone (here the disk).\n");
        for (String n : notes) {
            b.append("\n- ").append(n);
        }
        return b.append(notes.isEmpty() ? "" : "\n").toString();
    }
}
