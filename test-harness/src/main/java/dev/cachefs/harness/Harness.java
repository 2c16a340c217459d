package dev.cachefs.harness;

import dev.cachefs.nativeio.Libc;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;

/**
 * Where the harness keeps what it makes, and how it cleans up after itself. Each test JVM gets a
 * run directory, {@code /var/tmp/cachefs-harness/runs/PID-STARTTIME}, holding its exports, mount
 * points, logs and records of the processes and namespaces it made. A run directory whose JVM is
 * no longer alive is a crashed run's: {@link #sweep} ends what it recorded, unmounts what is
 * mounted under it and deletes it. Nothing outside these records and directories is touched.
 */
public final class Harness {
    static final Path BASE = Path.of(System.getProperty("cachefs.harness.base", "/var/tmp/cachefs-harness"));
    private static final AtomicInteger SEQ = new AtomicInteger();
    private static volatile Path run;

    private Harness() {}

    /** This JVM's run directory, made on first use (after sweeping what dead runs left). */
    public static synchronized Path runDir() {
        if (run == null) {
            sweep();
            long pid = ProcessHandle.current().pid();
            Path dir = BASE.resolve("runs").resolve(pid + "-" + Proc.startTime(pid));
            try {
                Files.createDirectories(dir.resolve("procs"));
                Files.createDirectories(dir.resolve("netns"));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            run = dir;
        }
        return run;
    }

    static Path procDir() {
        return runDir().resolve("procs");
    }

    /** A new, empty directory in the run directory. */
    public static Path newDir(String prefix) {
        try {
            return Files.createDirectories(runDir().resolve(prefix + "-" + SEQ.incrementAndGet()));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Skips the calling test, with the reason, unless this process is root. */
    public static void requireRoot(String why) {
        Assumptions.assumeTrue(Libc.geteuid() == 0, "needs root for " + why);
    }

    /** Skips the calling test, naming the Debian package, when a program is missing. */
    public static void requireProgram(String program, String debianPackage) {
        boolean found = program.startsWith("/") ? Files.isExecutable(Path.of(program))
                : Stream.of(System.getenv().getOrDefault("PATH", "/usr/sbin:/usr/bin:/sbin:/bin").split(":"))
                        .anyMatch(d -> Files.isExecutable(Path.of(d, program)));
        Assumptions.assumeTrue(found, "needs " + program + " (Debian package " + debianPackage + ")");
    }

    static void recordNetns(NetNs ns) {
        try {
            Files.writeString(runDir().resolve("netns").resolve(ns.name()), ns.cidr() + "\n");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static void forgetNetns(NetNs ns) {
        if (run != null) {
            try {
                Files.deleteIfExists(run.resolve("netns").resolve(ns.name()));
            } catch (IOException ignored) {
                // the sweep deletes it with the run directory
            }
        }
    }

    /** Ends what runs of dead JVMs left behind. Returns what it found. */
    public static synchronized List<String> sweep() {
        List<String> found = new ArrayList<>();
        Path runs = BASE.resolve("runs");
        if (Files.isDirectory(runs)) {
            try (DirectoryStream<Path> ds = Files.newDirectoryStream(runs)) {
                for (Path dir : ds) {
                    if (!ownerAlive(dir.getFileName().toString())) {
                        found.addAll(release(dir));
                    }
                }
            } catch (IOException e) {
                found.add("cannot read " + runs + ": " + e.getMessage());
            }
        }
        // A namespace no live run records (a JVM killed between creating and recording it).
        for (String ns : listNamespaces()) {
            if (!recordedByLiveRun(ns)) {
                NetNs.remove(ns, cidrOf(ns));
                found.add("namespace " + ns);
            }
        }
        return found;
    }

    /** What this JVM's run still holds; releases it all. Called when the test session ends. */
    public static synchronized List<String> releaseOwn() {
        if (run == null) {
            return List.of();
        }
        List<String> left = release(run);
        run = null;
        return left;
    }

    private static List<String> release(Path dir) {
        List<String> found = new ArrayList<>();
        try {
            if (Files.isDirectory(dir.resolve("procs"))) {
                try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir.resolve("procs"))) {
                    for (Path rec : ds) {
                        String what = Proc.endRecorded(rec);
                        if (what != null) {
                            found.add(what);
                        }
                    }
                }
            }
            for (String mnt : mountsUnder(dir)) {
                Sh.tryRun("fusermount3", "-u", "-z", mnt);
                Sh.tryRun("umount", "-l", mnt);
                found.add("mount " + mnt);
            }
            if (Files.isDirectory(dir.resolve("netns"))) {
                try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir.resolve("netns"))) {
                    for (Path rec : ds) {
                        String ns = rec.getFileName().toString();
                        NetNs.remove(ns, Files.readString(rec).strip());
                        found.add("namespace " + ns);
                    }
                }
            }
            if (mountsUnder(dir).isEmpty()) {
                deleteTree(dir);
            } else {
                found.add("still mounted under " + dir + ": left in place");
            }
        } catch (IOException e) {
            found.add("cannot clean " + dir + ": " + e.getMessage());
        }
        return found;
    }

    private static boolean ownerAlive(String runName) {
        String[] p = runName.split("-");
        try {
            return p.length == 2 && Proc.startTime(Long.parseLong(p[0])) == Long.parseLong(p[1]);
        } catch (NumberFormatException e) {
            return false;
        }
    }

    private static boolean recordedByLiveRun(String ns) {
        Path runs = BASE.resolve("runs");
        if (!Files.isDirectory(runs)) {
            return false;
        }
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(runs)) {
            for (Path dir : ds) {
                if (ownerAlive(dir.getFileName().toString()) && Files.exists(dir.resolve("netns").resolve(ns))) {
                    return true;
                }
            }
        } catch (IOException e) {
            return true; // unsure: leave it
        }
        return false;
    }

