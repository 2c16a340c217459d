package dev.cachefs.bench;

import dev.cachefs.harness.CachefsCli;
import dev.cachefs.harness.Harness;
import dev.cachefs.harness.Lower;
import dev.cachefs.harness.Mounts;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
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
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code ./cachefs bench --write}: writes, in one run. A sequential write (fio, fsync at the end)
 * and the creation of many small files, on the local disk, the network lower alone, cachefs
 * writing through, cachefs with write-back ({@code -o writeback}) and rclone's full VFS cache;
 * for write-back and rclone also the time until the lower holds everything written (cachefs:
 * the write, then {@code cachefs sync}; rclone: the write, then until the server has the file),
 * against the lower's own write time; and editor-style saves (a new file written, then renamed over
 * a file the lower has). Medians of the rounds; ratios and the goals of issue 24 in the report.
 */
final class WriteBench {
    static final List<String> WORKLOADS = List.of("seqwrite", "create-small", "lower-has-it", "small-on-lower", "saves",
            "saves-on-lower");
    /** Files an editor-style save rewrites (a new file renamed over each). */
    private static final int SAVES = 200;
    /** How long the small files of a write-back system may take to reach the lower before the run goes on. */
    private static final Duration SMALL_UPLOAD_CAP = Duration.ofMinutes(5);
    static final List<String> SYSTEMS = List.of("disk", "lower", "cachefs-through", "cachefs-writeback", "rclone");

    private final Path root;
    private final Path out;
    private final String profile;
    private final String kind;
    private final int repeat;
    private final int writeMiB;
    private final int smallFiles;
    private final CachefsCli cli;
    private final Map<String, Map<String, List<Double>>> results = new LinkedHashMap<>();
    private final List<Path> mounted = new ArrayList<>();
    private final CachefsMounts mounts;
    private final Map<String, Path> mountOf = new LinkedHashMap<>();
    private final List<String> notes = new ArrayList<>();
    private final List<Process> rclones = new ArrayList<>();
    private Lower lower;
    private Path work;
    private boolean hasRclone;
    private int seq;

    WriteBench(Path root, Path out, String profile, String kind, boolean quick, int repeat, Path jar) {
        this.root = root;
        this.out = out;
        this.profile = profile;
        this.kind = kind;
        this.repeat = repeat;
        boolean wan = profile.equals("wan");
        this.writeMiB = quick ? (wan ? 64 : 256) : (wan ? 128 : 512);
        this.smallFiles = 1000;
        this.cli = new CachefsCli(jar);
        this.mounts = new CachefsMounts(cli, mounted);
    }

    static Path defaultOut(Path root, String profile, String kind, boolean quick) {
        return root.resolve("bench/out").resolve(LocalDate.now() + "-write-" + profile + "-" + kind
                + (quick ? "-quick" : "") + "-" + System.currentTimeMillis() / 1000);
    }

    private static void say(String s) {
        Bench.say(s);
    }

