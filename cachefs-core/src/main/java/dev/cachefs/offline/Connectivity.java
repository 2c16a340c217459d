package dev.cachefs.offline;

import java.time.Instant;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Whether the mount works with its lower (ONLINE) or from its cache alone (OFFLINE), and the
 * transitions between the two. The mount goes offline when a lower call shows the lower
 * unreachable ({@link #lost}), or when told to ({@link #forceOffline}); a background probe finds
 * the lower back, and with the AUTO policy the mount goes online again by itself, unless
 * something stops it (local changes that wait for replay). Every transition is an {@link Event}
 * for the listeners: the log, {@code cachefs status}, the {@code --on-event} hook.
 */
public final class Connectivity implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Connectivity.class);

    public enum Mode { ONLINE, OFFLINE }

    /** Whether the mount goes online by itself once the lower is back (AUTO) or only when told to. */
    public enum Reconnect { AUTO, MANUAL }

    /**
     * What an event is about; {@link #wire} is its name for the hook ({@code CACHEFS_EVENT}, the
     * JSON's {@code event}) and the log.
     */
    public enum Kind {
        /** The mount went offline (a lower call failed, or cachefs offline). */
        OFFLINE("offline"),
        /** The mount went online (replay done). */
        ONLINE("online"),
        /** The probe found the lower answering again, or not answering any more. */
        LOWER_REACHABLE("lower-reachable"),
        LOWER_UNREACHABLE("lower-unreachable"),
        /** The lower answers, but something keeps the mount offline (the reason says what). */
        ONLINE_REFUSED("online-refused"),
        /** A replay finished (how many changes, how many conflicts). */
        REPLAYED("replayed"),
        /** Replay found a conflict (kind, path, how it was settled or that it waits). */
        CONFLICT("conflict"),
        /** A change made offline could not be recorded; nothing of it was applied. */
        LOCAL_CHANGE_FAILED("local-change-failed"),
        /** The cache disk is full while offline. */
        CACHE_DISK_FULL("cache-disk-full"),
        /** Write-back: an upload of queued changes failed (it is tried again). */
        UPLOAD_FAILED("upload-failed");

        public final String wire;

        Kind(String wire) {
            this.wire = wire;
        }
    }

    /** A transition or a finding, of a kind the hook and the log name by {@link Kind#wire}. */
    public record Event(Kind kind, Mode mode, String reason, long timeMs) {
        /** The name the hook sees. */
        public String name() {
            return kind.wire;
        }

        /** The event as one line of JSON, for the hook. */
        public String json(String mountpoint) {
            return "{\"event\":" + quote(kind.wire) + ",\"mode\":" + quote(mode.name().toLowerCase(java.util.Locale.ROOT))
                    + ",\"reason\":" + quote(reason) + ",\"time\":" + quote(Instant.ofEpochMilli(timeMs).toString())
                    + ",\"mountpoint\":" + quote(mountpoint) + "}";
        }

        public static String quote(String s) {
            StringBuilder b = new StringBuilder("\"");
            for (char c : s.toCharArray()) {
                switch (c) {
                    case '"' -> b.append("\\\"");
                    case '\\' -> b.append("\\\\");
                    case '\n' -> b.append("\\n");
                    default -> {
                        if (c < 0x20) {
                            b.append(String.format("\\u%04x", (int) c));
                        } else {
                            b.append(c);
                        }
                    }
                }
            }
            return b.append('"').toString();
        }
    }

    /** What the connectivity needs of the rest of the mount. */
    public interface Link {
        /** Checks that the lower answers and is the filesystem the cache belongs to; throws saying why not. */
        void probe() throws Exception;

        /** Makes the mount use the lower again (fresh descriptors of it); throws if it cannot. */
        void reconnect() throws Exception;

        /**
         * Readies the mount to go online (replays what offline changes wait), after {@link #reconnect};
         * what still stops it, or null.
         */
        String onlineBlocker();

        /** Runs {@code flip} (the switch to online) unless a change arrived meanwhile; whether it ran. */
        default boolean flipQuietly(Runnable flip) {
            flip.run();
            return true;
        }
    }

    /** Told of each transition before its event goes out: switches the lower, pauses copy-up, ... */
    public interface Switch {
        void offline();

        /** Just before the mode becomes online, under the lock every offline change takes. */
        void online();

        /** Once the mount is online, outside every lock of the switch (the kernel may be told things here). */
        default void afterOnline() {}
    }

    private final Link link;
    private final Reconnect policy;
    private final long probeIntervalMs;
    private final List<Switch> switches = new CopyOnWriteArrayList<>();
    private final List<Consumer<Event>> listeners = new CopyOnWriteArrayList<>();
    private final Thread prober;
    private volatile Mode mode;
    private volatile boolean forced;
    private volatile String reason;
    private volatile long sinceMs;
    private final java.time.InstantSource clock;
    private volatile Boolean reachable;
    private volatile Event last;
    private String lastRefusal;
    private volatile boolean closed;
    private final Object lock = new Object();

    public Connectivity(Link link, Reconnect policy, long probeIntervalMs, Mode initial, String reason) {
        this(link, policy, probeIntervalMs, initial, reason, java.time.InstantSource.system());
    }

    /** @param clock the wall clock of events and of {@link #sinceMs} (tests drive it) */
    public Connectivity(Link link, Reconnect policy, long probeIntervalMs, Mode initial, String reason,
                        java.time.InstantSource clock) {
        this.clock = clock;
        this.sinceMs = clock.millis();
        this.link = link;
        this.policy = policy;
        this.probeIntervalMs = probeIntervalMs;
        this.mode = initial;
        this.reason = reason;
        this.reachable = initial == Mode.ONLINE;
        this.prober = Thread.ofPlatform().daemon().name("cachefs-probe").unstarted(this::probeLoop);
    }

    /** Starts the probe; transitions before this are not announced. */
    public void start() {
        prober.start();
    }

    public void onSwitch(Switch s) {
        switches.add(s);
    }

    public void onEvent(Consumer<Event> l) {
        listeners.add(l);
    }

    public boolean offline() {
        return mode == Mode.OFFLINE;
    }

    public Mode mode() {
        return mode;
    }

    public String reason() {
        return reason;
    }

    public long sinceMs() {
        return sinceMs;
    }

    public boolean forced() {
        return forced;
    }

    /** What the last probe found (null: not probed yet). */
    public Boolean reachable() {
        return reachable;
    }

    public Reconnect policy() {
        return policy;
    }

    public Event lastEvent() {
        return last;
    }

    /** A lower call showed the lower unreachable: go offline (once). */
    public void lost(String why) {
        if (mode == Mode.OFFLINE) {
            return;
        }
        synchronized (lock) {
            if (mode == Mode.OFFLINE) {
                return;
            }
            reachable = false;
            toOffline(why);
        }
    }

    /** {@code cachefs offline}: stay offline until told otherwise. */
    public void forceOffline() {
        synchronized (lock) {
            forced = true;
            if (mode == Mode.ONLINE) {
                toOffline("forced offline (cachefs offline)");
            }
        }
    }

    /**
     * {@code cachefs online} (or the probe): go online if the lower answers and nothing stops it;
     * the answer says what happened.
     */
    public String goOnline(String why, boolean asked) {
        String answer = goOnlineLocked(why, asked);
        if (answer.equals("online")) {
            for (Switch s : switches) {
                try {
                    s.afterOnline();
                } catch (RuntimeException e) {
                    log.warn("after going online: {}", e.toString());
                }
            }
        }
        return answer;
    }

    private String goOnlineLocked(String why, boolean asked) {
        synchronized (lock) {
            if (asked) {
                forced = false;
            }
            if (mode == Mode.ONLINE) {
                return "already online";
            }
            try {
                link.probe();
            } catch (Exception e) {
                reachable = false;
                return "the lower is not reachable: " + message(e);
            }
            reachable = true;
            try {
                link.reconnect();
            } catch (Exception e) {
                return "cannot use the lower again: " + message(e);
            }
            String blocker = link.onlineBlocker();
            if (blocker != null) {
                if (asked || !blocker.equals(lastRefusal)) { // the probe says it once, not every round
                    emit(new Event(Kind.ONLINE_REFUSED, Mode.OFFLINE, blocker, clock.millis()));
                }
                lastRefusal = blocker;
                return "staying offline: " + blocker;
            }
            lastRefusal = null;
            boolean flipped = link.flipQuietly(() -> {
                mode = Mode.ONLINE;
                reason = why;
                sinceMs = clock.millis();
                for (Switch s : switches) {
                    s.online();
                }
            });
            if (!flipped) {
                return "staying offline: changes were made during the replay; the next round sends them";
            }
            log.info("ONLINE: {}", why);
            emit(new Event(Kind.ONLINE, Mode.ONLINE, why, sinceMs));
            synchronized (this) {
                notifyAll(); // readers waiting for the lower
            }
            return "online";
        }
    }

    private void toOffline(String why) {
        mode = Mode.OFFLINE;
        reason = why;
        sinceMs = clock.millis();
        for (Switch s : switches) {
            try {
                s.offline();
            } catch (RuntimeException e) {
                log.warn("going offline: {}", e.toString());
            }
        }
        log.warn("OFFLINE: {}; serving from the cache", why);
        emit(new Event(Kind.OFFLINE, Mode.OFFLINE, why, sinceMs));
        synchronized (this) {
            notifyAll(); // the probe starts at once
        }
    }

    /** A finding to announce without a transition (e.g. a local change refused for lack of space). */
    public void report(Kind kind, String why) {
        emit(new Event(kind, mode, why, clock.millis()));
    }

    private void emit(Event e) {
        last = e;
        for (Consumer<Event> l : listeners) {
            try {
                l.accept(e);
            } catch (RuntimeException ex) {
                log.warn("event listener failed: {}", ex.toString());
            }
        }
    }

    /** Waits up to {@code millis} for the mount to be online; whether it is. */
    public boolean awaitOnline(long millis) throws InterruptedException {
        long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
        synchronized (this) {
            while (mode == Mode.OFFLINE) {
                long left = TimeUnit.NANOSECONDS.toMillis(end - System.nanoTime());
                if (left <= 0) {
                    return false;
                }
                wait(Math.min(left, 200));
            }
        }
        return true;
    }

    private void probeLoop() {
        while (!closed) {
            synchronized (this) {
                try {
                    wait(probeIntervalMs);
                } catch (InterruptedException e) {
                    return;
                }
            }
            if (closed || mode == Mode.ONLINE) {
                continue;
            }
            boolean now;
            String why = null;
            try {
                link.probe();
                now = true;
            } catch (Exception e) {
                now = false;
                why = message(e);
            }
            Boolean before = reachable;
            reachable = now;
            if (before == null || before != now) {
                log.info("lower {}{}", now ? "reachable" : "unreachable", why == null ? "" : ": " + why);
                emit(new Event(now ? Kind.LOWER_REACHABLE : Kind.LOWER_UNREACHABLE, mode,
                        now ? "the probe reached the lower" : why, clock.millis()));
            }
            if (now && policy == Reconnect.AUTO && !forced) {
                String r = goOnline("the lower is reachable again", false);
                if (!r.equals("online")) {
                    log.debug("probe: {}", r);
                }
            }
            synchronized (this) {
                notifyAll();
            }
        }
    }

    private static String message(Exception e) {
        return e.getMessage() != null ? e.getMessage() : e.toString();
    }

    @Override
    public void close() {
        closed = true;
        prober.interrupt();
    }

    /** No more probes, hence no new replay; one in progress goes on (see {@code Uplink.quiesce}). */
    public void stopProbing() {
        closed = true;
    }
}
