package dev.cachefs.offline;

import dev.cachefs.index.CacheIndex;
import dev.cachefs.cache.CacheLayer;
import dev.cachefs.cache.Policy;
import dev.cachefs.index.CacheStore;
import dev.cachefs.index.FileId;
import dev.cachefs.index.Fingerprint;
import dev.cachefs.index.IdentityMode;
import dev.cachefs.index.IndexException;
import dev.cachefs.index.JournalRecord;
import dev.cachefs.index.ObjectRecord;
import dev.cachefs.index.ObjectState;
import dev.cachefs.lower.LowerFile;
import dev.cachefs.lower.LowerFs;
import dev.cachefs.nativeio.Errno;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Libc;
import dev.cachefs.nativeio.Stat;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Replays the journal of offline changes on the lower, oldest first, each entry marked done once
 * it is on the lower, so a replay cut short (a crash, a second outage) goes on where it stopped;
 * a step that reached the lower but was not marked done is recognised when it is met again (the
 * lower already has exactly the local content; a keep-both copy has a name fixed by the entry's
 * time), so nothing is applied twice.
 *
 * <p>Before a change is applied, the lower's object is compared with the entry's base. Where the
 * lower changed too, the mount's conflict rules decide ({@code [conflicts]} in the config, first
 * matching pattern, default {@code ask}): keep-local, keep-remote (discard-local), keep-both
 * ({@code name.conflict-HOST-TIMESTAMP.ext} beside the lower's), newest-wins, ask (left open: the
 * mount shows the local version, every version readable under {@code .cachefs/conflicts/}),
 * merge (the built-in three-way text merge) or a {@link ConflictResolver} plug-in by name. The
 * versions a conflict involved are kept in the cache ({@code conflicts/SEQ/}: remote, base, local
 * when it did not reach the lower, merged), so whatever a rule chose, nothing is lost.
 *
 * <p>Data goes up whole from the local copy (its final content), written to a temporary name
 * and renamed over the target, so a reader never sees half of it.
 */
final class Replayer {
    private static final Logger log = LoggerFactory.getLogger(Replayer.class);
    private static final DateTimeFormatter STAMP = DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss");
    /** The built-in policies by name, for messages. */
    static final List<String> ACTIONS = java.util.Arrays.stream(Policy.Builtin.values()).map(Policy.Builtin::text).toList();

    /** What one replay did. */
    record Outcome(int applied, int conflicts, int open) {}

    private final CacheStore store;
    private final CacheIndex index;
    private final OfflineFs offline;
    private final IdentityMode mode;
    private final Connectivity connectivity;
    private final ConflictView view;
    private final List<Policy.ConflictRule> rules;
    private final Map<String, ConflictResolver> resolvers;
    private final String host;
    /** Progress of the replay running now (0 of 0 when none). */
    private volatile int progressDone;
    private volatile int progressTotal;
    /** The conflict the entry being applied met, recorded with the entry's completion. */
    private Pending pending;
    /** The journal entry being applied (names its upload files); 0 for a user's resolve. */
    private long currentSeq;
    /** Objects whose open conflict holds their later entries (they stay local until resolved). */
    private final Set<Long> held = java.util.concurrent.ConcurrentHashMap.newKeySet();

    private record Pending(Long objId, String path, String kind, String resolution, String detail) {}

    Replayer(CacheStore store, OfflineFs offline, IdentityMode mode, Connectivity connectivity, ConflictView view,
             List<Policy.ConflictRule> rules) {
        this.store = store;
        this.index = store.index();
        this.offline = offline;
        this.mode = mode;
        this.connectivity = connectivity;
        this.view = view;
        this.rules = List.copyOf(rules);
        this.resolvers = resolvers();
        Uplink.checkConflictRules(this.rules);
        String h;
        try {
            h = java.net.InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            h = "local";
        }
        this.host = h.replaceAll("[^A-Za-z0-9_.-]", "_");
    }

    /** The built-in merge and every plug-in on the class path, by name. */
    static Map<String, ConflictResolver> resolvers() {
        Map<String, ConflictResolver> m = new java.util.TreeMap<>();
        m.put("merge", new TextMerge());
        for (ConflictResolver r : java.util.ServiceLoader.load(ConflictResolver.class)) {
            m.putIfAbsent(r.name(), r);
        }
        return m;
    }

    /** "DONE of TOTAL" while a replay runs, else null. */
    String progress() {
        int t = progressTotal;
        return t == 0 ? null : progressDone + " of " + t;
    }

    /** The policy for a conflict at {@code path}: the first matching rule's, else ask. */
    Policy.ConflictAction actionFor(String path) {
        for (Policy.ConflictRule r : rules) {
            if (r.glob().matches(path)) {
                return r.action();
            }
        }
        return Policy.Builtin.ASK;
    }

