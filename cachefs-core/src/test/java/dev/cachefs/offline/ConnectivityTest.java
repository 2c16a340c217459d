package dev.cachefs.offline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The online/offline switch as a state machine, with a scripted link and no probe thread: what
 * takes the mount offline, what brings it back and what keeps it offline, in which order the
 * switches and events happen.
 */
class ConnectivityTest {
    /** A link whose answers the test sets. */
    private static final class Script implements Connectivity.Link {
        String probeFails;
        String blocker;
        boolean flips = true;
        final List<String> calls = new ArrayList<>();

        @Override
        public void probe() throws Exception {
            calls.add("probe");
            if (probeFails != null) {
                throw new java.io.IOException(probeFails);
            }
        }

        @Override
        public void reconnect() {
            calls.add("reconnect");
        }

        @Override
        public String onlineBlocker() {
            calls.add("blocker");
            return blocker;
        }

        @Override
        public boolean flipQuietly(Runnable flip) {
            calls.add("flip");
            if (flips) {
                flip.run();
            }
            return flips;
        }
    }

    private static Connectivity connectivity(Script link, List<String> seen) {
        Connectivity c = new Connectivity(link, Connectivity.Reconnect.AUTO, 60_000, Connectivity.Mode.ONLINE, "start");
        c.onSwitch(new Connectivity.Switch() {
            @Override
            public void offline() {
                seen.add("switch offline");
            }

            @Override
            public void online() {
                seen.add("switch online");
            }

            @Override
            public void afterOnline() {
                seen.add("after online");
            }
        });
        c.onEvent(e -> seen.add("event " + e.name() + " (" + e.mode() + ")"));
        return c;
    }

    @Test
    void lostGoesOfflineOnceAndTheLowerComingBackBringsItOnline() {
        Script link = new Script();
        List<String> seen = new ArrayList<>();
        Connectivity c = connectivity(link, seen);
        c.lost("stat: ETIMEDOUT");
        c.lost("read: ETIMEDOUT"); // already offline: nothing more
        assertTrue(c.offline());
        assertEquals("stat: ETIMEDOUT", c.reason());
        assertEquals(List.of("switch offline", "event offline (OFFLINE)"), seen, "the switch before the event, once");

        link.probeFails = "no route to host";
        String answer = c.goOnline("probe", false);
        assertTrue(answer.startsWith("the lower is not reachable: ") && answer.contains("no route to host"), answer);
        assertTrue(c.offline());
        assertEquals(Boolean.FALSE, c.reachable());

        link.probeFails = null;
        seen.clear();
        assertEquals("online", c.goOnline("the lower is reachable again", false));
        assertFalse(c.offline());
        assertEquals(List.of("probe", "probe", "reconnect", "blocker", "flip"), link.calls);
        assertEquals("switch online", seen.getFirst());
        assertTrue(seen.contains("event online (ONLINE)") && seen.contains("after online"), seen.toString());
        assertEquals("already online", c.goOnline("again", true));
    }

    @Test
    void aBlockerOrAChangeDuringTheReplayKeepsItOfflineAndARefusalIsAnnouncedOnce() {
        Script link = new Script();
        List<String> seen = new ArrayList<>();
        Connectivity c = connectivity(link, seen);
        c.lost("cut");
        seen.clear();
        link.blocker = "1 files changed offline are open";
        assertEquals("staying offline: 1 files changed offline are open", c.goOnline("probe", false));
        assertEquals("staying offline: 1 files changed offline are open", c.goOnline("probe", false));
        assertEquals(List.of("event online-refused (OFFLINE)"), seen, "the probe says it once, not every round");
        c.goOnline("asked", true);
        assertEquals(2, seen.size(), "asked by the user: said again");
        assertTrue(c.offline());

        link.blocker = null;
        link.flips = false;
        assertTrue(c.goOnline("probe", false).startsWith("staying offline: changes were made during the replay"));
        assertTrue(c.offline());
        link.flips = true;
        assertEquals("online", c.goOnline("probe", false));
    }

    @Test
    void forcedOfflineStaysUntilAskedAndTheProbeDoesNotUndoIt() {
        Script link = new Script();
        List<String> seen = new ArrayList<>();
        Connectivity c = connectivity(link, seen);
        c.forceOffline();
        assertTrue(c.offline() && c.forced());
        assertEquals("online", c.goOnline("cachefs online", true), "asked: the user's word ends it");
        assertFalse(c.forced());
        c.forceOffline();
        c.lost("a call failed as well");
        assertTrue(c.forced(), "a failure meanwhile does not make the mode unforced");
    }
}
