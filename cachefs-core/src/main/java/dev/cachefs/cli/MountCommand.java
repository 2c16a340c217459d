package dev.cachefs.cli;

import dev.cachefs.cache.CacheLayer;
import dev.cachefs.cache.CacheStats;
import dev.cachefs.fs.StackedFs;
import dev.cachefs.offline.Guard;
import dev.cachefs.mount.Uplink;
import dev.cachefs.fuse.FuseSession;
import dev.cachefs.fuse.MountOptions;
import dev.cachefs.index.IdentityMode;
import dev.cachefs.index.IndexException;
import dev.cachefs.index.LowerIdentity;
import dev.cachefs.mount.CacheStack;
import dev.cachefs.nativeio.Errno;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Stat;
import dev.cachefs.nativeio.Libc;
import dev.cachefs.nativeio.RawPath;
import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "mount", header = "Mount cachefs over a directory.", mixinStandardHelpOptions = true,
        description = "Mount cachefs over LOWER at MOUNTPOINT. Without --foreground, returns once the mount is live and"
                + " keeps serving in the background.",
        footerHeading = "%n") // the footer is MountCommand.footer(), set by Main to fit the help's width
final class MountCommand implements Callable<Integer> {
    /** The -o options and what they do, for the help (each key here is one OptionParser takes). */
    static final String[][] OPTIONS = {
            {"allow_other", "let other users in (the kernel still checks permissions: default_permissions)"},
            {"attr_timeout=SEC", "how long the kernel trusts attributes (default 1)"},
            {"entry_timeout=SEC", "how long the kernel trusts names (default 1)"},
            {"negative_timeout=SEC", "how long the kernel remembers that a name does not exist (default 0: not at all)"},
            {"meta_ttl=SEC", "how long the daemon trusts attributes the lower gave without asking again (default 30,"
                    + " like an NFS client's actimeo; opens always ask: close-to-open; 0: always ask)"},
            {"passthrough", "hand opens of cached files to the kernel (FUSE passthrough; root only; default)"},
            {"nopassthrough", "serve all reads and writes through the daemon"},
            {"max_write=BYTES", "largest write request, 131072..1048576 (default 1048576)"},
            {"workers=N", "request threads (default 4)"},
            {"noauto_unmount", "do not unmount if the daemon dies (default: it does)"},
            {"dev, suid", "honour device nodes / set-user-ID bits (root; default nodev, nosuid)"},
            {"chunk_size=BYTES", "cache fill unit, 64K..16M, a power of two (default 1M; fixed per cache directory)"},
            {"readahead=N", "chunks fetched ahead of a sequential reader, 0..64 (default 16)"},
            {"direct_io, nodirect_io", "read the lower with O_DIRECT where it allows it (default direct_io)"},
            {"kernel_readahead=SIZE", "the kernel's readahead on this mount (root; default 4M; 0: leave it at 128K)"},
            {"cull_free=P%", "cull cached data when the cache disk has less than P% free (default 7)"},
            {"stop_free=P%", "cache no new data below P% free (default 3) ..."},
            {"resume_free=P%", "... until P% is free again (default 10)"},
            {"scrub_interval=SEC", "how long a cached file's check against its checksums stays good before the"
                    + " background scrub reads it again (default 604800: a week)"},
            {"scrub_rate=SIZE", "how fast the background scrub reads, per second (default 8M; 0: no scrub)"},
            {"deadline=SEC", "longest a lower call may take before the lower counts as unreachable (default 5;"
                    + " 0: none, a hung lower then hangs its callers: for measurements only)"},
            {"probe_interval=SEC", "how often an offline mount checks whether the lower is back (default 2)"},
            {"reconnect=auto|manual", "go online by itself when the lower is back, or wait for cachefs online (default auto)"},
            {"offline_wait=SEC", "offline, a read of data not cached waits this long for the lower (default 0:"
                    + " ENOTCONN at once)"},
            {"writeback[=SEC]", "write-back: files written are kept in the cache (journaled, as offline changes) and"
                    + " uploaded SEC after their first change (default 5), in the background; fsync returns once the"
                    + " change is durable in the cache; cachefs sync waits for the upload (default: writes go through)"},
            {"sync_fsync", "with writeback: fsync returns once the file is on the lower, not only durable in the cache"},
            {"offline", "start offline (serve from the cache) even if the lower answers"},
            {"metrics=[HOST:]PORT", "serve metrics in the Prometheus text format at http://HOST:PORT/metrics (loopback"
                    + " only; HOST defaults to 127.0.0.1; off by default)"},
            {"stats_file=PATH", "write the same metrics to PATH every stats_interval (node_exporter's textfile format)"},
            {"stats_interval=SEC", "how often stats_file is rewritten (default 10)"},
    };

