package dev.cachefs.fs;

import dev.cachefs.cache.CacheStats;
import dev.cachefs.fuse.FuseConnection;
import dev.cachefs.lower.LowerFs;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Libc;
import dev.cachefs.nativeio.Stat;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * Attributes the lower gave for a path, trusted for {@code meta_ttl} without asking again (0:
 * always ask), as an NFS client's actimeo: a walk of a tree the mount saw recently costs no round
 * trip. Opens still ask the lower (close-to-open, {@link #fresh}), files open for writing through
 * the mount are always asked, and every change through the mount drops what it touches.
 *
 * <p>Time comes from the clock given ({@code System::nanoTime} in the daemon), so tests drive it.
 * Thread-safe: the maps are concurrent; a race between a change and an answer being remembered
 * errs towards asking again.
 */
final class RecentAttributes {
    private record Seen(Stat st, long atNs) {}

    private final LowerFs lower;
    /** Counts answers given without the lower (or null). */
    private final CacheStats stats;
    private final LongSupplier nanoTime;
    private final com.github.benmanes.caffeine.cache.Cache<String, Seen> recent =
            com.github.benmanes.caffeine.cache.Caffeine.newBuilder().maximumSize(200_000).build();
    private volatile long ttlNs;
    /** Paths with files open for writing through the mount (how many): never answered from memory. */
    private final Map<String, Integer> openPaths = new ConcurrentHashMap<>();
    /** The path each such open file was opened at. */
    private final Map<Long, String> openedAt = new ConcurrentHashMap<>();

    RecentAttributes(LowerFs lower, CacheStats stats, LongSupplier nanoTime) {
        this.lower = lower;
        this.stats = stats;
        this.nanoTime = nanoTime;
    }

    /** How long answers are trusted; 0: never (everything remembered is forgotten). */
    void ttl(long millis) {
        this.ttlNs = TimeUnit.MILLISECONDS.toNanos(Math.max(0, millis));
        if (millis <= 0) {
            recent.invalidateAll();
        }
    }

    /** Forgets everything (the lower may have changed a lot: replay, reconnection). */
    void forgetAll() {
        recent.invalidateAll();
    }

    /** Whether a file is open for writing at {@code path} through the mount. */
    boolean openForWriting(String path) {
        return openPaths.containsKey(path);
    }

    /** The lower's attributes of {@code path}, from memory while fresh. */
    Stat stat(String path) throws ErrnoException {
        long ttl = ttlNs;
        if (ttl <= 0 || openPaths.containsKey(path)) {
            return lower.stat(path);
        }
        Seen seen = recent.getIfPresent(path);
        long now = nanoTime.getAsLong();
        if (seen != null && now - seen.atNs() < ttl) {
            if (stats != null) {
                stats.metaTtlHits.increment();
            }
            return seen.st();
        }
        Stat st = lower.stat(path);
        if (!openPaths.containsKey(path)) {
            recent.put(path, new Seen(st, now));
        }
        return st;
    }

    /**
     * The lower's attributes of {@code path} now (an open: close-to-open). If memory had handed the
     * kernel other ones, the kernel is told to drop them (attributes only, safe inside the
     * request), so it does not read the new version with the old size.
     */
    Stat fresh(long nodeid, String path, FuseConnection connection) throws ErrnoException {
        Seen old = recent.getIfPresent(path);
        Stat st = lower.stat(path);
        if (ttlNs > 0 && !openPaths.containsKey(path)) {
            recent.put(path, new Seen(st, nanoTime.getAsLong())); // the newest answer
        }
        if (old != null) {
            Stat o = old.st();
            if (connection != null && (o.size() != st.size() || o.mtimeNsTotal() != st.mtimeNsTotal()
                    || o.ctimeSec() != st.ctimeSec() || o.ctimeNsec() != st.ctimeNsec() || o.mode() != st.mode())) {
                connection.invalidateInode(nodeid, -1, 0);
            }
        }
        return st;
    }

    /** A change through the mount at {@code path}: what is remembered of it (and below it) goes, and of its parent. */
    void touched(String path, boolean under) {
        if (ttlNs <= 0 && recent.estimatedSize() == 0) {
            return;
        }
        recent.invalidate(path);
        if (under) {
            String prefix = path.isEmpty() ? "" : path + "/";
            recent.asMap().keySet().removeIf(k -> k.startsWith(prefix));
        }
        int slash = path.lastIndexOf('/');
        recent.invalidate(slash < 0 ? "" : path.substring(0, slash));
    }

    /** Forgets the attributes of {@code path} alone (a directory whose entries changed). */
    void forget(String path) {
        recent.invalidate(path);
    }

    /** Files open under {@code from} (or at it) are open under {@code to} now. */
    void movedOpen(String from, String to) {
        for (var e : openedAt.entrySet()) {
            String p = e.getValue();
            if (p.equals(from) || p.startsWith(from + "/")) {
                String now = to + p.substring(from.length());
                if (openedAt.replace(e.getKey(), p, now)) {
                    openPaths.computeIfPresent(p, (k, n) -> n <= 1 ? null : n - 1);
                    openPaths.merge(now, 1, Integer::sum);
                }
            }
        }
    }

    /**
     * A file opened through the mount: while open for writing its attributes are always asked
     * (they change under the writer), and dropped at close. Read-only opens change nothing.
     */
    void openAt(long fh, String path, int flags) {
        if ((flags & (Libc.O_ACCMODE | Libc.O_TRUNC)) == Libc.O_RDONLY) {
            return;
        }
        openedAt.put(fh, path);
        openPaths.merge(path, 1, Integer::sum);
        recent.invalidate(path);
    }

    void closedAt(long fh) {
        String path = openedAt.remove(fh);
        if (path != null) {
            openPaths.computeIfPresent(path, (k, n) -> n <= 1 ? null : n - 1);
            recent.invalidate(path);
        }
    }
}
