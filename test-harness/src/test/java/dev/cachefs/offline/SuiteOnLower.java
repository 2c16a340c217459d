package dev.cachefs.offline;

import dev.cachefs.harness.Lower;
import dev.cachefs.harness.Lowers;
import dev.cachefs.harness.NetworkLower;
import dev.cachefs.harness.Stack;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;

/**
 * What the offline and resync suites share: one real lower for the class (a subclass names it),
 * one mount per test, closed after it, and the link restored and the client reconnected before
 * the next test starts.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class SuiteOnLower {
    protected Lower lower;
    /** The test's mount, closed after it (null: none). */
    protected Stack fx;

    protected abstract String kind();

    @BeforeAll
    void startLower() {
        lower = Lowers.start(kind());
    }

    @AfterAll
    void stopLower() {
        if (lower != null) {
            lower.close();
        }
    }

    @AfterEach
    void cleanUp() {
        try {
            if (fx != null) {
                fx.close();
                fx = null;
            }
        } finally {
            restore();
        }
    }

    /**
     * Takes the lower away and makes the mount notice (a lookup of a fresh name must reach it): the
     * link cut for a network lower, else the mount forced offline.
     */
    void takeLowerAway(Stack s) throws Exception {
        if (lower.isNetwork()) {
            lower.cutLink();
            OfflineSuite.within(OfflineSuite.DEADLINE_MS + OfflineSuite.SLACK_MS, "a lookup after the cut",
                    () -> Files.exists(s.mnt.resolve("probe-" + System.nanoTime())));
        } else {
            s.uplink.connectivity().forceOffline();
        }
        if (!s.uplink.connectivity().offline()) {
            throw new AssertionError("the mount did not go offline");
        }
    }

    /** Brings a network lower's link back at full speed and waits until its client works again. */
    void restore() {
        if (lower.isNetwork()) {
            lower.bandwidth(0);
            lower.restoreLink();
            try {
                // A change, not a listing: a client that has not yet noticed the cut answers a
                // listing from its own cache, and fails the next test's first change with EIO.
                NetworkLower.awaitTrue(Duration.ofSeconds(60), "the " + kind() + " client to reconnect", () -> {
                    Path probe = lower.root().resolve(".reconnected-" + System.nanoTime());
                    Files.createDirectory(probe);
                    Files.delete(probe);
                    return true;
                });
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        }
    }
}