    /** The help's footer: the options table wrapped to {@code width} columns, then examples. */
    static String footer(int width) {
        StringBuilder b = new StringBuilder("Mount options (-o, comma separated):\n");
        int col = 2 + 22 + 1;
        for (String[] o : OPTIONS) {
            String name = "  " + o[0];
            List<String> lines = wrap(o[1], Math.max(20, width - col));
            if (name.length() < col - 1) {
                b.append(name).append(" ".repeat(col - name.length())).append(lines.getFirst()).append('\n');
                lines = lines.subList(1, lines.size());
            } else {
                b.append(name).append('\n');
            }
            for (String l : lines) {
                b.append(" ".repeat(col)).append(l).append('\n');
            }
        }
        b.append("\nThe same can be written in a config file (--config): [mount] with lower:, mountpoint:, cache:,"
                + " cache-size:, options: ... (see the user guide).\n");
        b.append("\nExamples:  cachefs mount /mnt/nfs /mnt/cached --cache-size 20G\n");
        b.append("           cachefs mount /mnt/sshfs ~/work -o meta_ttl=60,metrics=9464\n");
        b.append("           cachefs mount --config /etc/cachefs/nfs.conf --foreground\n");
        return b.toString();
    }

    private static List<String> wrap(String text, int width) {
        List<String> out = new ArrayList<>();
        StringBuilder line = new StringBuilder();
        for (String w : text.split(" ")) {
            if (line.length() > 0 && line.length() + 1 + w.length() > width) {
                out.add(line.toString());
                line.setLength(0);
            }
            line.append(line.length() > 0 ? " " : "").append(w);
        }
        out.add(line.toString());
        return out;
    }

    static final String READY = "CACHEFS-READY";
    static final String FAILED = "CACHEFS-FAILED ";

    @Parameters(index = "0", arity = "0..1", paramLabel = "LOWER",
            description = "the directory to cache (e.g. a network mount); may come from the config's [mount]")
    Path lower;

    @Parameters(index = "1", arity = "0..1", paramLabel = "MOUNTPOINT",
            description = "an empty directory to mount on; may come from the config's [mount]")
    Path mountpoint;

    @Option(names = "--cache", paramLabel = "DIR", description = "cache directory (default ~/.cache/cachefs/<lower path>)")
    Path cacheDir;

    @Option(names = "-o", paramLabel = "OPTS", split = ",", description = "mount options, see below")
    List<String> options = new ArrayList<>();

    @Option(names = {"-f", "--foreground"}, description = "serve in this process until unmounted")
    boolean foreground;

    @Option(names = "--identity", paramLabel = "MODE",
            description = "how lower objects are identified: auto (default), handle or path")
    String identity;

    @Option(names = "--cache-size", paramLabel = "SIZE",
            description = "most data the cache keeps, e.g. 20G or 48M (default: no limit but free space)")
    String cacheSize;

    @Option(names = "--pin-size", paramLabel = "SIZE",
            description = "most data pins may hold, apart from --cache-size (default: no limit but free space)")
    String pinSize;

    @Option(names = "--cache-files", paramLabel = "N", description = "most files the cache keeps data of (default: no limit)")
    Long cacheFiles;

    @Option(names = "--on-event", paramLabel = "CMD",
            description = "shell command run on each event (offline, online, ...), given it as JSON on its standard input")
    String onEvent;

    @Option(names = "--config", paramLabel = "FILE",
            description = "the mount's config file: caching rules ('pin: PATTERN', 'no-cache: PATTERN', 'max-file-size:"
                    + " SIZE'), [conflicts] rules and a [mount] section with the mount itself (see the user guide)")
    Path config;

    @Option(names = "--log-level", paramLabel = "LEVEL",
            description = "what the daemon logs: error, warn, info (default), debug or trace; the log is CACHE/cachefs.log"
                    + " in the background, standard error in the foreground")
    String logLevel;

    @Option(names = "--notify-ready", hidden = true)
    boolean notifyReady;

    record Settings(MountOptions mount, StackedFs.Options fs, int chunkSize, CacheLayer.Options cache,
                    int kernelReadaheadKb, Uplink.Options uplink, java.net.InetSocketAddress metrics, Path statsFile,
                    long statsIntervalMs) {}

