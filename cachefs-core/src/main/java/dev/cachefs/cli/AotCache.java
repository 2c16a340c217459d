package dev.cachefs.cli;

import dev.cachefs.fuse.FuseSession;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/**
 * The JVM's ahead-of-time cache of the daemon (JDK 25, JEPs 483 and 515): classes already loaded
 * and linked, and the method profiles of a training run, so that a daemon starts faster and runs
 * its first walks and reads with less interpreting and compiling. Without it the first minute
 * after every mount (a remount included) runs on a cold JVM.
 *
 * <p>The cache is a file beside the jar ({@code cachefs.aot}), made once per build by a training
 * run: the launcher runs {@code cachefs aot-train} under {@code -XX:AOTCacheOutput} after it
 * builds. The training mounts a small local tree in its own process and goes over it as users do
 * (walks, reads, writes, renames, the status commands), then unmounts. A daemon uses the file only
 * if it is newer than the jar it runs from; the JVM checks the rest itself (its version, the class
 * path), and a cache it cannot use costs nothing but the time to look at it.
 */
@Command(name = "aot-train", hidden = true, mixinStandardHelpOptions = true,
        description = "Mount a small local tree in this process, use it as a user would, unmount: the training run of"
                + " the JVM's AOT cache (the launcher runs it under -XX:AOTCacheOutput after each build).",
        footer = {"", "Example:  java --enable-native-access=ALL-UNNAMED -XX:AOTCacheOutput=target/cachefs.aot"
                + " -cp target/cachefs-all.jar dev.cachefs.cli.Main aot-train"})
final class AotCache implements Callable<Integer> {
    /** Where a cache file is looked for instead of beside the jar (tests). */
    static final String ENV = "CACHEFS_AOT";
    static final String FILE = "cachefs.aot";

    @Parameters(index = "0", arity = "0..1", paramLabel = "DIR", description = "where to make the tree (default: a temporary directory)")
    Path dir;

    /**
     * The JVM options that make a JVM running {@code classPath} use the AOT cache, or none when
     * there is no usable one: the class path must be one jar, and the cache newer than it.
     */
    static List<String> jvmOptions(String classPath, String override) {
        if (classPath == null || classPath.isEmpty() || classPath.contains(java.io.File.pathSeparator) || !classPath.endsWith(".jar")) {
            return List.of();
        }
        Path jar = Path.of(classPath);
        Path aot = override != null && !override.isBlank() ? Path.of(override) : jar.resolveSibling(FILE);
        try {
            if (Files.size(aot) == 0 || Files.getLastModifiedTime(aot).compareTo(Files.getLastModifiedTime(jar)) < 0) {
                return List.of();
            }
        } catch (IOException e) {
            return List.of(); // none made yet (or unreadable): the JVM starts as it would without
        }
        // A cache the JVM refuses (another JDK build, a changed jar of the same age) is said on
        // standard output by default; the daemon's stdout is its readiness line, so keep it quiet.
        return List.of("-XX:AOTCache=" + aot.toAbsolutePath(), "-Xlog:aot=off", "-Xlog:cds=off");
    }

    @Override
    public Integer call() throws Exception {
        Path root = dir != null ? Files.createDirectories(dir) : Files.createTempDirectory("cachefs-aot-train");
        Path lower = Files.createDirectories(root.resolve("lower"));
        Path mp = Files.createDirectories(root.resolve("mnt"));
        Path cache = root.resolve("cache");
        List<Path> files = makeTree(lower);
        PrintStream out = System.out;
        System.setOut(new PrintStream(OutputStream.nullOutputStream())); // the status commands' output
        try {
            for (String options : List.of("meta_ttl=30", "writeback=1")) {
                int code = trainOn(lower, mp, cache, options, files);
                if (code != 0) {
                    return code;
                }
            }
            return 0;
        } finally {
            System.setOut(out);
            if (dir == null) {
                removeTree(root);
            }
        }
    }

