package dev.cachefs.cli;

import dev.cachefs.fuse.FuseSession;
import dev.cachefs.mount.Uplink;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "umount", header = "Unmount a cachefs mount.", aliases = "unmount", mixinStandardHelpOptions = true,
        description = "Unmount a cachefs mount and wait until the daemon serving it has exited. With write-back"
                + " the daemon first uploads its queue (for at most 30 s); changes it could not upload (offline,"
                + " or not in time) stay in the cache's journal, are said here, and are replayed by the next mount.",
        footer = {"", "Examples:  cachefs umount /mnt/cached", "           cachefs umount --lazy /mnt/cached"})
final class UmountCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "MOUNTPOINT", description = "where cachefs is mounted")
    Path mountpoint;

    @Option(names = {"-l", "--lazy"}, description = "detach now even if files are open (the daemon exits when they close)")
    boolean lazy;

    @Option(names = "--timeout", defaultValue = "30", description = "seconds to wait for the mount to go (default ${DEFAULT-VALUE})")
    int timeoutSeconds;

    @Override
    public Integer call() throws IOException, InterruptedException {
        Path mp = mountpoint.toAbsolutePath().normalize();
        if (!Files.isDirectory(mp)) {
            throw new Main.UserError(Main.USAGE, mp + " is not a directory");
        }
        var m = MountTable.at(mp);
        if (m.isEmpty()) {
            throw new Main.UserError(Main.USAGE, mp + " is not a mount point");
        }
        if (!m.get().type().equals("fuse.cachefs")) {
            throw new Main.UserError(Main.USAGE, mp + " is a " + m.get().type() + " mount, not cachefs");
        }
        Daemon d = daemonOf(mp);
        if (d != null && d.queue() != null && !d.queue().startsWith("0 files")) {
            System.out.println("cachefs: the daemon uploads its queue before it exits (" + d.queue()
                    + "; at most " + UPLOAD_BOUND_S + " s)");
        }
        long startedMs = System.currentTimeMillis();
        try {
            FuseSession.unmount(mp, lazy);
        } catch (IOException e) {
            throw new Main.UserError(Main.FAILED, e.getMessage());
        }
        long deadline = System.nanoTime() + timeoutSeconds * 1_000_000_000L;
        while (MountTable.at(mp).filter(x -> x.type().equals("fuse.cachefs")).isPresent()) {
            if (System.nanoTime() > deadline) {
                throw new Main.UserError(Main.FAILED, mp + " is still mounted after " + timeoutSeconds + " s");
            }
            Thread.sleep(50);
        }
        if (d == null || lazy) {
            return 0; // (lazy: the daemon exits when the last open file closes, maybe much later)
        }
        // The mount is gone, the daemon is not yet: it uploads what write-back queued and closes its
        // cache. Returning before would let a script remove the lower's files under the upload, or
        // mount the cache again while it is still held.
        var proc = ProcessHandle.of(d.pid());
        if (proc.isPresent()) {
            try {
                proc.get().onExit().get(UPLOAD_BOUND_S + EXIT_MARGIN_S, java.util.concurrent.TimeUnit.SECONDS);
            } catch (java.util.concurrent.TimeoutException e) {
                throw new Main.UserError(Main.FAILED, "unmounted, but its daemon (pid " + d.pid() + ") is still finishing after "
                        + (UPLOAD_BOUND_S + EXIT_MARGIN_S) + " s; its log: " + d.cache().resolve("cachefs.log"));
            } catch (java.util.concurrent.ExecutionException e) {
                // cannot happen for a process handle; the daemon is gone either way
            }
        }
        Path left = d.cache().resolve(Uplink.LEFT_QUEUED);
        try {
            if (Files.exists(left) && Files.getLastModifiedTime(left).toMillis() >= startedMs - 1000) {
                String[] f = Files.readString(left).strip().split("\t", 2);
                System.out.println("cachefs: " + f[0] + " changes stay queued in " + d.cache() + " for the next mount ("
                        + (f.length > 1 ? f[1] : "see its log") + ")");
            }
        } catch (IOException e) {
            // nothing to report beyond the daemon's own log
        }
        return 0;
    }

    /** How long a daemon uploads its queue at unmount, and a margin to close its cache after. */
    static final long UPLOAD_BOUND_S = Uplink.UNMOUNT_UPLOAD_MS / 1000;
    static final long EXIT_MARGIN_S = 30;

    /** The daemon serving a mount, as it says in its status: its pid, cache directory and upload queue. */
    private record Daemon(long pid, Path cache, String queue) {}

    /** The mount's daemon, or null if it does not answer (then the unmount goes on as before). */
    private static Daemon daemonOf(Path mp) {
        try {
            Map<String, String> st = ControlServer.query(mp, "status");
            String pid = st.get("daemon pid");
            String cache = st.get("cache");
            if (pid == null || cache == null) {
                return null;
            }
            return new Daemon(Long.parseLong(pid), Path.of(cache), st.get("upload queue"));
        } catch (Main.UserError | NumberFormatException e) {
            return null;
        }
    }
}