    @Override
    public Integer call() throws Exception {
        try {
            loadPolicy();
            applyConfig();
            setLogLevel();
            try {
                dev.cachefs.resync.ConflictRules.check(policy.conflictRules());
            } catch (IllegalArgumentException e) {
                throw new Main.UserError(Main.USAGE, "config " + e.getMessage());
            }
            Path lowerDir = lower.toAbsolutePath().normalize();
            Path mp = mountpoint.toAbsolutePath().normalize();
            Settings settings = parseOptions(lowerDir);
            try {
                IdentityMode.parse(identity);
            } catch (IllegalArgumentException e) {
                throw new Main.UserError(Main.USAGE, e.getMessage());
            }
            check(lowerDir, mp);
            Path cache = prepareCache(lowerDir);
            if (!foreground) {
                return daemonize(cache);
            }
            return serve(lowerDir, mp, settings);
        } catch (Main.UserError e) {
            if (notifyReady) {
                System.out.println(FAILED + e.getMessage());
                System.out.flush();
            }
            throw e;
        }
    }

    private dev.cachefs.cache.Policy policy = dev.cachefs.cache.Policy.NONE;
    /** meta_ttl, in milliseconds. */
    private long metaTtlMs = 30_000;

    /** Fills what the command line left out from the config's {@code [mount]} section: the command line wins. */
    private void applyConfig() {
        java.util.Map<String, String> m = policy.mount();
        String where = config == null ? "" : " (nor in [mount] of " + config + ")";
        if (lower == null && m.containsKey("lower")) {
            lower = Path.of(m.get("lower"));
        }
        if (mountpoint == null && m.containsKey("mountpoint")) {
            mountpoint = Path.of(m.get("mountpoint"));
        }
        if (lower == null || mountpoint == null) {
            throw new Main.UserError(Main.USAGE, "missing " + (lower == null ? "LOWER and MOUNTPOINT" : "MOUNTPOINT")
                    + where + "; usage: cachefs mount LOWER MOUNTPOINT [OPTIONS] (see cachefs mount --help)");
        }
        if (cacheDir == null && m.containsKey("cache")) {
            cacheDir = Path.of(m.get("cache"));
        }
        if (cacheSize == null) {
            cacheSize = m.get("cache-size");
        }
        if (pinSize == null) {
            pinSize = m.get("pin-size");
        }
        if (cacheFiles == null && m.containsKey("cache-files")) {
            try {
                cacheFiles = Long.parseLong(m.get("cache-files"));
            } catch (NumberFormatException e) {
                throw new Main.UserError(Main.USAGE, "config " + config + ": cache-files needs a whole number");
            }
        }
        if (identity == null) {
            identity = m.getOrDefault("identity", "auto");
        }
        if (onEvent == null) {
            onEvent = m.get("on-event");
        }
        if (logLevel == null) {
            logLevel = m.get("log-level");
        }
        if (m.containsKey("writeback")) {
            String v = m.get("writeback").strip();
            List<String> all = new ArrayList<>(v.equals("off") || v.equals("no") ? List.of("nowriteback")
                    : v.equals("on") || v.equals("yes") ? List.of("writeback") : List.of("writeback=" + v));
            all.addAll(options);
            options = all;
        }
        if (m.containsKey("options")) {
            List<String> all = new ArrayList<>(List.of(m.get("options").split(",")));
            all.addAll(options); // later options win: the command line's
            options = all;
        }
    }

    /** Before the first logger exists (slf4j-simple reads its level once): no class with a logger is used before. */
    private void setLogLevel() {
        if (logLevel == null) {
            return;
        }
        if (!List.of("error", "warn", "info", "debug", "trace").contains(logLevel)) {
            throw new Main.UserError(Main.USAGE, "--log-level must be error, warn, info, debug or trace, not '" + logLevel + "'");
        }
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", logLevel);
    }

    private void loadPolicy() {
        if (config == null) {
            return;
        }
        try {
            policy = dev.cachefs.cache.Policy.load(config);
        } catch (IOException e) {
            throw new Main.UserError(Main.USAGE, "cannot read config " + config + ": " + e.getMessage());
        } catch (IllegalArgumentException e) {
            throw new Main.UserError(Main.USAGE, "config " + e.getMessage());
        }
    }