    /** One mount in this process, used as a user would, then unmounted; 0 or the mount's exit code. */
    private static int trainOn(Path lower, Path mp, Path cache, String options, List<Path> files) throws Exception {
        int[] code = {-1};
        Thread daemon = Thread.ofPlatform().name("aot-train-mount").start(() -> code[0] = Main.run(
                "mount", lower.toString(), mp.toString(), "--cache", cache.toString(), "-o", options, "--foreground",
                "--log-level", "warn"));
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (MountTable.at(mp).filter(m -> m.type().equals("fuse.cachefs")).isEmpty()) {
            if (!daemon.isAlive()) {
                System.err.println("cachefs aot-train: the mount failed (exit " + code[0] + ")");
                return code[0] == 0 ? Main.FAILED : code[0];
            }
            if (System.nanoTime() > deadline) {
                System.err.println("cachefs aot-train: not mounted after 60 s");
                return Main.FAILED;
            }
            Thread.sleep(20);
        }
        try {
            for (int pass = 0; pass < 4; pass++) {
                use(mp, files, pass);
                Main.run("status", mp.toString());
                Main.run("stats", mp.toString());
            }
        } finally {
            FuseSession.unmount(mp, false);
            daemon.join(120_000);
        }
        return daemon.isAlive() ? Main.FAILED : code[0];
    }

    private static List<Path> makeTree(Path lower) throws IOException {
        List<Path> files = new ArrayList<>();
        byte[] text = new byte[1024];
        for (int d = 0; d < 20; d++) {
            Path sub = Files.createDirectories(lower.resolve(String.format(Locale.ROOT, "src/m%d/p%02d", d % 4, d)));
            for (int f = 0; f < 40; f++) {
                java.util.Arrays.fill(text, (byte) ('a' + (d + f) % 26));
                Path p = sub.resolve(String.format(Locale.ROOT, "F%03d.java", f));
                Files.write(p, text);
                files.add(lower.relativize(p));
            }
        }
        Path big = lower.resolve("big.bin");
        Files.write(big, new byte[4 << 20]);
        files.add(lower.relativize(big));
        Files.createSymbolicLink(lower.resolve("link"), Path.of("big.bin"));
        // Older than a second, as a user's tree is: a listing read in the second of a change is not kept.
        FileTime old = FileTime.fromMillis(System.currentTimeMillis() - 600_000);
        try (Stream<Path> s = Files.walk(lower)) {
            for (Path p : s.toList()) {
                Files.setLastModifiedTime(p, old);
            }
        }
        return files;
    }

    /** What users do most: walks with stats, reads of every file, then changes of their own. */
    private static void use(Path mp, List<Path> files, int pass) throws IOException {
        long[] n = {0};
        Files.walkFileTree(mp, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) {
                n[0] += attrs.size();
                return FileVisitResult.CONTINUE;
            }
        });
        for (Path f : files) {
            n[0] += Files.readAllBytes(mp.resolve(f)).length;
        }
        n[0] += Files.readSymbolicLink(mp.resolve("link")).toString().length();
        Path own = Files.createDirectories(mp.resolve("own" + pass));
        for (int i = 0; i < 50; i++) {
            Path p = own.resolve("n" + i);
            Files.write(p, ("pass " + pass + " file " + i + "\n").repeat(20).getBytes());
            Files.write(p, "more\n".getBytes(), StandardOpenOption.APPEND);
            try (var ch = java.nio.channels.FileChannel.open(p, StandardOpenOption.WRITE)) {
                ch.truncate(100);
                ch.force(true);
            }
            Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rw-r-----"));
            Files.move(p, own.resolve("m" + i));
        }
        try (Stream<Path> s = Files.list(own)) {
            for (Path p : s.toList()) {
                n[0] += Files.size(p);
                Files.delete(p);
            }
        }
        Files.delete(own);
        if (n[0] <= 0) {
            throw new IOException("read nothing through " + mp);
        }
    }

    private static void removeTree(Path root) throws IOException {
        try (Stream<Path> s = Files.walk(root)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