    static List<String> listNamespaces() {
        List<String> out = new ArrayList<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(Path.of("/run/netns"), NetNs.PREFIX + "*")) {
            for (Path p : ds) {
                out.add(p.getFileName().toString());
            }
        } catch (IOException e) {
            // no namespaces at all
        }
        return out;
    }

    private static String cidrOf(String ns) {
        return "10.213." + ns.substring(NetNs.PREFIX.length()) + ".0/24";
    }

    /** Mount points at or below {@code dir}, deepest first, as /proc/self/mountinfo lists them. */
    static List<String> mountsUnder(Path dir) {
        List<String> out = new ArrayList<>();
        String prefix = dir.toAbsolutePath().toString();
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"), StandardCharsets.ISO_8859_1)) {
                String mp = unescape(line.split(" ")[4]);
                if (mp.equals(prefix) || mp.startsWith(prefix + "/")) {
                    out.add(mp);
                }
            }
        } catch (IOException e) {
            // no mountinfo: nothing to report
        }
        out.sort(Comparator.comparingInt(String::length).reversed());
        return out;
    }

    private static String unescape(String s) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < s.length(); i++) {
            if (s.charAt(i) == '\\' && i + 3 < s.length()) {
                b.append((char) Integer.parseInt(s.substring(i + 1, i + 4), 8));
                i += 3;
            } else {
                b.append(s.charAt(i));
            }
        }
        return b.toString();
    }

    static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (java.io.UncheckedIOException | java.nio.file.FileSystemException e) {
            // Deeper than PATH_MAX (HostileInputIT makes such trees): rm walks by relative steps.
            try {
                Process p = new ProcessBuilder("rm", "-rf", "--one-file-system", "--", dir.toString())
                        .redirectErrorStream(true).start();
                String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
                if (p.waitFor() != 0) {
                    throw new IOException("rm -rf " + dir + ": " + out.strip());
                }
            } catch (InterruptedException ie) {
                Thread.currentThread().interrupt();
                throw new IOException(ie);
            }
        }
    }
}