    int run(String argLine) throws Exception {
        Files.createDirectories(out.resolve("raw"));
        try {
            lower = Bench.startLower(kind, profile);
            work = Harness.newDir("writebench");
            hasRclone = dev.cachefs.harness.Sh.tryRun(Duration.ofSeconds(10), Map.of(), "rclone", "version").status() == 0;
            if (!hasRclone) {
                notes.add("rclone is not installed (Debian: rclone): its column is empty");
            }
            Files.createDirectories(lower.serverDir().resolve("w"));
            Files.writeString(lower.serverDir().resolve("w/.ready"), "");
            Files.createDirectories(work.resolve("disk/w"));
            say("bench --write: " + kind + " lower, profile " + profile + ", " + writeMiB + " MiB written, " + smallFiles
                    + " small files made, " + repeat + " round(s)");
            for (int round = 1; round <= repeat; round++) {
                say("bench --write: round " + round + " of " + repeat);
                List<String> order = new ArrayList<>(SYSTEMS);
                Collections.rotate(order, round - 1);
                for (String system : order) {
                    if (system.equals("rclone") && !hasRclone) {
                        continue;
                    }
                    Path dir = where(system);
                    record("seqwrite", system, seqwrite(dir, system, round));
                    record("create-small", system, createSmall(dir, system));
                    record("saves", system, saves(dir, system));
                }
            }
            String report = report(argLine);
            Files.writeString(out.resolve("report.md"), report);
            say("");
            say(report);
            say("bench --write: report in " + out);
            return 0;
        } finally {
            for (Path m : new ArrayList<>(mounted)) {
                cli.run(Duration.ofSeconds(90), "umount", m.toString());
                Mounts.forceUnmount(m);
            }
            for (Process p : rclones) {
                dev.cachefs.harness.Sh.tryRun(Duration.ofSeconds(20), Map.of(), "fusermount3", "-u",
                        work.resolve("rclone-w").toString());
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

    private void record(String w, String system, double v) {
        if (Double.isNaN(v)) {
            return;
        }
        results.computeIfAbsent(w, k -> new LinkedHashMap<>()).computeIfAbsent(system, k -> new ArrayList<>()).add(v);
        say(String.format(Locale.ROOT, "  %-13s %-18s %10.1f %s", w, system, v, unit(w)));
    }

    private static String unit(String w) {
        return switch (w) {
            case "seqwrite" -> "MB/s";
            case "create-small", "saves" -> "ms";
            default -> "s";
        };
    }

    /** The directory system {@code s} writes into (mounted the first time). */
    private Path where(String s) throws Exception {
        Path m = mountOf.get(s);
        if (m != null) {
            return m;
        }
        switch (s) {
            case "disk" -> m = work.resolve("disk");
            case "lower" -> m = lower.root();
            case "cachefs-through" -> {
                m = Files.createDirectories(work.resolve("through"));
                mounts.mount(lower.root(), m, work.resolve("cache-through"));
            }
            case "cachefs-writeback" -> {
                m = Files.createDirectories(work.resolve("writeback"));
                mounts.mount(lower.root(), m, work.resolve("cache-writeback"), "-o", "writeback");
            }
            case "rclone" -> m = rclone();
            default -> throw new IllegalArgumentException(s);
        }
        mountOf.put(s, m);
        return m;
    }

    /** Where the server keeps what {@code system} wrote at {@code rel} (null: nowhere to wait for). */
    private Path onServer(String system, String rel) {
        return system.equals("cachefs-writeback") || system.equals("rclone") ? lower.serverDir().resolve(rel) : null;
    }

    private static final Pattern BW = Pattern.compile("\"bw_bytes\"\\s*:\\s*(\\d+)");

    /** fio's sequential write (fsync at the end); for the write-back systems also the time until the lower has it. */
    private double seqwrite(Path dir, String system, int round) throws Exception {
        String rel = "w/written-" + (++seq) + ".bin";
        Path file = dir.resolve(rel);
        CachefsCli.dropPageCache();
        Path json = out.resolve("raw").resolve("seqwrite-" + system + "-" + round + ".json");
        long t0 = System.nanoTime();
        var r = dev.cachefs.harness.Sh.tryRun(Duration.ofMinutes(20), Map.of(), "fio", "--output-format=json",
                "--output=" + json, "--filename=" + file, "--size=" + writeMiB + "M",
                root.resolve("bench/fio/seqwrite.fio").toString());
        if (r.status() != 0) {
            notes.add("seqwrite on " + system + " failed: " + r.output().strip());
            return Double.NaN;
        }
        Path server = onServer(system, rel);
        if (server != null) {
            record("lower-has-it", system, (untilOnServer(dir, system, server, (long) writeMiB << 20) - t0) / 1e9);
        } else if (system.equals("lower") || system.equals("cachefs-through")) {
            record("lower-has-it", system, (System.nanoTime() - t0) / 1e9); // written through, fsync'ed
        }
        Files.deleteIfExists(file);
        String j = Files.readString(json, StandardCharsets.UTF_8);
        Matcher sm = Pattern.compile("\"write\"\\s*:\\s*\\{").matcher(j);
        Matcher m = BW.matcher(j);
        if (!sm.find() || !m.find(sm.end())) {
            notes.add("seqwrite on " + system + ": no figure in " + json);
            return Double.NaN;
        }
        return Double.parseDouble(m.group(1)) / 1e6;
    }

    /** When the server holds all {@code size} bytes of what {@code system} wrote (nanoTime). */
    private long untilOnServer(Path dir, String system, Path server, long size) throws Exception {
        if (system.equals("cachefs-writeback")) {
            mounts.run("sync", Duration.ofMinutes(30), dir);
        }
        long end = System.nanoTime() + TimeUnit.MINUTES.toNanos(30);
        while (!(Files.exists(server) && Files.size(server) == size && !uploading(server))) {
            if (System.nanoTime() > end) {
                throw new IllegalStateException(system + " did not upload " + server + " within 30 minutes");
            }
            Thread.sleep(20);
        }
        return System.nanoTime();
    }

    /** rclone uploads under the final name on some backends: a size still growing means not done. */
    private static boolean uploading(Path server) throws IOException, InterruptedException {
        long a = Files.size(server);
        Thread.sleep(5);
        return Files.size(server) != a;
    }

    /** Makes the small files of 1 KiB in a new directory; ms until the last is closed. */
    private double createSmall(Path dir, String system) throws Exception {
        Path d = dir.resolve("w/small-" + (++seq));
        byte[] b = new byte[1024];
        new Random(seq).nextBytes(b);
        long t0 = System.nanoTime();
        Files.createDirectories(d);
        for (int i = 0; i < smallFiles; i++) {
            Files.write(d.resolve(String.format(Locale.ROOT, "f%04d.txt", i)), b);
        }
        double ms = (System.nanoTime() - t0) / 1e6;
        Path server = onServer(system, "w/small-" + seq);
        if (server != null) {
            // Every measurement starts with nothing queued: what a write-back system still uploads
            // would otherwise slow the next one down. How long the small files took to get there is
            // a figure of its own (from the last close).
            record("small-on-lower", system, untilSmallOnServer(dir, system, server));
        }
        return ms;
    }

    /** Seconds until the server holds all the small files of {@code system} (NaN past the cap: noted). */
    private double untilSmallOnServer(Path dir, String system, Path server) throws Exception {
        return untilOnServer(dir, system, server, smallFiles, 1024);
    }

    /**
     * Seconds until the server holds {@code count} files {@code f*} of {@code size} bytes in
     * {@code server} (NaN past the cap: noted).
     */
    private double untilOnServer(Path dir, String system, Path server, int count, long size) throws Exception {
        long t0 = System.nanoTime();
        if (system.equals("cachefs-writeback")) {
            mounts.run("sync", SMALL_UPLOAD_CAP, dir);
        }
        long end = t0 + SMALL_UPLOAD_CAP.toNanos();
        while (true) {
            long there = 0;
            if (Files.isDirectory(server)) {
                try (var files = Files.list(server)) {
                    there = files.filter(f -> f.getFileName().toString().startsWith("f")).filter(f -> {
                        try {
                            return Files.size(f) == size;
                        } catch (IOException e) {
                            return false;
                        }
                    }).count();
                }
            }
            if (there == count) {
                return (System.nanoTime() - t0) / 1e9;
            }
            if (System.nanoTime() > end) {
                notes.add(system + " had uploaded " + there + " of the " + count + " files of " + server.getFileName() + " after "
                        + SMALL_UPLOAD_CAP.toSeconds() + " s; the run went on with the rest still queued");
                return Double.NaN;
            }
            Thread.sleep(100);
        }
    }

    /**
     * An editor's save, {@value #SAVES} times: a new file of 2 KiB written beside one of 1 KiB the
     * lower has, then renamed over it; ms until the last rename returns.
     */
    private double saves(Path dir, String system) throws Exception {
        String rel = "w/saves-" + (++seq);
        byte[] old = new byte[1024];
        byte[] now = new byte[2048];
        new Random(seq).nextBytes(old);
        new Random(-seq).nextBytes(now);
        // The files are on the lower (made on the server) before: the saves replace what it has.
        Path made = system.equals("disk") ? dir.resolve(rel) : lower.serverDir().resolve(rel);
        Files.createDirectories(made);
        for (int i = 0; i < SAVES; i++) {
            Files.write(made.resolve(String.format(Locale.ROOT, "f%04d.txt", i)), old);
        }
        Path d = dir.resolve(rel);
        long t0 = System.nanoTime();
        for (int i = 0; i < SAVES; i++) {
            String name = String.format(Locale.ROOT, "f%04d.txt", i);
            Path swap = d.resolve("." + name + ".swp");
            Files.write(swap, now);
            Files.move(swap, d.resolve(name), java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                    java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        }
        double ms = (System.nanoTime() - t0) / 1e6;
        Path server = onServer(system, rel);
        if (server != null) {
            record("saves-on-lower", system, untilOnServer(dir, system, server, SAVES, 2048));
        }
        return ms;
    }

    private Path rclone() throws Exception {
        return Rclone.mount(lower, work, "w", "w/.ready", rclones);
    }

    // ---- report -------------------------------------------------------------------------

    private double fig(String w, String s) {
        Map<String, List<Double>> m = results.get(w);
        return m == null || !m.containsKey(s) ? Double.NaN : Bench.median(m.get(s));
    }

    /** How many times better {@code a} is than {@code b} on {@code w} (times inverted). */
    private String ratio(String w, String a, String b) {
        double x = fig(w, a);
        double y = fig(w, b);
        if (Double.isNaN(x) || Double.isNaN(y) || x == 0 || y == 0) {
            return "-";
        }
        return String.format(Locale.ROOT, "%.2fx", w.equals("seqwrite") ? x / y : y / x);
    }

    /** The lower's own creation time of the small files over {@code system}'s creation plus upload. */
    private String sumRatio(String system) {
        double made = fig("create-small", system) / 1000;
        double up = fig("small-on-lower", system);
        double lower = fig("create-small", "lower") / 1000;
        if (Double.isNaN(made) || Double.isNaN(up) || Double.isNaN(lower) || made + up == 0) {
            return "-";
        }
        return String.format(Locale.ROOT, "%.2fx", lower / (made + up));
    }

    String report(String argLine) {
        StringBuilder b = new StringBuilder();
        b.append("# cachefs write benchmark: ").append(kind).append(" lower, ").append(profile).append(" profile")
                .append(profile.equals("wan") ? " (+10 ms RTT, 100 Mbit/s)" : " (no shaping)").append("\n\n");
        b.append("Run ").append(LocalDate.now()).append(" with `./cachefs bench ").append(argLine).append("`; ")
                .append(writeMiB).append(" MiB written sequentially (fio, 1 MiB blocks, fsync at the end), ")
                .append(smallFiles).append(" files of 1 KiB made in a new directory; medians of ").append(repeat)
                .append(" round(s), systems interleaved.\n\n");
        b.append("| workload |");
        for (String s : SYSTEMS) {
            b.append(' ').append(s).append(" |");
        }
        b.append("\n|---|").append("---|".repeat(SYSTEMS.size())).append('\n');
        for (String w : WORKLOADS) {
            b.append("| ").append(w).append(" (").append(unit(w)).append(") |");
            for (String s : SYSTEMS) {
                double v = fig(w, s);
                b.append(' ').append(Double.isNaN(v) ? "-" : String.format(Locale.ROOT, v >= 100 ? "%.0f" : "%.2f", v)).append(" |");
            }
            b.append('\n');
        }
        b.append("\nlower-has-it: seconds from the start of the sequential write until the lower holds all of it (the lower"
                + " itself: its write time; cachefs-writeback: the write, then `cachefs sync`; rclone: the write, then until"
                + " the server has the whole file). small-on-lower: seconds from the last close of the small files until the"
                + " lower holds them all (the lower and cachefs writing through hold each file at its close); the next"
                + " measurement starts after that, with nothing queued. saves: " + SAVES + " editor-style saves (a new"
                + " file of 2 KiB, renamed over one of 1 KiB the lower has); saves-on-lower: seconds from the last"
                + " rename until the lower holds every new version.\n\n");
        b.append("| goal (issue 24) | figure |\n|---|---|\n");
        b.append("| seqwrite, write-back / disk (>= 0.9x) | ").append(ratio("seqwrite", "cachefs-writeback", "disk")).append(" |\n");
        b.append("| seqwrite, write-back / rclone (>= 1x) | ").append(ratio("seqwrite", "cachefs-writeback", "rclone")).append(" |\n");
        b.append("| seqwrite, write-back / write-through | ").append(ratio("seqwrite", "cachefs-writeback", "cachefs-through")).append(" |\n");
        b.append("| create-small, write-back / lower (>= 20x) | ").append(ratio("create-small", "cachefs-writeback", "lower")).append(" |\n");
        b.append("| create-small, write-back / write-through | ").append(ratio("create-small", "cachefs-writeback", "cachefs-through")).append(" |\n");
        b.append("| lower has it, write-back against the lower's own write (about 1x) | ")
                .append(ratio("lower-has-it", "cachefs-writeback", "lower")).append(" |\n");
        b.append("| lower has it, rclone against the lower's own write | ").append(ratio("lower-has-it", "rclone", "lower")).append(" |\n");
        b.append("| saves, write-back / lower | ").append(ratio("saves", "cachefs-writeback", "lower")).append(" |\n");
        b.append("| saves, write-back / write-through | ").append(ratio("saves", "cachefs-writeback", "cachefs-through")).append(" |\n");
        b.append("| small files on the lower, write-back (create + upload) against the lower's own creates | ")
                .append(sumRatio("cachefs-writeback")).append(" |\n");
        b.append("| small files on the lower, rclone (create + upload) against the lower's own creates | ")
                .append(sumRatio("rclone")).append(" |\n");
        if (!notes.isEmpty()) {
            b.append("\nNotes:\n\n");
            for (String n : notes) {
                b.append("- ").append(n).append('\n');
            }
        }
        return b.toString();
    }
}
