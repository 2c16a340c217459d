package dev.cachefs.bench;

import dev.cachefs.harness.CachefsCli;
import dev.cachefs.harness.Harness;
import dev.cachefs.harness.Lower;
import dev.cachefs.harness.Lowers;
import dev.cachefs.harness.Mounts;
import dev.cachefs.nativeio.Libc;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code ./cachefs bench}: the same workloads, in one run, on the lower alone, cachefs cold (empty
 * cache), warm (cache filled, page cache dropped), warm after a remount, and offline, rclone's
 * VFS cache (cold and warm) over the same server, bindfs over a local copy and the local disk.
 * fio for data (job files in {@code bench/fio}), timed walks for metadata. Figures are medians of
 * {@code --repeat} rounds with the systems interleaved in each round; the report gives ratios.
 */
public final class Bench {
    enum Kind { DATA, META }

    /** A workload: a fio job file or a metadata walk; what it measures and in which unit. */
    record Workload(String name, Kind kind, String unit, boolean higherIsBetter) {}

    static final List<Workload> WORKLOADS = List.of(
            new Workload("seqread", Kind.DATA, "MB/s", true),
            new Workload("randread", Kind.DATA, "IOPS", true),
            new Workload("randread4", Kind.DATA, "IOPS", true),
            new Workload("seqwrite", Kind.DATA, "MB/s", true),
            new Workload("stat-walk", Kind.META, "ms", false),
            new Workload("git-status", Kind.META, "ms", false),
            new Workload("small-reads", Kind.META, "ms", false));

    static final List<String> SYSTEMS = List.of("lower", "cachefs-cold", "cachefs-warm", "cachefs-remount",
            "cachefs-offline", "rclone-cold", "rclone-warm", "bindfs", "disk");

    private final Path root;
    private final Path out;
    private final String profile;
    private final String kind;
    private final boolean quick;
    private final int repeat;
    private final long bigMiB;
    private final int dirs;
    private final int filesPerDir;
    private final CachefsCli cli;
    private final Map<String, Map<String, List<Double>>> results = new LinkedHashMap<>();
    private final List<String> notes = new ArrayList<>();
    private Lower lower;
    private Path work;
    private Path localCopy;
    private List<String> treeFiles;
    private int rcloneSeq;
    private boolean hasRclone;

    Bench(Path root, Path out, String profile, String kind, boolean quick, int repeat, Path jar) {
        this.root = root;
        this.out = out;
        this.profile = profile;
        this.kind = kind;
        this.quick = quick;
        this.repeat = repeat;
        this.cli = new CachefsCli(jar);
        this.mounts = new CachefsMounts(cli, mounted);
        boolean wan = profile.equals("wan");
        this.bigMiB = quick ? (wan ? 32 : 128) : (wan ? 128 : 512);
        this.dirs = quick ? 20 : 100;
        this.filesPerDir = quick ? 50 : 100;
    }