    /** Replays what the journal holds now. Throws (resumable) when the lower fails. */
    Outcome replay(LowerFs lower) throws ErrnoException, IndexException {
        int applied = 0;
        int conflicts = 0;
        int opened = 0;
        List<CacheIndex.JournalEntry> entries = index.offlineJournal().entries();
        held.clear();
        for (CacheIndex.Conflict c : view.open().values()) {
            if (c.objId() != null) {
                held.add(c.objId());
            }
        }
        progressTotal = entries.size();
        progressDone = 0;
        long lastLog = System.nanoTime();
        try {
            for (CacheIndex.JournalEntry e : entries) {
                touched.add(parentOf(e.path()));
                replayedPaths.add(e.path());
                if (e.path2() != null) {
                    touched.add(parentOf(e.path2()));
                    replayedPaths.add(e.path2());
                }
                pending = null;
                currentSeq = e.seq();
                boolean skipped = e.objId() != null && held.contains(e.objId());
                boolean conflict = skipped ? false : apply(lower, e);
                Pending p = pending;
                // A conflict settled by its rule leaves the object as the rule made it (the remote
                // version, the merge, or the local one under its conflict name): record that too,
                // or the object keeps the attributes it had offline, and with them it could find
                // cached data of a version the lower no longer has.
                byte[] landedStat = skipped || (p != null && p.resolution() == null) ? null
                        : landed(lower, e, p != null);
                index.transaction(() -> {
                    if (p != null) {
                        index.conflictLog().add(p.objId(), p.path(), p.kind(), p.resolution(), p.detail());
                    }
                    if (landedStat != null) {
                        index.putMeta(LANDED + e.objId(), HexFormat.of().formatHex(landedStat));
                    }
                    index.offlineJournal().done(e.seq());
                });
                if (p != null) {
                    announce(p);
                    if (p.resolution() == null) {
                        opened++;
                    }
                }
                applied++;
                progressDone = applied;
                if (conflict) {
                    conflicts++;
                }
                if (System.nanoTime() - lastLog > 5_000_000_000L) {
                    log.info("replay: {} of {} offline changes done", applied, entries.size());
                    lastLog = System.nanoTime();
                }
            }
        } finally {
            progressTotal = 0;
            view.refresh();
        }
        if (applied > 0) {
            log.info("replayed {} offline changes ({} conflicts, {} left open)", applied, conflicts, opened);
        }
        return new Outcome(applied, conflicts, opened);
    }

    /** Paths the entries replayed since the last {@link #takeReplayedPaths} named. */
    private final Set<String> replayedPaths = java.util.concurrent.ConcurrentHashMap.newKeySet();

    /** The paths replay changed on the lower since the last call (some now name another lower object). */
    Set<String> takeReplayedPaths() {
        Set<String> out = new java.util.HashSet<>(replayedPaths);
        replayedPaths.removeAll(out);
        return out;
    }

    /** Directories the entries replayed since the last {@link #retire} touched. */
    private final Set<String> touched = java.util.concurrent.ConcurrentHashMap.newKeySet();

    private static String parentOf(String path) {
        int slash = path.lastIndexOf('/');
        return slash < 0 ? "" : path.substring(0, slash);
    }

    /** Where an object is on the lower now, if replay moved it aside (a conflict). */
    private String redirected(Long objId, String path) throws IndexException {
        if (objId == null) {
            return path;
        }
        String moved = index.meta("replay-path-" + objId).orElse("");
        return moved.isEmpty() ? path : moved;
    }

    private void redirect(long objId, String path) throws IndexException {
        index.putMeta("replay-path-" + objId, path);
    }

    private static Stat lstat(LowerFs lower, String path) throws ErrnoException {
        try {
            return lower.stat(path);
        } catch (ErrnoException e) {
            if (e.errno() == Errno.ENOENT) {
                return null;
            }
            throw e;
        }
    }

    private boolean sameAsBase(Stat now, byte[] base) {
        if (base == null) {
            return false;
        }
        Stat b = Stat.decode(base);
        return b.fileType() == now.fileType() && Fingerprint.of(b).sameVersion(Fingerprint.of(now), mode);
    }

    /**
     * A name beside {@code path} for the local version, fixed by the time of the local change
     * (so a replay that resumes finds the copy it made): name.conflict-HOST-TIMESTAMP.ext, with
     * -1, -2... where taken by something else.
     */
    private String conflictName(LowerFs lower, String path, long timeMs, Path local) throws ErrnoException {
        int slash = path.lastIndexOf('/');
        String dir = slash < 0 ? "" : path.substring(0, slash + 1);
        String name = path.substring(slash + 1);
        int dot = name.lastIndexOf('.');
        String stem = dot > 0 ? name.substring(0, dot) : name;
        String ext = dot > 0 ? name.substring(dot) : "";
        String when = LocalDateTime.ofInstant(java.time.Instant.ofEpochMilli(timeMs), java.time.ZoneId.systemDefault())
                .format(STAMP);
        String base = dir + stem + ".conflict-" + host + "-" + when;
        for (int i = 0; ; i++) {
            String candidate = base + (i == 0 ? "" : "-" + i) + ext;
            Stat there = lstat(lower, candidate);
            if (there == null || (local != null && there.isRegular() && sameContent(lower, candidate, there, local))) {
                return candidate;
            }
        }
    }

