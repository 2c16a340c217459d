package dev.cachefs.fs;

import dev.cachefs.cache.CacheStats;
import dev.cachefs.fuse.FuseConnection;
import dev.cachefs.lower.LowerFs;
import dev.cachefs.nativeio.Errno;
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
 * <p>What an earlier mount learnt counts too: on a miss, attributes the index keeps
 * ({@link FileCache#remembered}) are trusted for what is left of their meta_ttl, so a remount
 * walks a tree it saw a moment ago without the lower. Not for paths changed through this mount
 * (their next answer is the lower's), nor for what the index had before a reconnection or a
 * replay ({@link #forgetAll}).
 *
 * <p>Time comes from the clocks given ({@code System::nanoTime} in the daemon; the index's wall
 * clock for its dates), so tests drive it.
 * Thread-safe: the maps are concurrent; a race between a change and an answer being remembered
 * errs towards asking again.
 */
final class RecentAttributes {
    /** An answer of the lower and when it came; {@code batch}: fetched with its directory's names (READDIRPLUS). */
    private record Seen(Stat st, long atNs, boolean batch) {
        Seen(Stat st, long atNs) {
            this(st, atNs, false);
        }
    }

    /**
     * How old an answer fetched with its directory's names may be and still serve as an open's
     * close-to-open check: the open follows the listing that revalidated the whole directory.
     */
    static final long OPEN_AFTER_LISTING_NS = TimeUnit.MILLISECONDS.toNanos(1000);

    private final LowerFs lower;
    /** Counts answers given without the lower (or null). */
    private final CacheStats stats;
    private final LongSupplier nanoTime;
    private final com.github.benmanes.caffeine.cache.Cache<String, Seen> recent =
            com.github.benmanes.caffeine.cache.Caffeine.newBuilder().executor(Runnable::run).maximumSize(200_000).build();
    private volatile long ttlNs;
    /** Paths with files open for writing through the mount (how many): never answered from memory. */
    private final Map<String, Integer> openPaths = new ConcurrentHashMap<>();
    /** The path each such open file was opened at. */
    private final Map<Long, String> openedAt = new ConcurrentHashMap<>();

    /** Where attributes an earlier mount kept are found ({@link FileCache#remembered}). */
    @FunctionalInterface
    interface Kept {
        FileCache.Remembered remembered(String path, long sinceMs);

        /** {@link #remembered} for a directory's names at once. */
        default java.util.Map<String, FileCache.Remembered> rememberedAll(java.util.List<String> paths, long sinceMs) {
            java.util.Map<String, FileCache.Remembered> out = new java.util.HashMap<>();
            for (String p : paths) {
                FileCache.Remembered r = remembered(p, sinceMs);
                if (r != null) {
                    out.put(p, r);
                }
            }
            return out;
        }

        /** {@code path} (and with {@code under}, below it) changed through this mount ({@link FileCache#changed}). */
        default void changed(String path, boolean under) {}

        /** Whether the lower is asked (online); offline the layer answers from the index, no round trips. */
        default boolean online() {
            return true;
        }
    }

    /** Attributes an earlier mount kept (null: none), and the wall clock of their dates. */
    private final Kept remembered;
    private final LongSupplier wallMs;
    /** Remembered answers from before this (wall ms) are not trusted: a reconnection or a replay came since. */
    private volatile long floorMs;
    /** Paths changed through this mount, and directories changed with all below them: their answers are the lower's. */
    private final java.util.Set<String> changed = ConcurrentHashMap.newKeySet();
    private final java.util.Set<String> changedUnder = ConcurrentHashMap.newKeySet();
    /** Past this many changed paths the remembered answers are no longer used (a bound on memory). */
    private static final int MAX_CHANGED = 100_000;

    RecentAttributes(LowerFs lower, CacheStats stats, LongSupplier nanoTime) {
        this(lower, stats, nanoTime, null, System::currentTimeMillis);
    }

    RecentAttributes(LowerFs lower, CacheStats stats, LongSupplier nanoTime, Kept remembered, LongSupplier wallMs) {
        this.lower = lower;
        this.stats = stats;
        this.nanoTime = nanoTime;
        this.remembered = remembered;
        this.wallMs = wallMs;
        this.names = new KnownNames(nanoTime);
    }

    /** ENOENT from the names of a directory made through the mount: the lower was not asked (nor anything learnt). */
    static final class KnownAbsent extends ErrnoException {
        KnownAbsent(String path) {
            super(Errno.ENOENT, path);
        }
    }

    /** The names of directories made through the mount, for lookups of names they lack. */
    private final KnownNames names;

    /** Directory {@code path} was made through the mount (empty, and named in its parent). */
    void madeDir(String path) {
        names.added(path);
        if (ttlNs > 0) {
            names.made(path);
        }
    }

    /** A name was made at {@code path} through the mount (a file, link, node or a rename's target). */
    void nameAdded(String path) {
        names.added(path);
    }

    /** The name at {@code path} was removed through the mount (unlink, rmdir, a rename's source). */
    void nameRemoved(String path) {
        names.removed(path);
    }

    /** How long answers are trusted; 0: never (everything remembered is forgotten). */
    void ttl(long millis) {
        this.ttlNs = TimeUnit.MILLISECONDS.toNanos(Math.max(0, millis));
        if (millis <= 0) {
            recent.invalidateAll();
            names.forgetAll();
        }
    }

    /**
     * How much longer the answer remembered for {@code path} is trusted (ns), 0 when none is: the
     * kernel may keep it that long too (longer entry and attribute timeouts), since the daemon
     * would give the same answer until then.
     */
    long trustedForNs(String path) {
        long ttl = ttlNs;
        if (ttl <= 0 || openPaths.containsKey(path)) {
            return 0;
        }
        Seen seen = recent.getIfPresent(path);
        return seen == null ? 0 : Math.max(0, ttl - (nanoTime.getAsLong() - seen.atNs()));
    }

    /** Forgets everything (the lower may have changed a lot: replay, reconnection). */
    void forgetAll() {
        changes.incrementAndGet();
        floorMs = wallMs.getAsLong();
        recent.invalidateAll();
        names.forgetAll();
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
        Stat kept = seen == null ? fromEarlierMount(path, now, ttl) : null;
        if (kept != null) {
            return kept;
        }
        if (names.absent(path, ttl)) {
            if (stats != null) {
                stats.knownAbsent.increment();
            }
            throw new KnownAbsent(path);
        }
        Stat st = ask(path, now);
        if (!openPaths.containsKey(path) && !fromRun(path, st, now)) {
            recent.put(path, new Seen(st, now));
        }
        return st;
    }

    /** Names revalidated together at most (about what one READDIRPLUS reply holds). */
    static final int TOGETHER = 128;

    /** A name of a directory the lower was asked about: which, when (ns), and how many answers in a row were round trips. */
    private record Asked(String path, long atNs, int roundTrips) {}

    /** Per directory: the last name the lower was asked about ({@link #ask}). */
    private final com.github.benmanes.caffeine.cache.Cache<String, Asked> askedIn =
            com.github.benmanes.caffeine.cache.Caffeine.newBuilder().executor(Runnable::run).maximumSize(4096).build();

    /**
     * The lower's attributes of {@code path}, asked now (a lookup's miss, an open's close-to-open
     * check). Names of one directory asked one after another, each within
     * {@link #OPEN_AFTER_LISTING_NS} of the last and each answer a round trip, are a run after
     * {@link #RUN_AFTER} (a reader going through the directory: {@code cat *}, a build, an
     * editor's project after a remount): then the directory is revalidated as a whole, one
     * listing of the lower and the attributes of its names from {@code path} on (up to
     * {@link #TOGETHER}) in one {@link LowerFs#statAll}, kept as a directory's batch, so the
     * lookups and the opens of the names that follow need no round trip each (as after a
     * READDIRPLUS).
     *
     * <p>The listing comes first: a network lower's listing carries the attributes (SFTP, NFS
     * READDIRPLUS) and its client keeps them, so the stats that follow are answered at once; one
     * by one, lookups in one directory of a FUSE lower (sshfs) are served one at a time. Answers
     * that cost no round trip (below {@link #roundTripNs}) break a run: a local lower, or a
     * network lower's client that still keeps the attributes (sshfs, 20 s), answers one by one at
     * once, and a listing would add its round trips. An open right after its own lookup keeps the
     * count (the lower's client answers it from that lookup). Names that are not there (ENOENT)
     * count for nothing, and a directory listed by a run is not listed again within the second
     * (a compiler's search of include paths asks for many names that are not there).
     */
    private Stat ask(String path, long now) throws ErrnoException {
        if (ttlNs <= 0 || (remembered != null && !remembered.online())) {
            return lower.stat(path); // offline the index answers: no round trip to save
        }
        int slash = path.lastIndexOf('/');
        String dir = slash < 0 ? "" : path.substring(0, slash);
        Asked before = askedIn.getIfPresent(dir);
        boolean inRow = before != null && now - before.atNs() < OPEN_AFTER_LISTING_NS;
        boolean again = inRow && before.path().equals(path);
        boolean another = inRow && !again;
        if (another && before.roundTrips() >= RUN_AFTER) {
            askedIn.put(dir, new Asked(path, now, RUN_AFTER));
            Stat st = revalidateTogether(dir, path, now);
            return st != null ? st : lower.stat(path);
        }
        // One file (opened again), no run yet, or answers that cost no round trip (the lower's
        // client keeps attributes: sshfs for 20 s): asked alone. An open right after its lookup
        // is answered by the lower's client from that lookup: it keeps the count.
        Stat st = lower.stat(path);
        int count;
        if (nanoTime.getAsLong() - now < roundTripNs) {
            count = again ? before.roundTrips() : 0; // no round trip: the run breaks
        } else if (another) {
            count = before.roundTrips() + 1;
        } else {
            count = again ? Math.max(1, before.roundTrips()) : 1;
        }
        askedIn.put(dir, new Asked(path, now, count));
        return st;
    }

    /** Whether {@code st} is what the run {@link #ask} began at {@code now} kept for {@code path} (it stays a batch's). */
    private boolean fromRun(String path, Stat st, long now) {
        Seen cur = recent.getIfPresent(path);
        return cur != null && cur.batch() && cur.atNs() == now && cur.st() == st;
    }

    /** The names a run's listing found in a directory, and when. */
    private record Listed(java.util.List<String> names, long atNs) {}

    /** Per directory: the last listing a run read (within a second it is not read again). */
    private final com.github.benmanes.caffeine.cache.Cache<String, Listed> listedIn =
            com.github.benmanes.caffeine.cache.Caffeine.newBuilder().executor(Runnable::run).maximumSize(64).build();

    /** Other names of one directory asked in a row, each a round trip, after which the next revalidates it whole. */
    static final int RUN_AFTER = 2;

    /**
     * An answer of the lower that took this long (ns) or longer was a round trip (see
     * {@link #RUN_AFTER}). Shorter ones came from the lower client's own cache,
     * where the opens are cheaper asked one by one than after a listing.
     */
    private volatile long roundTripNs = TimeUnit.MICROSECONDS.toNanos(500);

    /** For tests on a clock that does not move by itself: which answers count as round trips. */
    void roundTripAtLeast(long ns) {
        this.roundTripNs = ns;
    }

    private static int slashEnd(String path) {
        return path.lastIndexOf('/') + 1;
    }

    /** Entries of a directory read at most to revalidate it as a whole (a bound on one request's work). */
    static final int MAX_LISTED = 10_000;

    /** {@link #ask}'s run: {@code path} with the names after it in {@code dir}, in one go; null: ask alone. */
    private Stat revalidateTogether(String dir, String path, long now) throws ErrnoException {
        java.util.List<String> names;
        Listed listed = listedIn.getIfPresent(dir);
        if (listed != null && now - listed.atNs() < OPEN_AFTER_LISTING_NS) {
            names = listed.names(); // listed a moment ago: what is not fetched yet is asked alone (a name not there)
        } else {
            try {
                names = listLower(dir);
            } catch (ErrnoException e) {
                // Asked alone, the name meets its own failure. A lower that stopped answering was
                // taken offline by that failure (ModalLowerFs), and the cache answers at once.
                return null;
            }
            listedIn.put(dir, new Listed(names, now));
        }
        int n = names.size();
        int at = names.indexOf(path.substring(slashEnd(path))); // -1: not listed; all names from the first
        java.util.List<String> want = new java.util.ArrayList<>();
        want.add(path);
        for (int i = 1; i <= n && want.size() < TOGETHER; i++) {
            String p = dev.cachefs.nativeio.RawPath.child(dir, names.get(Math.floorMod(at + i, n)));
            Seen seen = recent.getIfPresent(p);
            if ((seen == null || !seen.batch() || now - seen.atNs() >= OPEN_AFTER_LISTING_NS) && !openPaths.containsKey(p)
                    && !p.equals(path)) {
                want.add(p);
            }
        }
        if (want.size() < 2) {
            return null;
        }
        long changesBefore = changes.get();
        java.util.Map<String, Stat> got;
        try {
            got = lower.statAll(want);
        } catch (ErrnoException e) {
            return null; // as above
        }
        if (stats != null) {
            stats.dirsRevalidated.increment();
            stats.statsAhead.add(got.size());
        }
        if (changes.get() != changesBefore) {
            return null; // a change through the mount raced the fetch: its answers may be older than it
        }
        keepBatch(got, now);
        return got.get(path);
    }

    /** Changes through the mount so far: answers fetched ahead across one are dropped. */
    private final java.util.concurrent.atomic.AtomicLong changes = new java.util.concurrent.atomic.AtomicLong();

    /**
     * Fetches ahead the attributes of {@code paths} (names of one directory) that are not fresh
     * in memory (nor kept by an earlier mount), all in one lower call ({@link LowerFs#statAll}),
     * so that the lookups a READDIRPLUS makes of them next are answered from memory. Nothing is
     * done with meta_ttl 0 (every lookup asks the lower). Failures are left to those lookups.
     *
     * <p>With {@code listFirst} (the listing being handed out is the cache's, not one just read
     * from the lower), the lower's directory {@code dir} is listed before the stats when there are
     * any to make: a network lower's client keeps the attributes its listing brought (see
     * {@link #ask}), and sshfs serves one directory's stats one at a time. Returns whether it
     * listed.
     */
    boolean statAhead(String dir, java.util.List<String> paths, boolean listFirst) {
        long ttl = ttlNs;
        if (ttl <= 0 || paths.size() < 2) {
            return false;
        }
        long now = nanoTime.getAsLong();
        java.util.List<String> want = new java.util.ArrayList<>();
        java.util.List<String> unseen = new java.util.ArrayList<>();
        for (String p : paths) {
            Seen seen = recent.getIfPresent(p);
            if ((seen == null || now - seen.atNs() >= ttl) && !openPaths.containsKey(p)) {
                (seen == null ? unseen : want).add(p);
            }
        }
        want.addAll(keptByEarlierMount(unseen, now, ttl)); // one index query for the directory, then the lower
        if (want.size() < 2) {
            return false;
        }
        long before = changes.get();
        java.util.Map<String, Stat> got;
        try {
            if (listFirst) {
                listLower(dir);
            }
            got = lower.statAll(want);
        } catch (ErrnoException e) {
            return listFirst; // the lookups ask one by one and meet the failure themselves
        }
        if (stats != null) {
            stats.statsAhead.add(got.size());
        }
        if (changes.get() != before) {
            return listFirst; // a change through the mount raced the fetch: its answers may be older than it
        }
        keepBatch(got, now);
        return listFirst;
    }

    /** Remembers what was fetched of a directory's names at {@code now} as a batch (an open's check for a moment). */
    private void keepBatch(java.util.Map<String, Stat> got, long now) {
        for (var e : got.entrySet()) {
            if (!openPaths.containsKey(e.getKey())) {
                recent.put(e.getKey(), new Seen(e.getValue(), now, true));
            }
        }
    }

    /** The names in the lower's directory {@code dir} now (up to {@link #MAX_LISTED}). */
    private java.util.List<String> listLower(String dir) throws ErrnoException {
        java.util.List<String> names = new java.util.ArrayList<>();
        try (dev.cachefs.lower.LowerDir d = lower.openDir(dir)) {
            for (var batch = d.next(); !batch.isEmpty() && names.size() < MAX_LISTED; batch = d.next()) {
                for (var e : batch) {
                    if (!e.name().equals(".") && !e.name().equals("..")) {
                        names.add(e.name());
                    }
                }
            }
        }
        return names;
    }

    /** What an earlier mount kept of {@code path}, if the lower gave it within meta_ttl and nothing since says otherwise. */
    private Stat fromEarlierMount(String path, long nowNs, long ttlNs) {
        if (remembered == null || changedHere(path)) {
            return null;
        }
        long wall = wallMs.getAsLong();
        FileCache.Remembered r = remembered.remembered(path, Math.max(floorMs, wall - TimeUnit.NANOSECONDS.toMillis(ttlNs)));
        if (r == null) {
            return null;
        }
        keep(path, r, nowNs, wall);
        if (stats != null) {
            stats.metaTtlHits.increment();
        }
        return r.st();
    }

    /** Remembers what an earlier mount kept of {@code path}, trusted for what is left of its meta_ttl. */
    private void keep(String path, FileCache.Remembered r, long nowNs, long wallMs) {
        long ageNs = TimeUnit.MILLISECONDS.toNanos(Math.max(0, wallMs - r.seenMs()));
        recent.put(path, new Seen(r.st(), nowNs - ageNs));
        if (stats != null) {
            stats.metaIndexHits.increment();
        }
    }

    /**
     * {@link #fromEarlierMount} for many paths in one go: those an earlier mount kept are
     * remembered now; the rest are returned.
     */
    private java.util.List<String> keptByEarlierMount(java.util.List<String> paths, long nowNs, long ttlNs) {
        if (remembered == null || paths.isEmpty()) {
            return paths;
        }
        java.util.List<String> ask = new java.util.ArrayList<>();
        java.util.List<String> rest = new java.util.ArrayList<>();
        for (String p : paths) {
            (changedHere(p) ? rest : ask).add(p);
        }
        long wall = wallMs.getAsLong();
        java.util.Map<String, FileCache.Remembered> kept = ask.isEmpty() ? java.util.Map.of()
                : remembered.rememberedAll(ask, Math.max(floorMs, wall - TimeUnit.NANOSECONDS.toMillis(ttlNs)));
        for (String p : ask) {
            FileCache.Remembered r = kept.get(p);
            if (r == null) {
                rest.add(p);
                continue;
            }
            keep(p, r, nowNs, wall);
        }
        return rest;
    }

    private boolean changedHere(String path) {
        if (changed.contains(path)) {
            return true;
        }
        if (changedUnder.isEmpty()) {
            return false;
        }
        for (String p = path; ; p = p.substring(0, p.lastIndexOf('/'))) {
            if (changedUnder.contains(p)) {
                return true;
            }
            if (p.lastIndexOf('/') < 0) {
                return !p.isEmpty() && changedUnder.contains("");
            }
        }
    }

    /** {@code path} changed through this mount: its next answer (and with {@code under}, of all below) is the lower's. */
    private void changedHere(String path, boolean under) {
        if (remembered == null) {
            return;
        }
        remembered.changed(path, under);
        if (changed.size() + changedUnder.size() > MAX_CHANGED) {
            floorMs = wallMs.getAsLong(); // too many to track: no remembered answer from before now
            changed.clear();
            changedUnder.clear();
        }
        changed.add(path);
        if (under) {
            changedUnder.add(path);
        }
    }

    /**
     * The lower's attributes of {@code path} now (an open: close-to-open). With meta_ttl, an answer
     * fetched with its whole directory (READDIRPLUS) less than {@link #OPEN_AFTER_LISTING_NS} ago
     * serves as the check: one revalidation of a directory answers for the files opened right
     * after it (a build, {@code git status}, an IDE reading what it just listed). If memory had handed the
     * kernel other ones, the kernel is told to drop them (attributes only, safe inside the
     * request), so it does not read the new version with the old size.
     */
    Stat fresh(long nodeid, String path, FuseConnection connection) throws ErrnoException {
        Seen old = recent.getIfPresent(path);
        if (old != null && old.batch() && ttlNs > 0 && !openPaths.containsKey(path)
                && nanoTime.getAsLong() - old.atNs() < OPEN_AFTER_LISTING_NS) {
            if (stats != null) {
                stats.opensAfterListing.increment();
            }
            return old.st(); // the directory was revalidated as a whole a moment ago
        }
        long now = nanoTime.getAsLong();
        Stat st = openPaths.containsKey(path) ? lower.stat(path) : ask(path, now);
        if (ttlNs > 0 && !openPaths.containsKey(path) && !fromRun(path, st, now)) {
            recent.put(path, new Seen(st, now)); // the newest answer
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
        changes.incrementAndGet();
        int slashAt = path.lastIndexOf('/');
        changedHere(path, under);
        changedHere(slashAt < 0 ? "" : path.substring(0, slashAt), false);
        if (ttlNs <= 0 && recent.estimatedSize() == 0) {
            return;
        }
        recent.invalidate(path);
        if (under) {
            names.forgetUnder(path);
            String prefix = path.isEmpty() ? "" : path + "/";
            recent.asMap().keySet().removeIf(k -> k.startsWith(prefix));
        }
        int slash = path.lastIndexOf('/');
        recent.invalidate(slash < 0 ? "" : path.substring(0, slash));
    }

    /** Forgets the attributes of {@code path} alone (a directory whose entries changed). */
    void forget(String path) {
        changes.incrementAndGet();
        changedHere(path, false);
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
        changes.incrementAndGet();
        openedAt.put(fh, path);
        openPaths.merge(path, 1, Integer::sum);
        changedHere(path, false);
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