    public static void main(String[] args) throws Exception {
        String profile = "lan";
        String kind = "sftp";
        boolean quick = false;
        boolean meta = false;
        boolean write = false;
        int scale = 0;
        int repeat = 0;
        Path out = null;
        Path root = Path.of(System.getProperty("cachefs.root", ".")).toAbsolutePath().normalize();
        for (int i = 0; i < args.length; i++) {
            String v = i + 1 < args.length ? args[i + 1] : null;
            switch (args[i]) {
                case "--profile" -> { profile = need(args[i], v); i++; }
                case "--lower" -> { kind = need(args[i], v); i++; }
                case "--quick" -> quick = true;
                case "--meta" -> meta = true;
                case "--write" -> write = true;
                case "--scale" -> { scale = Integer.parseInt(need(args[i], v)); i++; }
                case "--repeat" -> { repeat = Integer.parseInt(need(args[i], v)); i++; }
                case "--out" -> { out = Path.of(need(args[i], v)); i++; }
                case "-h", "--help" -> {
                    System.out.println("""
                            Usage: ./cachefs bench [--profile lan|wan] [--lower sftp|nfs] [--meta | --write | --scale FILES] [--quick] [--repeat N] [--out DIR]
                            Runs fio data workloads (bench/fio) and metadata walks on: the lower alone, cachefs cold,
                            warm, warm after remount and offline, rclone --vfs-cache-mode full (cold, warm), bindfs
                            over a local copy and the local disk. lan: no shaping; wan: +10 ms round trip, 100 Mbit/s.
                            --meta: the metadata profile instead: a generated git repository walked, git status'ed and
                            read through the lower, cachefs over it (cold, warm, remount, offline), and cachefs over a
                            local copy beside bindfs and the disk.
                            --write: writes instead: a sequential write and 1000 small files made on the disk, the
                            lower, cachefs writing through, cachefs with -o writeback and rclone's full cache, and
                            the time until the lower holds what was written.
                            --scale FILES: a local lower of that many small files (1000000 for the issue's goals; takes
                            long) walked through cachefs cold, warm and after a remount beside bindfs and the disk,
                            with the daemon's memory per object, mount times and the index's growth.
                            --quick: smaller data set, one round. Writes report.md, charts (PNG) and raw fio JSON.""");
                    return;
                }
                default -> fail("unknown argument " + args[i] + " (see --help)");
            }
        }
        if (!profile.equals("lan") && !profile.equals("wan")) {
            fail("--profile is lan or wan");
        }
        if (!kind.equals("sftp") && !kind.equals("nfs")) {
            fail("--lower is sftp or nfs");
        }
        if (Libc.geteuid() != 0) {
            fail("the benchmark needs root (network namespaces, FUSE mounts, dropping the page cache)");
        }
        if (repeat <= 0) {
            repeat = quick ? 1 : 3;
        }
        if (out == null && !meta && !write && scale <= 0) {
            out = root.resolve("bench/out").resolve(LocalDate.now() + "-" + profile + "-" + kind
                    + (quick ? "-quick" : "") + "-" + System.currentTimeMillis() / 1000);
        }
        Path jar = Path.of(System.getProperty("cachefs.jar", "cachefs-core/target/cachefs-all.jar")).toAbsolutePath();
        if (scale > 0) {
            System.exit(new ScaleBench(out != null ? out : ScaleBench.defaultOut(root, scale), scale, jar)
                    .run(String.join(" ", args)));
        }
        if (write) {
            Path o = out != null && !out.toString().isEmpty() ? out : WriteBench.defaultOut(root, profile, kind, quick);
            System.exit(new WriteBench(root, o, profile, kind, quick, repeat, jar).run(String.join(" ", args)));
        }
        if (meta) {
            Path o = out != null && !out.toString().isEmpty() ? out : MetaBench.defaultOut(root, profile, kind, quick);
            System.exit(new MetaBench(o, profile, kind, quick, repeat, jar).run(String.join(" ", args)));
        }
        Bench b = new Bench(root, out, profile, kind, quick, repeat, jar);
        int rc = b.run(String.join(" ", args));
        System.exit(rc);
    }

    private static String need(String o, String v) {
        if (v == null) {
            fail(o + " needs a value");
        }
        return v;
    }

    private static void fail(String why) {
        System.err.println("cachefs bench: " + why);
        System.exit(2);
    }

    static void say(String s) {
        System.out.println(s);
        System.out.flush();
    }

    /** The benchmark's lower of {@code kind}, shaped for {@code profile} (wan: +10 ms RTT, 100 Mbit/s). */
    static Lower startLower(String kind, String profile) {
        Lower l = Lowers.start(kind);
        if (profile.equals("wan")) {
            l.latency(10);
            l.bandwidth(100_000);
        }
        return l;
    }

    int run(String argLine) throws Exception {
        Files.createDirectories(out.resolve("raw"));
        try {
            lower = startLower(kind, profile);
            say("bench: " + kind + " lower, profile " + profile + (profile.equals("wan") ? " (+10 ms RTT, 100 Mbit/s)" : " (no shaping)")
                    + ", " + bigMiB + " MiB file, " + dirs * filesPerDir + " small files, " + repeat + " round(s)");
            work = Harness.newDir("bench");
            hasRclone = dev.cachefs.harness.Sh.tryRun(Duration.ofSeconds(10), Map.of(), "rclone", "version").status() == 0;
            if (!hasRclone) {
                notes.add("rclone is not installed (Debian: rclone): its columns are empty");
            }
            writeDataSet(lower.serverDir());
            localCopy = work.resolve("local");
            sh("cp", "-a", lower.serverDir().toString(), localCopy.toString());
            for (int round = 1; round <= repeat; round++) {
                say("bench: round " + round + " of " + repeat);
                List<String> order = new ArrayList<>(SYSTEMS);
                java.util.Collections.rotate(order, round - 1);
                for (Workload w : WORKLOADS) {
                    for (String system : order) {
                        if (system.startsWith("rclone") && !hasRclone) {
                            continue;
                        }
                        if (w.name().equals("seqwrite") && (system.endsWith("-cold") || system.endsWith("-remount")
                                || system.equals("cachefs-offline"))) {
                            continue; // one figure per system for writes: the warm mount writes
                        }
                        double v = measure(system, w, round);
                        results.computeIfAbsent(w.name(), k -> new LinkedHashMap<>()).computeIfAbsent(system, k -> new ArrayList<>()).add(v);
                        say(String.format(Locale.ROOT, "  %-11s %-16s %10.1f %s", w.name(), system, v, w.unit()));
                    }
                }
            }
            String report = report(argLine);
            Files.writeString(out.resolve("report.md"), report);
            Charts.write(out, results, WORKLOADS, SYSTEMS);
            say("");
            say(report);
            say("bench: report, charts and raw fio JSON in " + out);
            return 0;
        } finally {
            for (Path m : mounted) {
                cli.run(Duration.ofSeconds(30), "umount", "--lazy", m.toString());
                Mounts.forceUnmount(m);
            }
            for (Process p : rclones) {
                p.destroy();
                p.waitFor(10, TimeUnit.SECONDS);
                p.destroyForcibly();
            }
            if (lower != null) {
                lower.close();
            }
            Harness.releaseOwn();
        }
    }

