package dev.cachefs.harness;

import dev.cachefs.nativeio.Libc;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The README's first command: a real network filesystem on loopback (an SFTP server in a network
 * namespace, mounted with sshfs, behind added latency), cachefs mounted over it through the real
 * CLI, a data set read cold and warm beside the lower alone, the link cut and the cached working
 * set read offline (and a file never read failing with ENOTCONN), the link restored, everything
 * torn down. Run by {@code ./cachefs demo}.
 */
public final class Demo {
    private static final int MIB = 1 << 20;

    private final long bigMiB;
    private final int smallFiles;
    private final long latencyMs;
    private final String kind;
    private final CachefsCli cli;
    private final List<String[]> rows = new ArrayList<>();
    private int step;
    private static final int STEPS = 7;

    private Demo(String kind, long bigMiB, int smallFiles, long latencyMs, Path jar) {
        this.kind = kind;
        this.bigMiB = bigMiB;
        this.smallFiles = smallFiles;
        this.latencyMs = latencyMs;
        this.cli = new CachefsCli(jar);
    }

    public static void main(String[] args) throws Exception {
        String kind = "sftp";
        long size = 128;
        int small = 200;
        long latency = 10;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            String v = i + 1 < args.length ? args[i + 1] : null;
            switch (a) {
                case "--lower" -> { kind = need(a, v); i++; }
                case "--size-mib" -> { size = Long.parseLong(need(a, v)); i++; }
                case "--small-files" -> { small = Integer.parseInt(need(a, v)); i++; }
                case "--latency-ms" -> { latency = Long.parseLong(need(a, v)); i++; }
                case "-h", "--help" -> {
                    System.out.println("""
                            Usage: ./cachefs demo [--lower sftp|nfs|smb] [--size-mib N] [--small-files N] [--latency-ms N]
                            Brings up a network filesystem on loopback (default SFTP, +10 ms round trip), mounts
                            cachefs over it, reads a data set cold and warm beside the lower alone, cuts the link,
                            reads the cached data offline, restores the link and tears everything down.""");
                    return;
                }
                default -> fail("unknown argument " + a + " (see --help)");
            }
        }
        if (Libc.geteuid() != 0) {
            fail("the demo needs root: it makes a network namespace and FUSE mounts");
        }
        if (size < 1 || small < 1 || latency < 0) {
            fail("sizes must be positive and the latency not negative");
        }
        Path jar = Path.of(System.getProperty("cachefs.jar", "cachefs-core/target/cachefs-all.jar")).toAbsolutePath();
        if (!Files.isRegularFile(jar)) {
            fail("no CLI jar at " + jar + " (run ./cachefs demo, which builds it)");
        }
        int rc = new Demo(kind, size, small, latency, jar).run();
        System.exit(rc);
    }

    private static String need(String option, String value) {
        if (value == null) {
            fail(option + " needs a value");
        }
        return value;
    }

    private static void fail(String why) {
        System.err.println("cachefs demo: " + why);
        System.exit(2);
    }

    private void progress(String what) {
        System.out.printf("[%d/%d] %s%n", ++step, STEPS, what);
        System.out.flush();
    }

    private static void detail(String what) {
        System.out.println("      " + what);
        System.out.flush();
    }

    /** With the link cut: what a never-read file does, what status says, and reads from the cache. */
    private String offlinePart(Path mnt, Result lowerBig, Result lowerSmall) throws Exception {
        long t0 = System.nanoTime();
        String uncached;
        try {
            Files.readAllBytes(mnt.resolve("never-read.bin"));
            uncached = "read it (unexpected: it was never cached)";
        } catch (IOException e) {
            uncached = "fails as documented: " + reason(e);
        }
        detail(String.format(Locale.ROOT, "never-read.bin %s (after %.1f s: the lower's client gave up or the"
                + " call's deadline ran out)", uncached, (System.nanoTime() - t0) / 1e9));
        CachefsCli.Result status = cli.run(Duration.ofSeconds(30), "status", mnt.toString());
        status.out().lines().filter(l -> l.startsWith("mode") || l.contains("reachable"))
                .forEach(l -> detail("status: " + l.strip().replaceAll("\\s{2,}", ": ")));
        Result offBig = readBig(mnt);
        Result offSmall = readSmall(mnt);
        row("cachefs offline", offBig, offSmall, lowerBig, lowerSmall);
        return uncached;
    }

    /** Waits (at most 60 s) for cachefs to say it is online again; whether it did. */
    private boolean awaitOnline(Path mnt) throws Exception {
        long t1 = System.nanoTime();
        boolean online = false;
        while (System.nanoTime() - t1 < TimeUnit.SECONDS.toNanos(60)) {
            CachefsCli.Result st = cli.run(Duration.ofSeconds(30), "status", mnt.toString());
            if (st.out().lines().anyMatch(l -> l.matches("mode\\s*:?\\s*online.*"))) {
                online = true;
                break;
            }
            Thread.sleep(500);
        }
        detail(online ? String.format(Locale.ROOT, "online again after %.1f s", (System.nanoTime() - t1) / 1e9)
                : "still offline after 60 s (see cachefs status)");
        return online;
    }

    private int run() throws Exception {
        Lower lower = null;
        Path mnt = null;
        boolean mounted = false;
        long started = System.nanoTime();
        try {
            progress("starting a " + kind.toUpperCase(Locale.ROOT) + " server in a network namespace and mounting it"
                    + (latencyMs > 0 ? " (+" + latencyMs + " ms round trip)" : ""));
            lower = Lowers.start(kind);
            if (!lower.isNetwork()) {
                fail("'" + kind + "' is not a network lower; use sftp, nfs or smb");
            }
            lower.latency(latencyMs);
            detail("server directory " + lower.serverDir() + ", client mount " + lower.root());

            progress("writing the data set on the server: one " + bigMiB + " MiB file, " + smallFiles
                    + " files of 16 KiB, one file the demo never reads");
            writeDataSet(lower.serverDir());

            progress("mounting cachefs over the network mount");
            Path work = Harness.newDir("demo");
            mnt = Files.createDirectory(work.resolve("mnt"));
            Path cache = work.resolve("cache");
            CachefsCli.Result mount = cli.run(Duration.ofSeconds(60), "mount", lower.root().toString(), mnt.toString(), "--cache", cache.toString());
            if (mount.code() != 0) {
                throw new IllegalStateException("cachefs mount failed: " + mount.err().strip());
            }
            mounted = true;
            detail(mount.out().strip().replace("cachefs: ", ""));
            try (Stream<Path> s = Files.list(mnt)) {
                detail("cachefs shows " + s.count() + " entries at the top; the cache is in " + cache);
            }

            progress("reading through the lower alone, then cachefs cold (empty cache), then warm (page cache dropped)");
            Result lowerBig = readBig(lower.root());
            Result lowerSmall = readSmall(lower.root());
            row("lower alone (" + kind + ")", lowerBig, lowerSmall, lowerBig, lowerSmall);
            Result coldBig = readBig(mnt);
            Result coldSmall = readSmall(mnt);
            row("cachefs cold", coldBig, coldSmall, lowerBig, lowerSmall);
            Result warmBig = readBig(mnt);
            Result warmSmall = readSmall(mnt);
            row("cachefs warm", warmBig, warmSmall, lowerBig, lowerSmall);

            progress("cutting the network link (packets to the server are dropped)");
            lower.cutLink();
            String uncached = offlinePart(mnt, lowerBig, lowerSmall);

            progress("restoring the link; cachefs notices and goes back online");
            lower.restoreLink();
            boolean online = awaitOnline(mnt);

            progress("unmounting and tearing down");
            CachefsCli.Result um = cli.run(Duration.ofSeconds(60), "umount", mnt.toString());
            mounted = um.code() != 0;
            if (mounted) {
                detail("umount failed: " + um.err().strip());
            }
            printSummary(uncached, (System.nanoTime() - started) / 1e9);
            return online && !mounted && uncached.startsWith("fails") ? 0 : 1;
        } finally {
            if (mounted && mnt != null) {
                cli.run(Duration.ofSeconds(30), "umount", "--lazy", mnt.toString());
                Mounts.forceUnmount(mnt);
            }
            if (lower != null) {
                lower.close();
            }
            Harness.releaseOwn();
        }
    }

    private void writeDataSet(Path dir) throws IOException {
        Random r = new Random(42);
        byte[] block = new byte[MIB];
        try (FileChannel out = FileChannel.open(dir.resolve("big.bin"), StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            for (long i = 0; i < bigMiB; i++) {
                r.nextBytes(block);
                out.write(ByteBuffer.wrap(block));
            }
        }
        Path small = Files.createDirectory(dir.resolve("small"));
        byte[] sixteen = new byte[16 << 10];
        for (int i = 0; i < smallFiles; i++) {
            r.nextBytes(sixteen);
            Files.write(small.resolve(String.format(Locale.ROOT, "file-%05d.dat", i)), sixteen);
        }
        r.nextBytes(block);
        Files.write(dir.resolve("never-read.bin"), block);
        Sh.run("chown", "-R", "--reference=" + dir, dir.toString());
    }

    /** Time and bytes of one measurement. */
    private record Result(long bytes, long nanos, int files) {
        double mbPerSecond() {
            return bytes / 1e6 / (nanos / 1e9);
        }

        double msPerFile() {
            return nanos / 1e6 / files;
        }
    }

    private Result readBig(Path root) throws IOException {
        CachefsCli.dropPageCache();
        ByteBuffer buf = ByteBuffer.allocateDirect(MIB);
        long n = 0;
        long t = System.nanoTime();
        try (FileChannel in = FileChannel.open(root.resolve("big.bin"), StandardOpenOption.READ)) {
            while (true) {
                buf.clear();
                int got = in.read(buf);
                if (got < 0) {
                    break;
                }
                n += got;
            }
        }
        return new Result(n, System.nanoTime() - t, 1);
    }

    private Result readSmall(Path root) throws IOException {
        CachefsCli.dropPageCache();
        long n = 0;
        long t = System.nanoTime();
        for (int i = 0; i < smallFiles; i++) {
            n += Files.readAllBytes(root.resolve("small").resolve(String.format(Locale.ROOT, "file-%05d.dat", i))).length;
        }
        return new Result(n, System.nanoTime() - t, smallFiles);
    }

    private void row(String system, Result big, Result small, Result baseBig, Result baseSmall) {
        rows.add(new String[] {
            system,
            String.format(Locale.ROOT, "%.0f MB/s", big.mbPerSecond()),
            String.format(Locale.ROOT, "%.2fx", big.mbPerSecond() / baseBig.mbPerSecond()),
            String.format(Locale.ROOT, "%.2f ms", small.msPerFile()),
            String.format(Locale.ROOT, "%.1fx", baseSmall.msPerFile() / small.msPerFile()),
        });
        detail(String.format(Locale.ROOT, "%-22s big file %8s   small files %9s per file", system, rows.getLast()[1], rows.getLast()[3]));
    }

    private void printSummary(String uncached, double seconds) {
        String[] head = {"", bigMiB + " MiB file", "vs lower", "open+read+close, 16 KiB", "vs lower"};
        int[] w = new int[head.length];
        for (int i = 0; i < w.length; i++) {
            w[i] = head[i].length();
            for (String[] r : rows) {
                w[i] = Math.max(w[i], r[i].length());
            }
        }
        System.out.println();
        System.out.printf("Summary (%s lower, +%d ms round trip, page cache dropped before each read; one run, %.0f s in all)%n%n",
                kind, latencyMs, seconds);
        System.out.println(line(head, w));
        StringBuilder sep = new StringBuilder("|");
        for (int x : w) {
            sep.append("-".repeat(x + 2)).append('|');
        }
        System.out.println(sep);
        for (String[] r : rows) {
            System.out.println(line(r, w));
        }
        System.out.println();
        System.out.println("A file never read, offline: " + uncached);
    }

    private static String line(String[] cells, int[] w) {
        StringBuilder b = new StringBuilder("|");
        for (int i = 0; i < cells.length; i++) {
            String c = cells[i];
            b.append(' ').append(i == 0 ? pad(c, w[i]) : " ".repeat(w[i] - c.length()) + c).append(" |");
        }
        return b.toString();
    }

    private static String pad(String s, int w) {
        return s + " ".repeat(w - s.length());
    }

    private static String reason(IOException e) {
        String m = e instanceof java.nio.file.FileSystemException f && f.getReason() != null ? f.getReason() : e.getMessage();
        return m == null ? e.getClass().getSimpleName() : m;
    }
}