    private Settings parseOptions(Path lowerDir) {
        long maxBytes = cacheSize == null ? 0 : Sizes.parse(cacheSize);
        long cacheFiles = this.cacheFiles == null ? 0 : this.cacheFiles;
        if (cacheFiles < 0) {
            throw new Main.UserError(Main.USAGE, "--cache-files must be 0 (no limit) or more");
        }
        OptionParser p = new OptionParser(lowerDir.toString().replace(",", "_"), onEvent, metaTtlMs).parse(options);
        metaTtlMs = p.metaTtlMs;
        CacheLayer.Options co;
        try {
            co = p.co.withLimits(new CacheLayer.Limits(maxBytes, cacheFiles, p.cull, p.stop, p.resume,
                    pinSize == null ? 0 : Sizes.parse(pinSize)));
        } catch (IllegalArgumentException e) {
            throw new Main.UserError(Main.USAGE, e.getMessage());
        }
        return new Settings(p.mo, p.so, p.chunk, co, p.kernelRa, p.up, p.metrics, p.statsFile, p.statsMs);
    }

    /**
     * The lower's real path after checking it is a directory; its normalized path when it does not
     * answer within a few seconds (a hung network mount: the mount then starts offline).
     */
    private static Path checkLower(Path lowerDir) throws IOException {
        java.util.concurrent.CompletableFuture<Path> f = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            // statx, not Files.exists: that answers "no" to an I/O error too, and a lower whose
            // server is gone (sshfs with reconnect) answers EIO at once. Only a path that truly is
            // missing or not a directory is refused; an unreachable lower is the Uplink's to
            // decide (offline from the cache's record, or a one-line refusal without one).
            try {
                Stat st = Libc.statx(Libc.AT_FDCWD, RawPath.fromText(lowerDir.toString()), 0);
                if (!st.isDirectory()) {
                    throw new Main.UserError(Main.USAGE, "lower " + lowerDir + " is not a directory");
                }
            } catch (ErrnoException e) {
                if (e.errno() == Errno.ENOENT || e.errno() == Errno.ENOTDIR) {
                    throw new Main.UserError(Main.USAGE, "lower directory " + lowerDir + " does not exist");
                }
                if (e.errno() == Errno.EIO || Guard.unreachableErrno(e.errno())) {
                    // Said once, by the Uplink (offline from the record, or the one-line refusal).
                    org.slf4j.LoggerFactory.getLogger(MountCommand.class).debug("lower {} answers {}: unreachable",
                            lowerDir, Errno.name(e.errno()));
                    return lowerDir;
                }
                throw new Main.UserError(Main.USAGE, "cannot use lower " + lowerDir + ": " + e.getMessage());
            }
            try {
                return lowerDir.toRealPath();
            } catch (IOException e) {
                return lowerDir; // answered the stat, then not: the Uplink decides
            }
        }, r -> Thread.ofPlatform().daemon().start(r));
        try {
            return f.get(5, TimeUnit.SECONDS);
        } catch (java.util.concurrent.TimeoutException e) {
            org.slf4j.LoggerFactory.getLogger(MountCommand.class).debug("lower {} does not answer", lowerDir);
            return lowerDir;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        } catch (java.util.concurrent.ExecutionException e) {
            if (e.getCause() instanceof java.io.UncheckedIOException u) {
                throw u.getCause();
            }
            if (e.getCause() instanceof RuntimeException re) {
                throw re;
            }
            throw new IOException(e.getCause());
        }
    }

    private static void check(Path lowerDir, Path mp) throws IOException {
        Path realLower = checkLower(lowerDir);
        if (!Files.exists(mp)) {
            throw new Main.UserError(Main.USAGE, "mount point " + mp + " does not exist (create it with mkdir)");
        }
        if (!Files.isDirectory(mp)) {
            throw new Main.UserError(Main.USAGE, "mount point " + mp + " is not a directory");
        }
        Path realMp = mp.toRealPath();
        if (realMp.equals(realLower) || realMp.startsWith(realLower) || realLower.startsWith(realMp)) {
            throw new Main.UserError(Main.USAGE, "mount point " + mp + " and lower " + lowerDir
                    + " must not contain each other (cachefs would look up its own mount)");
        }
        if (MountTable.at(realMp).filter(m -> m.type().startsWith("fuse.cachefs")).isPresent()) {
            throw new Main.UserError(Main.USAGE, "mount point " + mp + " is busy: cachefs is already mounted there");
        }
        if (!Files.exists(Path.of("/dev/fuse"))) {
            throw new Main.UserError(Main.USAGE, "/dev/fuse is missing: this kernel has no FUSE (load the fuse module)");
        }
        if (Libc.geteuid() != 0 && !Files.isWritable(realMp)) {
            throw new Main.UserError(Main.USAGE, "mount point " + mp + " is not writable by you");
        }
    }

    private Path prepareCache(Path lowerDir) throws IOException {
        Path dir = cacheDir;
        if (dir == null) {
            String base = System.getenv("XDG_CACHE_HOME");
            Path root = base != null && !base.isEmpty() ? Path.of(base) : Path.of(System.getProperty("user.home"), ".cache");
            dir = root.resolve("cachefs").resolve(lowerDir.toString().substring(1).replace('/', '_'));
        }
        dir = dir.toAbsolutePath().normalize();
        if (Files.isSymbolicLink(dir)) { // never chmod, or keep data, through a link someone may have planted
            throw new Main.UserError(Main.USAGE, "cache directory " + dir + " is a symlink (to " + realOrWhy(dir)
                    + "); give the directory itself with --cache");
        }
        try {
            if (!Files.isDirectory(dir, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
            }
            Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
        } catch (IOException e) {
            throw new Main.UserError(Main.USAGE, "cannot use cache directory " + dir + ": " + e.getMessage());
        }
        cacheDir = dir;
        return dir;
    }

    private static String realOrWhy(Path p) {
        try {
            return p.toRealPath().toString();
        } catch (IOException e) {
            return "nothing that exists";
        }
    }

    /** Starts this command again in the background, in its own session, and waits until it is mounted. */
    private int daemonize(Path cache) throws IOException, InterruptedException {
        Path log = cache.resolve("cachefs.log");
        try (var ch = java.nio.channels.FileChannel.open(log, java.util.Set.of(java.nio.file.StandardOpenOption.CREATE,
                java.nio.file.StandardOpenOption.WRITE, java.nio.file.LinkOption.NOFOLLOW_LINKS),
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")))) {
            Files.setPosixFilePermissions(log, PosixFilePermissions.fromString("rw-------")); // it names the user's files
        } catch (IOException e) {
            throw new Main.UserError(Main.USAGE, "cannot write the log " + log + ": " + e.getMessage());
        }
        List<String> cmd = new ArrayList<>();
        cmd.add("setsid");
        cmd.add(ProcessHandle.current().info().command().orElse(
                Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        cmd.add("--enable-native-access=ALL-UNNAMED");
        cmd.addAll(AotCache.jvmOptions(System.getProperty("java.class.path"), System.getenv(AotCache.ENV)));
        String extra = System.getenv("CACHEFS_JAVA_OPTIONS"); // for measurements: JVM options of the daemon
        if (extra != null && !extra.isBlank()) {
            cmd.addAll(List.of(extra.trim().split("\\s+")));
        }
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(Main.class.getName());
        cmd.add("mount");
        cmd.add(lower.toAbsolutePath().toString());
        cmd.add(mountpoint.toAbsolutePath().toString());
        cmd.add("--cache");
        cmd.add(cache.toString());
        if (!options.isEmpty()) {
            cmd.add("-o");
            cmd.add(String.join(",", options));
        }
        cmd.add("--identity");
        cmd.add(identity);
        if (cacheSize != null) {
            cmd.add("--cache-size");
            cmd.add(cacheSize);
        }
        if (pinSize != null) {
            cmd.add("--pin-size");
            cmd.add(pinSize);
        }
        if (cacheFiles != null && cacheFiles > 0) {
            cmd.add("--cache-files");
            cmd.add(Long.toString(cacheFiles));
        }
        if (onEvent != null) {
            cmd.add("--on-event");
            cmd.add(onEvent);
        }
        if (logLevel != null) {
            cmd.add("--log-level");
            cmd.add(logLevel);
        }
        if (config != null) {
            cmd.add("--config");
            cmd.add(config.toAbsolutePath().toString());
        }
        cmd.add("--foreground");
        cmd.add("--notify-ready");
        Process p = new ProcessBuilder(cmd)
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectError(ProcessBuilder.Redirect.appendTo(log.toFile()))
                .start();
        BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        String line;
        while ((line = r.readLine()) != null) {
            if (line.startsWith(READY)) {
                String offline = line.length() > READY.length() ? "; OFFLINE (" + line.substring(READY.length() + 1)
                        + "): serving from the cache, online when the lower answers" : "";
                System.out.println("cachefs: mounted " + lower.toAbsolutePath().normalize() + " on "
                        + mountpoint.toAbsolutePath().normalize() + " (pid " + p.pid() + ", log " + log + ")" + offline);
                return 0;
            }
            if (line.startsWith(FAILED)) {
                p.waitFor(10, TimeUnit.SECONDS);
                throw new Main.UserError(Main.FAILED, line.substring(FAILED.length()));
            }
        }
        p.waitFor(10, TimeUnit.SECONDS);
        throw new Main.UserError(Main.FAILED, "the cachefs daemon exited before mounting; see " + log);
    }

    private int serve(Path lowerDir, Path mp, Settings settings) throws Exception {
        Libc.umask(0); // the kernel already applied the caller's umask to every mode we get
        IdentityMode mode;
        try {
            mode = IdentityMode.parse(identity);
        } catch (IllegalArgumentException e) {
            throw new Main.UserError(Main.USAGE, e.getMessage());
        }
        CacheStats stats = new CacheStats();
        CacheStack stack;
        try {
            stack = CacheStack.open(new CacheStack.Config(RawPath.fromText(lowerDir.toString()), cacheDir,
                    settings.chunkSize(), mode, settings.uplink(), settings.cache(), settings.fs(), policy, metaTtlMs,
                    mp.toString(), l -> l), stats);
        } catch (IndexException e) {
            throw new Main.UserError(Main.USAGE, e.getMessage());
        } catch (ErrnoException e) {
            throw new Main.UserError(Main.USAGE, "lower " + lowerDir + ": " + e.getMessage());
        }
        if (stack.store.chunkSize() != settings.chunkSize() && options.stream().anyMatch(o -> o.startsWith("chunk_size="))) {
            org.slf4j.LoggerFactory.getLogger(MountCommand.class).warn(
                    "cache {} keeps its chunk size of {} bytes (chunk_size applies to new cache directories)",
                    cacheDir, stack.store.chunkSize());
        }
        Uplink uplink = stack.uplink;
        CacheLayer cache = stack.cache;
        StackedFs fs = stack.fs;
        LowerIdentity id = uplink.identity();
        FuseSession session;
        try {
            session = FuseSession.mount(mp, fs, settings.mount());
        } catch (IOException e) {
            stack.close();
            throw new Main.UserError(Main.FAILED, e.getMessage());
        }
        stack.mounted(session, settings.kernelReadaheadKb());
        org.slf4j.LoggerFactory.getLogger(MountCommand.class).info("mounted {} on {} (passthrough {})",
                lowerDir, mp, session.passthroughAvailable());
        long started = System.currentTimeMillis();
        FuseSession live = session;
        ControlServer control = null;
        Metrics metrics = null;
        if (settings.metrics() != null || settings.statsFile() != null) {
            try {
                metrics = Metrics.start(settings.metrics(), settings.statsFile(), settings.statsIntervalMs(),
                        () -> Metrics.format(Metrics.collect(mp.toString(), stats, cache, uplink, fs)));
            } catch (IOException e) {
                // like the control socket: the mount works without it, and the log says why
                org.slf4j.LoggerFactory.getLogger(MountCommand.class).warn("no metrics endpoint at {}: {}",
                        settings.metrics(), e.getMessage());
            }
        }
        String metricsUrl = metrics == null ? null : metrics.url();
        try {
            java.util.Map<String, ControlServer.Handler> handlers = DaemonControl.handlers(new DaemonControl.Mount(mp,
                    lowerDir, cacheDir, started, stack, live, metricsUrl, settings.statsFile()));
            control = ControlServer.start(mp, handlers);
        } catch (IOException e) {
            // The mount works without it; only `cachefs status` cannot reach this daemon.
            org.slf4j.LoggerFactory.getLogger(MountCommand.class).warn("no control socket: {}", e.getMessage());
        }
        if (!policy.isEmpty()) {
            org.slf4j.LoggerFactory.getLogger(MountCommand.class).info("config {}: {}", config, policy);
        }
        if (notifyReady) {
            // READY, or READY and why it starts offline: the background parent's one line says so.
            var conn = uplink.connectivity();
            System.out.println(conn.offline() ? READY + " " + conn.reason().replace('\n', ' ') : READY);
            System.out.flush();
            System.setOut(new PrintStream(System.err, true, StandardCharsets.UTF_8));
        }
        // SIGTERM / SIGINT: the session's shutdown hook unmounts; the workers end; we return.
        session.awaitExit();
        if (control != null) {
            control.close();
        }
        if (metrics != null) {
            metrics.close();
        }
        stack.close();
        return 0;
    }

}