    private void writeDataSet(Path dir) throws IOException {
        Random r = new Random(1);
        Path data = Files.createDirectories(dir.resolve("data"));
        byte[] block = new byte[1 << 20];
        try (var o = Files.newOutputStream(data.resolve("big.bin"))) {
            for (long i = 0; i < bigMiB; i++) {
                r.nextBytes(block);
                o.write(block);
            }
        }
        treeFiles = new ArrayList<>();
        byte[] small = new byte[1024];
        for (int d = 0; d < dirs; d++) {
            Path sub = Files.createDirectories(dir.resolve("tree").resolve(String.format(Locale.ROOT, "d%03d", d)));
            for (int f = 0; f < filesPerDir; f++) {
                r.nextBytes(small);
                String name = String.format(Locale.ROOT, "f%03d.c", f);
                Files.write(sub.resolve(name), small);
                treeFiles.add("tree/" + sub.getFileName() + "/" + name);
            }
        }
        // Old enough that cachefs keeps listings (it does not trust one read in the second of a change).
        sh("sh", "-c", "find '" + dir + "' -exec touch -h -d '10 minutes ago' {} + && chown -R --reference='" + dir + "' '" + dir + "'");
    }

    static String sh(String... cmd) {
        return dev.cachefs.harness.Sh.run(cmd);
    }

    // ---- systems ------------------------------------------------------------------------

    private final List<Path> mounted = new ArrayList<>();
    private final CachefsMounts mounts;
    private final List<Process> rclones = new ArrayList<>();
    private Path warmMount;
    private Path warmCache;
    private Path rcloneWarm;

    /** Measures workload {@code w} on {@code system}; the figure in the workload's unit. */
    private double measure(String system, Workload w, int round) throws Exception {
        return switch (system) {
            case "lower" -> run(w, lower.root(), system, round);
            case "disk" -> run(w, localCopy, system, round);
            case "bindfs" -> {
                Path m = Files.createDirectories(work.resolve("bindfs"));
                if (!mounted.contains(m)) {
                    sh("bindfs", localCopy.toString(), m.toString());
                    mounted.add(m);
                }
                yield run(w, m, system, round);
            }
            case "cachefs-cold" -> {
                Path m = Files.createDirectories(work.resolve("cold-" + System.nanoTime()));
                Path cache = work.resolve("cache-" + m.getFileName());
                mount(m, cache);
                try {
                    yield run(w, m, system, round);
                } finally {
                    umount(m);
                    sh("rm", "-rf", cache.toString());
                }
            }
            case "cachefs-warm" -> {
                Path m = warm();
                fill(w, m);
                yield run(w, m, system, round);
            }
            case "cachefs-remount" -> {
                Path m = warm();
                fill(w, m);
                umount(m);
                mount(m, warmCache);
                yield run(w, m, system, round);
            }
            case "cachefs-offline" -> {
                Path m = warm();
                fill(w, m);
                check(cli.run(Duration.ofSeconds(30), "offline", m.toString()), "offline");
                try {
                    yield run(w, m, system, round);
                } finally {
                    check(cli.run(Duration.ofSeconds(120), "online", m.toString()), "online");
                }
            }
            case "rclone-cold" -> {
                Path m = rclone("cold-" + (++rcloneSeq));
                try {
                    yield run(w, m, system, round);
                } finally {
                    unrclone(m);
                }
            }
            case "rclone-warm" -> {
                if (rcloneWarm == null) {
                    rcloneWarm = rclone("warm");
                }
                fill(w, rcloneWarm);
                yield run(w, rcloneWarm, system, round);
            }
            default -> throw new IllegalArgumentException(system);
        };
    }

