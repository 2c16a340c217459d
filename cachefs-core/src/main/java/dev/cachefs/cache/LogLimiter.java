package dev.cachefs.cache;

import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;

/**
 * Keeps a failure that repeats per request (a full cache disk, an unreadable index, a refused
 * offline change) to one log line per kind per window: the first is logged at once, the rest of
 * the window only counted, and the next one after it says how many were left out. The log then
 * shows every kind of trouble and when it went on, without a line per request.
 */
public final class LogLimiter {
    private final Logger log;
    private final long windowMs;
    private final ConcurrentHashMap<String, long[]> kinds = new ConcurrentHashMap<>(); // {window start, left out}

    public LogLimiter(Logger log, long windowMs) {
        this.log = log;
        this.windowMs = windowMs;
    }

    /** Logs at warn unless {@code kind} was logged within the window; true if it was logged. */
    public boolean warn(String kind, String format, Object... args) {
        return emit(false, kind, format, args);
    }

    /** As {@link #warn}, at error. */
    public boolean error(String kind, String format, Object... args) {
        return emit(true, kind, format, args);
    }

    private boolean emit(boolean error, String kind, String format, Object[] args) {
        long now = System.currentTimeMillis();
        long leftOut;
        long[] s = kinds.computeIfAbsent(kind, k -> new long[] {Long.MIN_VALUE, 0});
        synchronized (s) {
            if (s[0] != Long.MIN_VALUE && now - s[0] < windowMs) {
                s[1]++;
                return false;
            }
            leftOut = s[1];
            s[0] = now;
            s[1] = 0;
        }
        String f = leftOut == 0 ? format : format + " (and " + leftOut + " more like it left out of the log)";
        if (error) {
            log.error(f, args);
        } else {
            log.warn(f, args);
        }
        return true;
    }
}
