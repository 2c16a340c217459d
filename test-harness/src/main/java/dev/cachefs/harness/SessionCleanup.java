package dev.cachefs.harness;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.platform.launcher.LauncherSession;
import org.junit.platform.launcher.LauncherSessionListener;

/**
 * Registered with the JUnit Platform: at the start of a test session it ends what crashed runs
 * left behind; at the end it checks that this run left nothing (no server, namespace, route or
 * mount), releases whatever it finds, and writes the list to the file named by the system
 * property {@code cachefs.harness.report}, which {@code ./dev test} fails on when not empty.
 */
public final class SessionCleanup implements LauncherSessionListener {
    @Override
    public void launcherSessionOpened(LauncherSession session) {
        List<String> found = Harness.sweep();
        if (!found.isEmpty()) {
            System.err.println("[harness] cleaned up after an earlier run: " + String.join("; ", found));
        }
    }

    @Override
    public void launcherSessionClosed(LauncherSession session) {
        List<String> left = Harness.releaseOwn();
        String report = System.getProperty("cachefs.harness.report");
        if (!left.isEmpty()) {
            System.err.println("[harness] tests left behind (now released): " + String.join("; ", left));
        }
        if (report != null) {
            try {
                Files.writeString(Path.of(report), left.isEmpty() ? "" : String.join("\n", left) + "\n");
            } catch (IOException e) {
                System.err.println("[harness] cannot write " + report + ": " + e.getMessage());
            }
        }
    }
}