    private Path warm() throws Exception {
        if (warmMount == null) {
            warmMount = Files.createDirectories(work.resolve("warm"));
            warmCache = work.resolve("cache-warm");
            mount(warmMount, warmCache);
        }
        return warmMount;
    }

    /** Reads what the workload will read once, so a warm run finds it cached. */
    private void fill(Workload w, Path m) throws IOException {
        if (w.kind() == Kind.DATA) {
            try (var in = Files.newInputStream(m.resolve("data/big.bin"))) {
                in.transferTo(java.io.OutputStream.nullOutputStream());
            }
        } else {
            statWalk(m);
            for (String f : treeFiles) {
                Files.readAllBytes(m.resolve(f));
            }
        }
    }

    private void mount(Path m, Path cache) throws Exception {
        mounts.mount(lower.root(), m, cache);
    }

    private void umount(Path m) throws Exception {
        mounts.umount(m);
    }

    private static void check(CachefsCli.Result c, String what) {
        CachefsMounts.check(c, what);
    }

    private Path rclone(String name) throws Exception {
        return Rclone.mount(lower, work, name, "data/big.bin", rclones);
    }

    private void unrclone(Path m) throws Exception {
        dev.cachefs.harness.Sh.tryRun(Duration.ofSeconds(20), Map.of(), "fusermount3", "-u", m.toString());
        for (Process p : new ArrayList<>(rclones)) {
            if (p.info().arguments().map(a -> Arrays.asList(a).contains(m.toString())).orElse(false)) {
                p.waitFor(10, TimeUnit.SECONDS);
                p.destroyForcibly();
                rclones.remove(p);
            }
        }
    }

    // ---- workloads ----------------------------------------------------------------------