    /** Whether the lower's file at {@code path} holds exactly what {@code local} holds. */
    private static boolean sameContent(LowerFs lower, String path, Stat now, Path local) throws ErrnoException {
        try {
            if (local == null || !now.isRegular() || Files.size(local) != now.size()) {
                return false;
            }
        } catch (IOException e) {
            return false;
        }
        LowerFile f = lower.open(path, Libc.O_RDONLY, 0);
        try (FileChannel in = FileChannel.open(local, StandardOpenOption.READ); Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(1 << 20);
            java.nio.ByteBuffer mine = java.nio.ByteBuffer.allocate(1 << 20);
            long off = 0;
            while (true) {
                int n = f.read(off, buf);
                mine.clear();
                int m = 0;
                while (m < Math.max(n, 0) && mine.hasRemaining()) {
                    int r = in.read(mine, off + m);
                    if (r <= 0) {
                        break;
                    }
                    m += r;
                }
                if (n <= 0) {
                    return m == 0;
                }
                if (m != n || !java.util.Arrays.equals(buf.asSlice(0, n).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE), 0, n,
                        mine.array(), 0, n)) {
                    return false;
                }
                off += n;
            }
        } catch (IOException e) {
            return false;
        } finally {
            f.close();
        }
    }

    /** Copies the lower's file at {@code path} into {@code dst} (a cache file). */
    private static void fetch(LowerFs lower, String path, Path dst) throws ErrnoException {
        LowerFile f = lower.open(path, Libc.O_RDONLY, 0);
        try (FileChannel out = CacheStore.openPrivate(dst); Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(1 << 20);
            long off = 0;
            while (true) {
                int n = f.read(off, buf);
                if (n <= 0) {
                    break;
                }
                java.nio.ByteBuffer bb = buf.asSlice(0, n).asByteBuffer();
                while (bb.hasRemaining()) {
                    out.write(bb, off + bb.position());
                }
                off += n;
            }
            out.force(true);
        } catch (IOException e) {
            throw new ErrnoException(Errno.EIO, "cannot keep the lower's version of " + path + " in the cache: " + e.getMessage());
        } finally {
            f.close();
        }
    }

    private static void copy(Path from, Path to) throws ErrnoException {
        try {
            CacheStore.copyPrivate(from, to);
        } catch (IOException e) {
            throw new ErrnoException(Errno.EIO, "cannot keep " + from + " as " + to + ": " + e.getMessage());
        }
    }

    private Path variantsDir(long seq) throws ErrnoException {
        return variantsDirOf(view.variants(seq));
    }

    private Path baseCopy(long objId) {
        Path b = store.directory().resolve("base").resolve(Long.toString(objId));
        return Files.isRegularFile(b) ? b : null;
    }

    private static byte[] readSmall(Path p) {
        try {
            return p != null && Files.size(p) <= ConflictResolver.MAX_BYTES ? Files.readAllBytes(p) : null;
        } catch (IOException e) {
            return null;
        }
    }

    private void conflict(Long objId, String path, String kind, String resolution, String detail) {
        pending = new Pending(objId, path, kind, resolution, detail);
    }

    private void announce(Pending p) {
        String how = p.resolution() == null ? "open: resolve with cachefs resolve" : p.resolution();
        log.warn("conflict ({}) at {}: {} ({})", p.kind(), p.path(), how, p.detail());
        connectivity.report(Connectivity.Kind.CONFLICT, p.kind() + " at " + p.path() + ": " + how + "; " + p.detail());
    }

    /**
     * The lower changed (or removed) a file that was changed offline: the rules decide. Returns
     * true (a conflict), or false when the lower already has exactly the local version.
     */
    private boolean dataConflict(LowerFs lower, CacheIndex.JournalEntry e, String path, String kind, Stat remote, int fileMode)
            throws ErrnoException, IndexException {
        long obj = e.objId();
        Path local = offline.localCopy(obj);
        if (remote != null && sameContent(lower, path, remote, local)) {
            return false; // applied before a crash or an outage, or both made the same change
        }
        Policy.ConflictAction action = actionFor(path);
        Path dir = variantsDir(e.seq());
        if (remote != null && remote.isRegular()) {
            fetch(lower, path, dir.resolve("remote"));
        }
        Path base = baseCopy(obj);
        if (base != null) {
            copy(base, dir.resolve("base"));
        }
        String kept = "variants=" + e.seq();
        // A resolver is tried first; what it cannot merge cleanly is left open (ask).
        Policy.Builtin how = action instanceof Policy.Builtin b ? b : Policy.Builtin.ASK;
        ConflictResolver resolver = action instanceof Policy.Resolver r ? resolvers.get(r.name()) : null;
        if (resolver != null) {
            byte[] r = remote != null ? readSmall(dir.resolve("remote")) : null;
            byte[] l = readSmall(local);
            if (r != null && l != null) {
                ConflictResolver.Merge m = resolver.merge(path, readSmall(base), l, r);
                if (m != null) {
                    try {
                        CacheStore.writePrivate(dir.resolve("merged"), m.content());
                    } catch (IOException ex) {
                        throw new ErrnoException(Errno.EIO, "cannot keep the merge of " + path + ": " + ex.getMessage());
                    }
                    if (m.clean()) {
                        copy(local, dir.resolve("local"));
                        upload(lower, dir.resolve("merged"), path, fileMode);
                        conflict(obj, path, kind, "merged by " + resolver.name(), kept + "; the merge is on the lower");
                        return true;
                    }
                }
            }
        }
        if (how == Policy.Builtin.NEWEST_WINS) {
            long localMtime = index.stat(obj).map(Stat::mtimeNsTotal).orElse(e.timeMs() * 1_000_000L);
            how = remote == null || localMtime >= remote.mtimeNsTotal() ? Policy.Builtin.KEEP_LOCAL : Policy.Builtin.KEEP_REMOTE;
            kept = kept + "; newest-wins chose " + how.text().substring(5);
        }
        switch (how) {
            case KEEP_LOCAL -> {
                upload(lower, local, path, fileMode);
                conflict(obj, path, kind, "keep-local", kept + "; the lower's version before is kept in the cache");
            }
            case KEEP_REMOTE, DISCARD_LOCAL -> {
                copy(local, dir.resolve("local"));
                conflict(obj, path, kind, how.text(), kept + "; the local version is kept in the cache at " + dir.resolve("local"));
            }
            case KEEP_BOTH -> {
                String target = conflictName(lower, path, e.timeMs(), local);
                upload(lower, local, target, fileMode);
                redirect(obj, target);
                conflict(obj, path, kind, "keep-both", kept + "; the local version is " + target);
            }
            case ASK, NEWEST_WINS -> { // newest-wins was decided above
                held.add(obj);
                conflict(obj, path, kind, null, kept + "; the mount shows the local version until resolved");
            }
        }
        return true;
    }

    /** Applies one entry; whether it was a conflict. */
    private boolean apply(LowerFs lower, CacheIndex.JournalEntry e) throws ErrnoException, IndexException {
        JournalRecord r = e.record();
        String path = redirected(e.objId(), e.path());
        switch (r) {
            case JournalRecord.Create _, JournalRecord.Mkdir _, JournalRecord.Symlink _ -> parentsBack(lower, e, path);
            case JournalRecord.Rename _, JournalRecord.Link _ -> parentsBack(lower, e, e.path2());
            default -> { }
        }
        return switch (r) {
            case JournalRecord.Create c -> applyCreate(lower, e, path, c);
            case JournalRecord.Mkdir d -> applyMkdir(lower, e, path, d);
            case JournalRecord.Symlink sl -> applySymlink(lower, e, path, sl);
            case JournalRecord.Write _ -> applyWrite(lower, e, path);
            case JournalRecord.Truncate _ -> false; // the write entry before it sends the whole content
            case JournalRecord.Unlink _ -> applyUnlink(lower, e, path);
            case JournalRecord.Rmdir _ -> applyRmdir(lower, e, path);
            case JournalRecord.Rename _ -> applyRename(lower, e, path);
            case JournalRecord.Link l -> applyLink(lower, e, path, l);
            case JournalRecord.Chmod c -> quietly(lower, path, () -> lower.chmod(path, c.mode()));
            case JournalRecord.Chown c -> quietly(lower, path, () -> lower.chown(path, c.uid(), c.gid()));
            case JournalRecord.Utimens t -> quietly(lower, path, () ->
                    lower.utimens(path, t.atimeSec(), t.atimeNsec(), t.mtimeSec(), t.mtimeNsec()));
            case JournalRecord.SetXattr x -> quietly(lower, path, () -> {
                byte[] v = x.value();
                try (Arena arena = Arena.ofConfined()) {
                    MemorySegment seg = arena.allocate(Math.max(1, v.length));
                    MemorySegment.copy(v, 0, seg, java.lang.foreign.ValueLayout.JAVA_BYTE, 0, v.length);
                    lower.setxattr(path, x.name(), seg.asSlice(0, v.length), 0);
                }
            });
            case JournalRecord.RemoveXattr x -> quietly(lower, path, () -> lower.removexattr(path, x.name()));
            case JournalRecord.Unknown u -> {
                log.warn("journal entry {} has an unknown operation {}; left alone", e.seq(), u.op());
                yield false;
            }
        };
    }

    private boolean applyCreate(LowerFs lower, CacheIndex.JournalEntry e, String path, JournalRecord.Create c)
            throws ErrnoException, IndexException {
        Stat now = lstat(lower, path);
        int m = c.mode();
        if (now == null) {
            upload(lower, offline.localCopy(e.objId()), path, m);
        } else if (now.isRegular() && offline.localCopy(e.objId()) != null) {
            return dataConflict(lower, e, path, "both-created", now, m);
        } else {
            String target = conflictName(lower, path, e.timeMs(), offline.localCopy(e.objId()));
            upload(lower, offline.localCopy(e.objId()), target, m);
            redirect(e.objId(), target);
            conflict(e.objId(), path, "both-created", "keep-both", "the lower has another kind of file there; the local one is " + target);
            return true;
        }
        return false;
    }

    private boolean applyMkdir(LowerFs lower, CacheIndex.JournalEntry e, String path, JournalRecord.Mkdir d)
            throws ErrnoException, IndexException {
        Stat now = lstat(lower, path);
        if (now == null) {
            lower.mkdir(path, d.mode());
        } else if (!now.isDirectory()) {
            String target = conflictName(lower, path, e.timeMs(), null);
            lower.mkdir(target, d.mode());
            redirect(e.objId(), target);
            conflict(e.objId(), path, "both-created", "keep-both", "the lower has a file there; the directory is " + target);
            return true;
        } // both made the directory: one directory, with what each put in it
        return false;
    }

    private boolean applySymlink(LowerFs lower, CacheIndex.JournalEntry e, String path, JournalRecord.Symlink sl)
            throws ErrnoException, IndexException {
        String target = sl.target();
        Stat now = lstat(lower, path);
        if (now == null) {
            lower.symlink(target, path);
        } else if (!(now.isSymlink() && lower.readlink(path).equals(target))) {
            String other = symlinkConflictName(lower, path, e.timeMs(), target);
            if (lstat(lower, other) == null) {
                lower.symlink(target, other);
            }
            redirect(e.objId(), other);
            conflict(e.objId(), path, "both-created", "keep-both", "the lower has another " + path + "; the symlink is " + other);
            return true;
        }
        return false;
    }

    private boolean applyWrite(LowerFs lower, CacheIndex.JournalEntry e, String path)
            throws ErrnoException, IndexException {
        if (offline.localCopy(e.objId()) == null) {
            return false; // deleted offline after: nothing to send
        }
        ObjectRecord rec = index.get(e.objId()).orElse(null);
        if (rec != null && rec.fileId().isProvisional()) {
            return false; // made offline: its create sends the data
        }
        Stat now = lstat(lower, path);
        int m = index.stat(e.objId()).map(st -> st.mode() & 07777).orElse(0644);
        if (now == null) {
            return dataConflict(lower, e, path, "updated-locally-deleted-remotely", null, m);
        }
        if (sameAsBase(now, e.base())) {
            upload(lower, offline.localCopy(e.objId()), path, now.mode() & 07777);
        } else {
            return dataConflict(lower, e, path, "both-updated", now, now.mode() & 07777);
        }
        return false;
    }

    private boolean applyUnlink(LowerFs lower, CacheIndex.JournalEntry e, String path)
            throws ErrnoException, IndexException {
        Stat now = lstat(lower, path);
        if (now == null) {
            return false;
        }
        ObjectRecord rec = index.get(e.objId()).orElse(null);
        boolean ours = rec != null && rec.fileId().isProvisional();
        if (ours || sameAsBase(now, e.base()) || e.base() == null) {
            lower.unlink(path);
        } else {
            return deletedLocallyUpdatedRemotely(lower, e, path, now);
        }
        return false;
    }

    private boolean applyRmdir(LowerFs lower, CacheIndex.JournalEntry e, String path)
            throws ErrnoException, IndexException {
        try {
            lower.rmdir(path);
        } catch (ErrnoException ex) {
            if (ex.errno() == Errno.ENOENT) {
                return false;
            }
            if (ex.errno() != Errno.ENOTEMPTY && ex.errno() != Errno.EEXIST) {
                throw ex;
            }
            conflict(e.objId(), path, "removed-locally-changed-remotely", "keep-remote", "the lower has new entries in it; it stays");
            return true;
        }
        return false;
    }

    private boolean applyRename(LowerFs lower, CacheIndex.JournalEntry e, String path)
            throws ErrnoException, IndexException {
        String to = e.path2();
        Stat now = lstat(lower, path);
        if (now == null) {
            Stat there = lstat(lower, to);
            Path local = e.objId() == null ? null : offline.localCopy(e.objId());
            if (there != null && sameContent(lower, to, there, local)) {
                return false; // renamed before a crash or an outage
            }
            if (local != null) {
                upload(lower, local, there == null ? to : conflictName(lower, to, e.timeMs(), local), 0644);
            }
            redirect(e.objId(), to);
            conflict(e.objId(), path, "renamed-locally-deleted-remotely", "keep-local", "what the cache has of it is at " + to);
            return true;
        }
        String target = lstat(lower, to) == null ? to : conflictName(lower, to, e.timeMs(), null);
        lower.rename(path, target, 0);
        if (e.objId() != null) {
            redirect(e.objId(), target); // where it is now, for its later entries
        }
        if (!target.equals(to)) {
            conflict(e.objId(), to, "rename-onto-existing", "keep-both", "the lower made " + to + " meanwhile; this is " + target);
            return true;
        }
        return false;
    }

    private boolean applyLink(LowerFs lower, CacheIndex.JournalEntry e, String path, JournalRecord.Link l)
            throws ErrnoException, IndexException {
        String to = e.path2();
        Stat now = lstat(lower, path);
        long linked = l.newObj();
        if (now == null) {
            Stat there = lstat(lower, to);
            if (there != null && sameContent(lower, to, there, offline.localCopy(linked))) {
                return false;
            }
            upload(lower, offline.localCopy(linked), to, 0644);
            conflict(e.objId(), to, "linked-locally-deleted-remotely", "keep-local", "the lower lost " + path + "; its copy is " + to);
            return true;
        }
        Stat there = lstat(lower, to);
        if (there != null && there.ino() == now.ino() && there.dev() == now.dev()) {
            return false; // linked before a crash or an outage
        }
        String target = there == null ? to : conflictName(lower, to, e.timeMs(), null);
        try {
            lower.link(path, target);
        } catch (Guard.Unreachable u) {
            throw u;
        } catch (ErrnoException ex) {
            upload(lower, offline.localCopy(linked), target, now.mode() & 07777); // no hard links there: a copy
            log.warn("replay: the lower cannot hard link {} ({}); {} is a copy", path, ex.getMessage(), target);
        }
        redirect(linked, target);
        if (!target.equals(to)) {
            conflict(linked, to, "both-created", "keep-both", "the lower made " + to + " too; the link is " + target);
            return true;
        }
        return false;
    }

    private interface Call {
        void run() throws ErrnoException;
    }

    /**
     * A metadata change: applied if the object is still there; a lower that cannot take it (no
     * chown on SMB, no xattrs on NFS via gvfs) says so in the log and the change stays local.
     */
    /** Applies a metadata change where the object still is; never a conflict (false). */
    private boolean quietly(LowerFs lower, String path, Call c) throws ErrnoException {
        if (lstat(lower, path) == null) {
            return false;
        }
        try {
            c.run();
        } catch (Guard.Unreachable u) {
            throw u;
        } catch (ErrnoException e) {
            log.warn("replay: the lower refused a metadata change of {}: {}", path, e.getMessage());
        }
        return false;
    }

    /**
     * Sends {@code src} (a local copy, a merge; null: an empty file) to {@code target} on the
     * lower: written under a temporary name beside it, synced, and renamed over it.
     */
    private void upload(LowerFs lower, Path src, String target, int mode) throws ErrnoException {
        int slash = target.lastIndexOf('/');
        // Named by the journal entry: a replay that resumes replaces what a cut-short one left.
        String name = target.substring(slash + 1);
        String tmp = (slash < 0 ? "" : target.substring(0, slash + 1)) + ".cachefs-upload-" + currentSeq + "-"
                + (name.length() > 180 ? name.substring(0, 180) : name);
        try {
            lower.unlink(tmp);
        } catch (Guard.Unreachable u) {
            throw u;
        } catch (ErrnoException ignored) {
            // none left behind: the usual case
        }
        LowerFile f = lower.open(tmp, Libc.O_WRONLY | Libc.O_CREAT | Libc.O_EXCL, mode);
        try {
            if (src != null) {
                try (FileChannel in = FileChannel.open(src, StandardOpenOption.READ); Arena arena = Arena.ofConfined()) {
                    MemorySegment buf = arena.allocate(1 << 20);
                    long off = 0;
                    java.nio.ByteBuffer bb = buf.asByteBuffer();
                    while (true) {
                        bb.clear();
                        int n = in.read(bb, off);
                        if (n <= 0) {
                            break;
                        }
                        long done = 0;
                        while (done < n) {
                            done += f.write(off + done, buf.asSlice(done, n - done));
                        }
                        off += n;
                    }
                } catch (IOException ex) {
                    throw new ErrnoException(Errno.EIO, "cannot read " + src + ": " + ex.getMessage());
                }
            }
            f.fsync(false);
        } catch (ErrnoException ex) {
            f.close();
            try {
                lower.unlink(tmp);
            } catch (ErrnoException ignored) {
                // the lower went away: an orphan upload file stays behind, named as one
            }
            throw ex;
        }
        f.close();
        lower.rename(tmp, target, 0);
    }

    /** Like {@link #conflictName} for a symlink: the name already holding this symlink is reused. */
    private String symlinkConflictName(LowerFs lower, String path, long timeMs, String target) throws ErrnoException {
        String first = conflictName(lower, path, timeMs, null);
        String plain = first.replaceFirst("-1$", "");
        for (String candidate : List.of(plain, first)) {
            Stat there = lstat(lower, candidate);
            if (there != null && there.isSymlink() && lower.readlink(candidate).equals(target)) {
                return candidate;
            }
        }
        return first;
    }

    /**
     * Makes the directories above {@code path} that the lower removed while the mount was
     * offline, so what was made in them offline can land; a conflict says so.
     */
    private void parentsBack(LowerFs lower, CacheIndex.JournalEntry e, String path) throws ErrnoException {
        String parent = parentOf(path);
        if (parent.isEmpty() || lstat(lower, parent) != null) {
            return;
        }
        List<String> missing = new java.util.ArrayList<>();
        for (String d = parent; !d.isEmpty() && lstat(lower, d) == null; d = parentOf(d)) {
            missing.add(0, d);
        }
        for (String d : missing) {
            lower.mkdir(d, 0755);
        }
        conflict(e.objId(), path, "created-in-directory-removed-remotely", "keep-local",
                "the lower removed " + missing.getFirst() + "; it is made again for what was made in it offline");
    }

    /** A file deleted offline that the lower changed meanwhile. */
    private boolean deletedLocallyUpdatedRemotely(LowerFs lower, CacheIndex.JournalEntry e, String path, Stat now)
            throws ErrnoException, IndexException {
        String kind = "deleted-locally-updated-remotely";
        // Only keep-local and ask differ here: every other action keeps the lower's newer version.
        Policy.ConflictAction action = actionFor(path);
        Policy.Builtin how = action instanceof Policy.Builtin b ? b : Policy.Builtin.KEEP_REMOTE;
        Path dir = variantsDir(e.seq());
        if (now.isRegular()) {
            fetch(lower, path, dir.resolve("remote"));
        }
        Path base = e.objId() == null ? null : baseCopy(e.objId());
        if (base != null) {
            copy(base, dir.resolve("base"));
        }
        String kept = "variants=" + e.seq();
        if (how == Policy.Builtin.NEWEST_WINS) {
            how = e.timeMs() * 1_000_000L >= now.mtimeNsTotal() ? Policy.Builtin.KEEP_LOCAL : Policy.Builtin.KEEP_REMOTE;
            kept = kept + "; newest-wins chose " + how.text().substring(5);
        }
        switch (how) {
            case KEEP_LOCAL -> {
                lower.unlink(path);
                conflict(e.objId(), path, kind, "keep-local", kept + "; deleted; the lower's version is kept in the cache");
            }
            case ASK -> conflict(e.objId(), path, kind, null, kept + "; the lower's version stays until resolved");
            default -> conflict(e.objId(), path, kind, "keep-remote", kept + "; the lower's newer version stays");
        }
        return true;
    }

    /**
     * Settles an open conflict as the user says: {@code local}, {@code remote}, {@code both} or
     * {@code merged}. Returns where each version went.
     */
    String resolve(LowerFs lower, CacheIndex.Conflict c, String keep) throws ErrnoException, IndexException {
        if (!c.open()) {
            throw new ErrnoException(Errno.EINVAL, "conflict " + c.id() + " at " + c.path() + " is resolved already");
        }
        currentSeq = 0;
        Path local = c.objId() == null ? null : offline.localCopy(c.objId());
        Path dir = view.variantsOf(c);
        String path = c.path();
        int fileMode = c.objId() == null ? 0644 : index.stat(c.objId()).map(st -> st.mode() & 07777).orElse(0644);
        String detail;
        switch (keep) {
            case "local" -> {
                if (local != null) {
                    upload(lower, local, path, fileMode);
                    detail = "the local version is on the lower";
                } else {
                    if (lstat(lower, path) != null) {
                        lower.unlink(path);
                    }
                    detail = "deleted as it was offline; the lower's version is kept in the cache";
                }
            }
            case "remote" -> {
                if (local != null && dir != null) {
                    copy(local, variantsDirOf(dir).resolve("local"));
                }
                detail = "the lower's version stays; the local one is kept in the cache at " + (dir == null ? "?" : dir.resolve("local"));
            }
            case "both" -> {
                if (local != null) {
                    String target = conflictName(lower, path, c.detectedMs(), local);
                    upload(lower, local, target, fileMode);
                    detail = "the local version is " + target;
                } else {
                    detail = "the lower's version stays (the file was deleted offline)";
                }
            }
            case "merged" -> {
                Path merged = dir == null ? null : dir.resolve("merged");
                if (merged == null || !Files.isRegularFile(merged)) {
                    throw new ErrnoException(Errno.EINVAL, "no merged version of " + path + " (its rule merged nothing)");
                }
                upload(lower, merged, path, fileMode);
                detail = "the merge (as edited in " + merged + ") is on the lower";
            }
            default -> throw new ErrnoException(Errno.EINVAL, "keep what? local, remote, both or merged, not " + keep);
        }
        index.conflictLog().resolve(c.id(), "keep-" + keep + " (by the user)", c.detail() + "; " + detail);
        if (c.objId() != null) {
            held.remove(c.objId());
            ObjectRecord r = index.get(c.objId()).orElse(null);
            if (r != null) {
                // the object is what the lower has at its path now, not what it was offline
                try {
                    Stat now = lstat(lower, path);
                    if (now != null) {
                        index.setStat(r.id(), now);
                    }
                } catch (ErrnoException e) {
                    // the lower went away again: its attributes come with the next lookup online
                    log.debug("after resolving {}: {}", path, e.getMessage());
                }
                forgetCopies(r);
            }
        }
        view.refresh();
        touched.add(parentOf(path));
        for (String d : touched) {
            index.listingStale(d);
        }
        touched.clear();
        return detail;
    }

    private static Path variantsDirOf(Path dir) throws ErrnoException {
        try {
            return CacheStore.privateDirectories(dir);
        } catch (IOException e) {
            throw new ErrnoException(Errno.EIO, "cannot make " + dir + ": " + e.getMessage());
        }
    }

    /** An object's offline copies are no longer needed: they are removed, and its row reset. */
    private void forgetCopies(ObjectRecord r) throws IndexException {
        Path local = offline.localCopy(r.id());
        try {
            if (local != null && index.localUsers(index.local(r.id()).orElse("")) <= 1) {
                Files.deleteIfExists(local);
            }
            Files.deleteIfExists(store.directory().resolve("base").resolve(Long.toString(r.id())));
        } catch (IOException e) {
            log.warn("cannot remove the offline copies of {}: {}", r.path(), e.getMessage());
        }
        index.setLocal(r.id(), null);
        if (r.fileId().isProvisional()) {
            index.delete(r.id());
        } else {
            index.setState(r.id(), ObjectState.METADATA_ONLY);
        }
        index.putMeta("replay-path-" + r.id(), "");
    }

    /** Meta key prefix: the lower's attributes of an object as its last replayed change left them. */
    private static final String LANDED = "replay-landed-";

    /**
     * The lower's attributes of the object {@code e} changed, now that it is applied: what the
     * object becomes at retirement, so that the next offline change's base is the lower's real
     * version (not the one made offline, which would look like a remote change: a false conflict).
     * Kept in the index with the entry's done mark, so a crash before retirement loses nothing.
     */
    private byte[] landed(LowerFs lower, CacheIndex.JournalEntry e, boolean settled) throws ErrnoException, IndexException {
        if (e.objId() == null || e.record() instanceof JournalRecord.Unlink || e.record() instanceof JournalRecord.Rmdir) {
            return null;
        }
        boolean moves = e.record() instanceof JournalRecord.Rename || e.record() instanceof JournalRecord.Link;
        // a settled conflict may have sent the object elsewhere (keep-both: under its conflict name)
        String at = moves ? e.path2() : settled ? redirected(e.objId(), e.path()) : e.path();
        Stat st = lstat(lower, at);
        return st == null ? null : st.encode();
    }

    /** What the last replayed change of {@code r} left it as on the lower, if recorded. */
    private Stat landedOf(ObjectRecord r) throws IndexException {
        String hex = index.meta(LANDED + r.id()).orElse("");
        return hex.isEmpty() ? null : Stat.decode(HexFormat.of().parseHex(hex));
    }

    /** Gives the object retired as {@code r} (now {@code current}, or replaced by the row of {@code real}) what its replay landed. */
    private void land(ObjectRecord r, FileId real, boolean kept) throws IndexException {
        Stat st = landedOf(r);
        if (st == null) {
            return;
        }
        if (kept) {
            index.setStat(r.id(), st);
        } else if (real != null) {
            var other = index.find(real);
            if (other.isPresent()) {
                index.setStat(other.get().id(), st);
            }
        }
        index.putMeta(LANDED + r.id(), "");
    }

    /** Takes a local copy that replay wrote to the lower as the cached data of what it became there. */
    @FunctionalInterface
    interface Adopter {
        void adopt(String path, FileId id, Stat st, Path local) throws ErrnoException;
    }

    /** {@link #retire(CacheLayer.Identifier, Adopter)} with no cache layer to adopt the copies (at start). */
    void retire(CacheLayer.Identifier ids) throws IndexException {
        retire(ids, null);
    }

    /**
     * After a replay that left the journal empty: the local and base copies are retired (but for
     * objects held by an open conflict), objects made offline get the lower's identity (re-keyed,
     * so their attributes, xattrs and pins stay; a row the lower's identity already has wins),
     * changed objects' cached data is dropped (it is the old version), and listings of the
     * directories the journal touched are no longer trusted.
     *
     * <p>A local copy whose object's every change reached the lower as it was made offline (no
     * conflict ever recorded for it, its last replayed change landed, the lower's size is the
     * copy's) goes to {@code adopter} (if not null) before it is removed, so that what was written
     * offline stays readable offline.
     */
    void retire(CacheLayer.Identifier ids, Adopter adopter) throws IndexException {
        Set<Long> open = new java.util.HashSet<>(held);
        for (CacheIndex.Conflict c : view.open().values()) {
            if (c.objId() != null) {
                open.add(c.objId());
            }
        }
        Set<Long> conflicted = new java.util.HashSet<>();
        if (adopter != null) {
            for (CacheIndex.Conflict c : index.conflictLog().all()) {
                if (c.objId() != null) {
                    conflicted.add(c.objId());
                }
            }
        }
        for (ObjectRecord r : index.changedOffline()) {
            if (open.contains(r.id())) {
                continue;
            }
            String now = redirected(r.id(), r.path());
            Path local = offline.localCopy(r.id());
            Stat landedSt = adopter == null || local == null || now == null || conflicted.contains(r.id()) ? null : landedOf(r);
            if (landedSt != null) {
                try {
                    if (!landedSt.isRegular() || Files.size(local) != landedSt.size()) {
                        landedSt = null;
                    }
                } catch (IOException e) {
                    landedSt = null;
                }
            }
            index.setLocal(r.id(), null);
            index.setState(r.id(), ObjectState.METADATA_ONLY);
            FileId target = null; // the identity the object has on the lower now, if known
            if (r.fileId().isProvisional()) {
                FileId real = null;
                if (ids != null && now != null && now.equals(r.path())) {
                    try {
                        real = ids.idOf(now);
                    } catch (ErrnoException e) {
                        // gone again, or the lower went away: its identity is found at the next lookup
                    }
                }
                boolean kept = real != null && index.rekey(r.id(), real);
                land(r, real, kept);
                if (!kept) {
                    index.delete(r.id());
                } else {
                    target = real;
                }
            } else {
                land(r, null, true);
                target = r.fileId();
            }
            if (landedSt != null && target != null) {
                try {
                    adopter.adopt(now, target, landedSt, local);
                } catch (ErrnoException e) {
                    log.warn("cannot keep the offline copy of {} as its cached data: {}", now, e.getMessage());
                }
            }
            try {
                if (local != null) {
                    Files.deleteIfExists(local);
                }
                Files.deleteIfExists(store.directory().resolve("base").resolve(Long.toString(r.id())));
            } catch (IOException e) {
                log.warn("cannot remove the offline copies of {}: {}", r.path(), e.getMessage());
            }
            index.putMeta("replay-path-" + r.id(), "");
        }
        // Objects changed offline in their metadata only (no local copy) get theirs too.
        for (var e : index.metaStartingWith(LANDED).entrySet()) {
            long id = Long.parseLong(e.getKey().substring(LANDED.length()));
            if (!open.contains(id) && index.get(id).isPresent()) {
                index.setStat(id, Stat.decode(HexFormat.of().parseHex(e.getValue())));
            }
            if (!open.contains(id)) {
                index.putMeta(e.getKey(), "");
            }
        }
        for (String d : touched) {
            index.listingStale(d);
        }
        touched.clear();
    }
}
