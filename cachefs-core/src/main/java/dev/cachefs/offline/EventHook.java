package dev.cachefs.offline;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@code --on-event} hook: runs {@code /bin/sh -c CMD} for each event, one at a time and in
 * order, with the event as one line of JSON on its standard input and in the environment
 * (CACHEFS_EVENT, CACHEFS_MODE, CACHEFS_REASON, CACHEFS_MOUNTPOINT). A hook that runs longer
 * than {@value #LIMIT_SECONDS} s is killed; its output goes to the daemon's log.
 */
public final class EventHook implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(EventHook.class);
    static final int LIMIT_SECONDS = 30;

    private final String command;
    private final String mountpoint;
    private final ExecutorService runner =
            Executors.newSingleThreadExecutor(r -> Thread.ofPlatform().daemon().name("cachefs-hook").unstarted(r));

    public EventHook(String command, String mountpoint) {
        this.command = command;
        this.mountpoint = mountpoint;
    }

    public void run(Connectivity.Event e) {
        try {
            runner.execute(() -> runNow(e));
        } catch (RejectedExecutionException ex) {
            // unmounting
        }
    }

    private void runNow(Connectivity.Event e) {
        ProcessBuilder pb = new ProcessBuilder("/bin/sh", "-c", command)
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.INHERIT);
        pb.environment().put("CACHEFS_EVENT", e.name());
        pb.environment().put("CACHEFS_MODE", e.mode().name().toLowerCase(java.util.Locale.ROOT));
        pb.environment().put("CACHEFS_REASON", e.reason());
        pb.environment().put("CACHEFS_MOUNTPOINT", mountpoint);
        try {
            Process p = pb.start();
            try (OutputStream in = p.getOutputStream()) {
                in.write((e.json(mountpoint) + "\n").getBytes(StandardCharsets.UTF_8));
            } catch (IOException ignored) {
                // the hook does not read its input
            }
            if (!p.waitFor(LIMIT_SECONDS, TimeUnit.SECONDS)) {
                log.warn("event hook ran over {} s; killing it (pid {})", LIMIT_SECONDS, p.pid());
                p.destroyForcibly();
            } else if (p.exitValue() != 0) {
                log.warn("event hook exited {} for event {}", p.exitValue(), e.name());
            }
        } catch (IOException ex) {
            log.warn("cannot run the event hook: {}", ex.getMessage());
        } catch (InterruptedException ex) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() {
        runner.shutdown();
        try {
            runner.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