    private double run(Workload w, Path dir, String system, int round) throws Exception {
        if (w.kind() == Kind.DATA) {
            return fio(w, dir, system, round);
        }
        CachefsCli.dropPageCache();
        long t = System.nanoTime();
        switch (w.name()) {
            case "stat-walk" -> statWalk(dir);
            case "git-status" -> {
                for (String f : treeFiles) {
                    Files.readAttributes(dir.resolve(f), BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
                }
            }
            case "small-reads" -> {
                for (String f : treeFiles) {
                    Files.readAllBytes(dir.resolve(f));
                }
            }
            default -> throw new IllegalArgumentException(w.name());
        }
        return (System.nanoTime() - t) / 1e6;
    }

    private static long statWalk(Path dir) throws IOException {
        long[] n = {0};
        Files.walkFileTree(dir.resolve("tree"), new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) {
                n[0] += attrs.size();
                return FileVisitResult.CONTINUE;
            }
        });
        return n[0];
    }

    private static final Pattern BW = Pattern.compile("\"bw_bytes\"\\s*:\\s*(\\d+)");
    private static final Pattern IOPS = Pattern.compile("\"iops\"\\s*:\\s*([0-9.]+)");

    private double fio(Workload w, Path dir, String system, int round) throws Exception {
        boolean write = w.name().equals("seqwrite");
        Path file = dir.resolve(write ? "data/written.bin" : "data/big.bin");
        if (write) {
            Files.deleteIfExists(file);
        }
        CachefsCli.dropPageCache();
        Path json = out.resolve("raw").resolve(w.name() + "-" + system + "-" + round + ".json");
        long size = write ? Math.min(bigMiB, 256) : bigMiB;
        var r = dev.cachefs.harness.Sh.tryRun(Duration.ofMinutes(20), Map.of(), "fio", "--output-format=json",
                "--output=" + json, "--filename=" + file, "--size=" + size + "M",
                root.resolve("bench/fio").resolve(w.name() + ".fio").toString());
        if (write) {
            Files.deleteIfExists(file);
        }
        if (r.status() != 0) {
            notes.add(w.name() + " on " + system + " failed: " + r.output().strip());
            return Double.NaN;
        }
        String j = Files.readString(json, StandardCharsets.UTF_8);
        Matcher sm = Pattern.compile("\"" + (write ? "write" : "read") + "\"\\s*:\\s*\\{").matcher(j); // not "rw" : "write"
        int side = sm.find() ? sm.end() : -1;
        Matcher m = (w.unit().equals("IOPS") ? IOPS : BW).matcher(j);
        if (side < 0 || !m.find(side)) {
            notes.add(w.name() + " on " + system + ": no figure in " + json);
            return Double.NaN;
        }
        double v = Double.parseDouble(m.group(1));
        return w.unit().equals("IOPS") ? v : v / 1e6;
    }

    // ---- report -------------------------------------------------------------------------

    static double median(List<Double> v) {
        double[] a = v.stream().filter(d -> !d.isNaN()).mapToDouble(Double::doubleValue).sorted().toArray();
        if (a.length == 0) {
            return Double.NaN;
        }
        return a.length % 2 == 1 ? a[a.length / 2] : (a[a.length / 2 - 1] + a[a.length / 2]) / 2;
    }

    double fig(String workload, String system) {
        Map<String, List<Double>> m = results.get(workload);
        return m == null || !m.containsKey(system) ? Double.NaN : median(m.get(system));
    }

    /** How many times better {@code a} is than {@code b} (inverted for times). */
    String ratio(Workload w, String a, String b) {
        double x = fig(w.name(), a);
        double y = fig(w.name(), b);
        if (Double.isNaN(x) || Double.isNaN(y) || x == 0 || y == 0) {
            return "-";
        }
        return String.format(Locale.ROOT, "%.2fx", w.higherIsBetter() ? x / y : y / x);
    }

    String report(String argLine) {
        StringBuilder b = new StringBuilder();
        b.append("# cachefs benchmark: ").append(kind).append(" lower, ").append(profile).append(" profile")
                .append(profile.equals("wan") ? " (+10 ms RTT, 100 Mbit/s)" : " (no shaping)").append("\n\n");
        b.append("Run ").append(LocalDate.now()).append(" with `./cachefs bench ").append(argLine).append("`; ")
                .append(bigMiB).append(" MiB file, ").append(dirs * filesPerDir).append(" small files of 1 KiB in ")
                .append(dirs).append(" directories; medians of ").append(repeat)
                .append(" round(s), systems interleaved; page cache dropped before every measurement.\n\n");
        b.append("| workload |");
        for (String s : SYSTEMS) {
            b.append(' ').append(s).append(" |");
        }
        b.append("\n|---|");
        b.append("---|".repeat(SYSTEMS.size())).append('\n');
        for (Workload w : WORKLOADS) {
            b.append("| ").append(w.name()).append(" (").append(w.unit()).append(") |");
            for (String s : SYSTEMS) {
                double v = fig(w.name(), s);
                b.append(' ').append(Double.isNaN(v) ? "-" : String.format(Locale.ROOT, v >= 100 ? "%.0f" : "%.1f", v)).append(" |");
            }
            b.append('\n');
        }
        b.append("\nRatios (how many times better; times are inverted):\n\n");
        String[][] pairs = {
            {"cachefs-warm", "lower"}, {"cachefs-warm", "bindfs"}, {"cachefs-warm", "disk"}, {"cachefs-cold", "lower"},
            {"cachefs-remount", "lower"}, {"cachefs-offline", "lower"}, {"cachefs-cold", "rclone-cold"},
            {"cachefs-warm", "rclone-warm"}};
        b.append("| workload |");
        for (String[] p : pairs) {
            b.append(' ').append(p[0].replace("cachefs-", "")).append(" / ").append(p[1]).append(" |");
        }
        b.append("\n|---|").append("---|".repeat(pairs.length)).append('\n');
        for (Workload w : WORKLOADS) {
            b.append("| ").append(w.name()).append(" |");
            for (String[] p : pairs) {
                String a = w.name().equals("seqwrite") && !p[0].equals("cachefs-warm") ? "-" : ratio(w, p[0], p[1]);
                if (w.name().equals("seqwrite") && p[1].equals("rclone-cold")) {
                    a = "-";
                }
                b.append(' ').append(a).append(" |");
            }
            b.append('\n');
        }
        b.append("\nseqwrite is measured once per system (the warm cachefs mount, the warm rclone mount), with fsync at the end;"
                + " cachefs writes through to the lower, rclone's full VFS cache uploads after close.\n");
        if (!notes.isEmpty()) {
            b.append("\nNotes:\n\n");
            for (String n : notes) {
                b.append("- ").append(n).append('\n');
            }
        }
        return b.toString();
    }
}
