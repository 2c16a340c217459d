package dev.cachefs.resync;

import dev.cachefs.index.ErrnoMapping;
import dev.cachefs.cache.CacheLayer;
import dev.cachefs.cache.Policy;
import dev.cachefs.index.CacheIndex;
import dev.cachefs.index.CacheStore;
import dev.cachefs.index.Fingerprint;
import dev.cachefs.index.IdentityMode;
import dev.cachefs.index.IndexException;
import dev.cachefs.index.JournalRecord;
import dev.cachefs.index.ObjectRecord;
import dev.cachefs.lower.LowerFs;
import dev.cachefs.nativeio.Errno;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Stat;
import dev.cachefs.offline.ConflictView;
import dev.cachefs.offline.Connectivity;
import dev.cachefs.offline.Guard;
import dev.cachefs.offline.OfflineFs;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.List;
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
public final class Replayer {
    private static final Logger log = LoggerFactory.getLogger(Replayer.class);

    /** What one replay did. */
    public record Outcome(int applied, int conflicts, int open) {}

    private final CacheIndex index;
    private final OfflineFs offline;
    private final IdentityMode mode;
    private final Connectivity connectivity;
    private final ConflictView view;
    private final ConflictRules rules;
    private final ConflictNames names = new ConflictNames();
    private final ReplayState state;
    private final Retirement retirement;
    private final Resolution resolution;
    /** Progress of the replay running now (0 of 0 when none). */
    private volatile int progressDone;
    private volatile int progressTotal;
    /** The conflict the entry being applied met, recorded with the entry's completion (per worker). */
    private final ThreadLocal<Pending> pending = new ThreadLocal<>();
    /** The journal entry being applied, per worker (names its upload files). */
    private final ThreadLocal<Long> currentSeq = ThreadLocal.withInitial(() -> 0L);
    private volatile long lastLog;

    /** What one replay did, counted by its workers. */
    private static final class Tally {
        final java.util.concurrent.atomic.AtomicInteger applied = new java.util.concurrent.atomic.AtomicInteger();
        final java.util.concurrent.atomic.AtomicInteger conflicts = new java.util.concurrent.atomic.AtomicInteger();
        final java.util.concurrent.atomic.AtomicInteger opened = new java.util.concurrent.atomic.AtomicInteger();
    }

    private record Pending(Long objId, String path, String kind, String resolution, String detail) {}

    /** @throws IllegalArgumentException a conflict rule names neither a policy nor a resolver */
    public Replayer(CacheStore store, OfflineFs offline, IdentityMode mode, Connectivity connectivity, ConflictView view,
                    List<Policy.ConflictRule> rules) {
        this.index = store.index();
        this.offline = offline;
        this.mode = mode;
        this.connectivity = connectivity;
        this.view = view;
        this.rules = new ConflictRules(rules);
        this.state = new ReplayState(store);
        this.retirement = new Retirement(index, offline, view, state);
        this.resolution = new Resolution(index, offline, view, state, names);
    }

    /** "DONE of TOTAL" while a replay runs, else null. */
    public String progress() {
        int t = progressTotal;
        return t == 0 ? null : progressDone + " of " + t;
    }

    /** The policy for a conflict at {@code path}: the first matching rule's, else ask. */
    public Policy.ConflictAction actionFor(String path) {
        return rules.actionFor(path);
    }

    /** The paths replay changed on the lower since the last call (some now name another lower object). */
    public Set<String> takeReplayedPaths() {
        return state.takeReplayedPaths();
    }

    /**
     * Settles an open conflict as the user says: {@code local}, {@code remote}, {@code both} or
     * {@code merged}. Returns where each version went.
     */
    public String resolve(LowerFs lower, CacheIndex.Conflict c, String keep) throws ErrnoException, IndexException {
        return resolution.resolve(lower, c, keep);
    }

    /** See {@link Retirement#retire(CacheLayer.Identifier, Retirement.Adopter, Set)}. */
    public void retire(CacheLayer.Identifier ids, Retirement.Adopter adopter) throws IndexException {
        retirement.retire(ids, adopter, Set.of());
    }

    /** {@link #retire(CacheLayer.Identifier, Retirement.Adopter)} of all objects but {@code kept} (their changes wait). */
    public void retire(CacheLayer.Identifier ids, Retirement.Adopter adopter, Set<Long> kept) throws IndexException {
        retirement.retire(ids, adopter, kept);
    }

    /** Replays what the journal holds now. Throws (resumable) when the lower fails. */
    public Outcome replay(LowerFs lower) throws ErrnoException, IndexException {
        return replay(lower, Set.of());
    }

    /**
     * Replays what the journal holds now but the changes of objects in {@code deferred}, which
     * stay in the journal as they are (write-back: files open for writing are uploaded once
     * closed). Throws (resumable) when the lower fails.
     */
    public Outcome replay(LowerFs lower, Set<Long> deferred) throws ErrnoException, IndexException {
        return replay(lower, e -> e.objId() != null && deferred.contains(e.objId()), 1);
    }

    /**
     * Replays the changes of the objects in {@code only} and nothing else (write-back's upload
     * without the changes lock: entries journaled meanwhile, of other objects, wait), up to
     * {@code workers} objects side by side (each object's changes in their order): over a link
     * with latency, one file's upload is round trips the others need not wait for.
     */
    public Outcome replayOnly(LowerFs lower, Set<Long> only, int workers) throws ErrnoException, IndexException {
        return replay(lower, e -> e.objId() == null || !only.contains(e.objId()), workers);
    }

    /**
     * Replays the journal in order up to entry {@code lastSeq} (what it held when an upload cycle
     * began), but the entries of the objects in {@code deferred}: write-back's upload of a journal
     * whose order matters across files, without the changes lock. Entries made meanwhile come
     * after {@code lastSeq} and wait for the next cycle, so the order holds.
     */
    public Outcome replayUpTo(LowerFs lower, Set<Long> deferred, long lastSeq) throws ErrnoException, IndexException {
        return replay(lower, e -> e.seq() > lastSeq || (e.objId() != null && deferred.contains(e.objId())), 1);
    }

    private Outcome replay(LowerFs lower, java.util.function.Predicate<CacheIndex.JournalEntry> skip, int workers)
            throws ErrnoException, IndexException {
        List<CacheIndex.JournalEntry> entries = index.offlineJournal().entries();
        state.held.clear();
        for (CacheIndex.Conflict c : view.open().values()) {
            if (c.objId() != null) {
                state.held.add(c.objId());
            }
        }
        progressTotal = entries.size();
        progressDone = 0;
        lastLog = System.nanoTime();
        Tally t = new Tally();
        try {
            List<CacheIndex.JournalEntry> todo = entries.stream().filter(e -> !skip.test(e)).toList();
            if (workers <= 1) {
                for (CacheIndex.JournalEntry e : todo) {
                    replayEntry(lower, e, t, entries.size());
                }
            } else {
                sideBySide(lower, todo, t, workers, entries.size());
            }
        } finally {
            progressTotal = 0;
            view.refresh();
        }
        if (t.applied.get() > 0) {
            log.info("replayed {} offline changes ({} conflicts, {} left open)", t.applied.get(), t.conflicts.get(),
                    t.opened.get());
        }
        return new Outcome(t.applied.get(), t.conflicts.get(), t.opened.get());
    }

    /** The entries of each object in order, on one of {@code workers} threads; the first failure stops them all. */
    private void sideBySide(LowerFs lower, List<CacheIndex.JournalEntry> todo, Tally t, int workers, int total)
            throws ErrnoException, IndexException {
        java.util.Map<Long, List<CacheIndex.JournalEntry>> byObject = new java.util.LinkedHashMap<>();
        for (CacheIndex.JournalEntry e : todo) {
            byObject.computeIfAbsent(e.objId(), k -> new java.util.ArrayList<>()).add(e);
        }
        java.util.Queue<List<CacheIndex.JournalEntry>> work = new java.util.concurrent.ConcurrentLinkedQueue<>(byObject.values());
        java.util.concurrent.atomic.AtomicReference<Exception> failed = new java.util.concurrent.atomic.AtomicReference<>();
        List<Thread> threads = new java.util.ArrayList<>();
        for (int i = 0; i < Math.min(workers, byObject.size()); i++) {
            threads.add(Thread.ofPlatform().daemon().name("cachefs-upload-" + i).start(() -> {
                List<CacheIndex.JournalEntry> mine;
                while (failed.get() == null && (mine = work.poll()) != null) {
                    try {
                        for (CacheIndex.JournalEntry e : mine) {
                            replayEntry(lower, e, t, total);
                        }
                    } catch (ErrnoException | IndexException | RuntimeException ex) {
                        failed.compareAndSet(null, ex);
                    }
                }
            }));
        }
        for (Thread th : threads) {
            try {
                th.join();
            } catch (InterruptedException ex) {
                Thread.currentThread().interrupt();
                failed.compareAndSet(null, new ErrnoException(Errno.EINTR, "interrupted during the upload"));
            }
        }
        switch (failed.get()) {
            case null -> { }
            case ErrnoException ex -> throw ex;
            case IndexException ex -> throw ex;
            case RuntimeException ex -> throw ex;
            default -> throw new IllegalStateException(failed.get());
        }
    }

    /** Applies one journal entry and records it done (with the conflict it met, and what landed). */
    private void replayEntry(LowerFs lower, CacheIndex.JournalEntry e, Tally t, int total)
            throws ErrnoException, IndexException {
        state.replaying(e.path());
        if (e.path2() != null) {
            state.replaying(e.path2());
        }
        pending.remove();
        currentSeq.set(e.seq());
        boolean skipped = e.objId() != null && state.held.contains(e.objId());
        boolean conflict = skipped ? false : apply(lower, e);
        Pending p = pending.get();
        pending.remove();
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
                index.putMeta(ReplayState.LANDED + e.objId(), HexFormat.of().formatHex(landedStat));
            }
            index.offlineJournal().done(e.seq());
        });
        if (p != null) {
            announce(p);
            if (p.resolution() == null) {
                t.opened.incrementAndGet();
            }
        }
        progressDone = t.applied.incrementAndGet();
        if (conflict) {
            t.conflicts.incrementAndGet();
        }
        if (System.nanoTime() - lastLog > 5_000_000_000L) {
            log.info("replay: {} of {} offline changes done", t.applied.get(), total);
            lastLog = System.nanoTime();
        }
    }

    /**
     * Write-back with {@code sync_fsync}: the content of object {@code objId}'s local copy goes up
     * now, while it is still open (an fsync waits for it), and its waiting changes are rebased on
     * what landed, so their replay later finds no conflict with this upload; the copy stays (more
     * writes may come). A lower that changed the file meanwhile is a conflict: nothing is sent,
     * and the replay settles it by the rules. Call under the changes lock, holding replay's lock.
     */
    public void uploadAhead(LowerFs lower, long objId) throws ErrnoException, IndexException {
        byte[] base = index.offlineJournal().firstBase(objId);
        Path local = offline.localCopy(objId);
        ObjectRecord rec = index.get(objId).orElse(null);
        if (local == null || rec == null || rec.path() == null || rec.fileId().isProvisional()) {
            return; // nothing waits, or replay must make it first
        }
        Stat now = LowerCopies.lstat(lower, rec.path());
        if (now == null || !sameAsBase(now, base)) {
            throw new ErrnoException(Errno.EIO, "'" + rec.path() + "' changed on the lower too; it stays in the cache"
                    + " and its upload is settled by the conflict rules (cachefs sync, cachefs conflicts)");
        }
        LowerCopies.upload(lower, local, rec.path(), now.mode() & 07777, 0);
        Stat landed = LowerCopies.lstat(lower, rec.path());
        if (landed != null) {
            Path b = state.baseCopyPath(objId);
            if (java.nio.file.Files.exists(b)) {
                LowerCopies.copy(local, b); // the base of a later three-way merge is what went up
            }
            index.offlineJournal().rebase(objId, landed.encode());
        }
    }

    private boolean sameAsBase(Stat now, byte[] base) {
        if (base == null) {
            return false;
        }
        Stat b = Stat.decode(base);
        return b.fileType() == now.fileType() && Fingerprint.of(b).sameVersion(Fingerprint.of(now), mode);
    }

    /** Where the versions of the conflict entry {@code seq} met are kept. */
    private Path variantsDir(long seq) throws ErrnoException {
        return LowerCopies.privateDir(view.variants(seq));
    }

    private void conflict(Long objId, String path, String kind, String resolution, String detail) {
        pending.set(new Pending(objId, path, kind, resolution, detail));
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
        if (remote != null && LowerCopies.sameContent(lower, path, remote, local)) {
            return false; // applied before a crash or an outage, or both made the same change
        }
        Policy.ConflictAction action = actionFor(path);
        Path dir = variantsDir(e.seq());
        if (remote != null && remote.isRegular()) {
            LowerCopies.fetch(lower, path, dir.resolve("remote"));
        }
        Path base = state.baseCopy(obj);
        if (base != null) {
            LowerCopies.copy(base, dir.resolve("base"));
        }
        String kept = "variants=" + e.seq();
        // A resolver is tried first; what it cannot merge cleanly is left open (ask).
        Policy.Builtin how = action instanceof Policy.Builtin b ? b : Policy.Builtin.ASK;
        ConflictResolver resolver = rules.resolverFor(action);
        if (resolver != null) {
            byte[] r = remote != null ? LowerCopies.readSmall(dir.resolve("remote")) : null;
            byte[] l = LowerCopies.readSmall(local);
            if (r != null && l != null) {
                ConflictResolver.Merge m = resolver.merge(path, LowerCopies.readSmall(base), l, r);
                if (m != null) {
                    try {
                        CacheStore.writePrivate(dir.resolve("merged"), m.content());
                    } catch (IOException ex) {
                        throw ErrnoMapping.of(ex, "cannot keep the merge of " + path);
                    }
                    if (m.clean()) {
                        LowerCopies.copy(local, dir.resolve("local"));
                        LowerCopies.upload(lower, dir.resolve("merged"), path, fileMode, currentSeq.get());
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
                LowerCopies.upload(lower, local, path, fileMode, currentSeq.get());
                conflict(obj, path, kind, "keep-local", kept + "; the lower's version before is kept in the cache");
            }
            case KEEP_REMOTE, DISCARD_LOCAL -> {
                LowerCopies.copy(local, dir.resolve("local"));
                conflict(obj, path, kind, how.text(), kept + "; the local version is kept in the cache at " + dir.resolve("local"));
            }
            case KEEP_BOTH -> {
                String target = names.of(lower, path, e.timeMs(), local);
                LowerCopies.upload(lower, local, target, fileMode, currentSeq.get());
                state.redirect(obj, target);
                conflict(obj, path, kind, "keep-both", kept + "; the local version is " + target);
            }
            case ASK, NEWEST_WINS -> { // newest-wins was decided above
                state.held.add(obj);
                conflict(obj, path, kind, null, kept + "; the mount shows the local version until resolved");
            }
        }
        return true;
    }

    /** Applies one entry; whether it was a conflict. */
    private boolean apply(LowerFs lower, CacheIndex.JournalEntry e) throws ErrnoException, IndexException {
        JournalRecord r = e.record();
        String path = state.redirected(e.objId(), e.path());
        switch (r) {
            case JournalRecord.Mkdir _, JournalRecord.Symlink _ -> parentsBack(lower, e, path);
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
        Stat now = LowerCopies.lstat(lower, path);
        int m = c.mode();
        if (now == null) {
            try {
                LowerCopies.upload(lower, offline.localCopy(e.objId()), path, m, currentSeq.get());
            } catch (ErrnoException x) {
                if (x.errno() != Errno.ENOENT || x instanceof Guard.Unreachable) {
                    throw x;
                }
                // Its directory is gone from the lower (asked only now: a round trip saved per file).
                parentsBack(lower, e, path);
                LowerCopies.upload(lower, offline.localCopy(e.objId()), path, m, currentSeq.get());
            }
        } else if (now.isRegular() && offline.localCopy(e.objId()) != null) {
            return dataConflict(lower, e, path, "both-created", now, m);
        } else {
            String target = names.of(lower, path, e.timeMs(), offline.localCopy(e.objId()));
            LowerCopies.upload(lower, offline.localCopy(e.objId()), target, m, currentSeq.get());
            state.redirect(e.objId(), target);
            conflict(e.objId(), path, "both-created", "keep-both", "the lower has another kind of file there; the local one is " + target);
            return true;
        }
        return false;
    }

    private boolean applyMkdir(LowerFs lower, CacheIndex.JournalEntry e, String path, JournalRecord.Mkdir d)
            throws ErrnoException, IndexException {
        Stat now = LowerCopies.lstat(lower, path);
        if (now == null && !madeOrThere(lower, path, d.mode())) {
            now = LowerCopies.lstat(lower, path); // made there since the lstat (another client)
        }
        if (now != null && !now.isDirectory()) {
            String target = names.of(lower, path, e.timeMs(), null);
            lower.mkdir(target, d.mode());
            state.redirect(e.objId(), target);
            conflict(e.objId(), path, "both-created", "keep-both", "the lower has a file there; the directory is " + target);
            return true;
        } // both made the directory: one directory, with what each put in it
        return false;
    }

    private boolean applySymlink(LowerFs lower, CacheIndex.JournalEntry e, String path, JournalRecord.Symlink sl)
            throws ErrnoException, IndexException {
        String target = sl.target();
        Stat now = LowerCopies.lstat(lower, path);
        if (now == null) {
            lower.symlink(target, path);
        } else if (!(now.isSymlink() && lower.readlink(path).equals(target))) {
            String other = names.ofSymlink(lower, path, e.timeMs(), target);
            if (LowerCopies.lstat(lower, other) == null) {
                lower.symlink(target, other);
            }
            state.redirect(e.objId(), other);
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
        Stat now = LowerCopies.lstat(lower, path);
        int m = index.stat(e.objId()).map(st -> st.mode() & 07777).orElse(0644);
        if (now == null) {
            return dataConflict(lower, e, path, "updated-locally-deleted-remotely", null, m);
        }
        if (sameAsBase(now, e.base())) {
            LowerCopies.upload(lower, offline.localCopy(e.objId()), path, now.mode() & 07777, currentSeq.get());
        } else {
            return dataConflict(lower, e, path, "both-updated", now, now.mode() & 07777);
        }
        return false;
    }

    private boolean applyUnlink(LowerFs lower, CacheIndex.JournalEntry e, String path)
            throws ErrnoException, IndexException {
        Stat now = LowerCopies.lstat(lower, path);
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
        Stat now = LowerCopies.lstat(lower, path);
        if (now == null) {
            Stat there = LowerCopies.lstat(lower, to);
            Path local = e.objId() == null ? null : offline.localCopy(e.objId());
            if (there != null && LowerCopies.sameContent(lower, to, there, local)) {
                return false; // renamed before a crash or an outage
            }
            if (local != null) {
                LowerCopies.upload(lower, local, there == null ? to : names.of(lower, to, e.timeMs(), local), 0644, currentSeq.get());
            }
            state.redirect(e.objId(), to);
            conflict(e.objId(), path, "renamed-locally-deleted-remotely", "keep-local", "what the cache has of it is at " + to);
            return true;
        }
        String target = LowerCopies.lstat(lower, to) == null ? to : names.of(lower, to, e.timeMs(), null);
        lower.rename(path, target, 0);
        if (e.objId() != null) {
            state.redirect(e.objId(), target); // where it is now, for its later entries
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
        Stat now = LowerCopies.lstat(lower, path);
        long linked = l.newObj();
        if (now == null) {
            Stat there = LowerCopies.lstat(lower, to);
            if (there != null && LowerCopies.sameContent(lower, to, there, offline.localCopy(linked))) {
                return false;
            }
            LowerCopies.upload(lower, offline.localCopy(linked), to, 0644, currentSeq.get());
            conflict(e.objId(), to, "linked-locally-deleted-remotely", "keep-local", "the lower lost " + path + "; its copy is " + to);
            return true;
        }
        Stat there = LowerCopies.lstat(lower, to);
        if (there != null && there.ino() == now.ino() && there.dev() == now.dev()) {
            return false; // linked before a crash or an outage
        }
        String target = there == null ? to : names.of(lower, to, e.timeMs(), null);
        try {
            lower.link(path, target);
        } catch (Guard.Unreachable u) {
            throw u;
        } catch (ErrnoException ex) {
            LowerCopies.upload(lower, offline.localCopy(linked), target, now.mode() & 07777, currentSeq.get()); // no hard links there: a copy
            log.warn("replay: the lower cannot hard link {} ({}); {} is a copy", path, ex.getMessage(), target);
        }
        state.redirect(linked, target);
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
        if (LowerCopies.lstat(lower, path) == null) {
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
     * Makes the directories above {@code path} that the lower removed while the mount was
     * offline, so what was made in them offline can land; a conflict says so.
     */
    private void parentsBack(LowerFs lower, CacheIndex.JournalEntry e, String path) throws ErrnoException {
        String parent = ReplayState.parentOf(path);
        if (parent.isEmpty() || LowerCopies.lstat(lower, parent) != null) {
            return;
        }
        List<String> missing = new java.util.ArrayList<>();
        for (String d = parent; !d.isEmpty() && LowerCopies.lstat(lower, d) == null; d = ReplayState.parentOf(d)) {
            missing.add(0, d);
        }
        boolean made = false;
        for (String d : missing) {
            if (madeOrThere(lower, d, 0755)) {
                made = true;
            } else if (!isDirectory(LowerCopies.lstat(lower, d))) {
                throw new ErrnoException(Errno.ENOTDIR, "mkdir " + d + ": made a file by another client meanwhile");
            }
        }
        if (!made) {
            return; // an upload beside this one made them back (and said so)
        }
        conflict(e.objId(), path, "created-in-directory-removed-remotely", "keep-local",
                "the lower removed " + missing.getFirst() + "; it is made again for what was made in it offline");
    }

    /**
     * Makes directory {@code d}; false if something was there already (EEXIST: another upload of
     * this replay, side by side, or another client made it since it was looked at).
     */
    private static boolean madeOrThere(LowerFs lower, String d, int mode) throws ErrnoException {
        try {
            lower.mkdir(d, mode);
            return true;
        } catch (ErrnoException x) {
            if (x.errno() != Errno.EEXIST || x instanceof Guard.Unreachable) {
                throw x;
            }
            return false;
        }
    }

    private static boolean isDirectory(Stat st) {
        return st != null && st.isDirectory();
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
            LowerCopies.fetch(lower, path, dir.resolve("remote"));
        }
        Path base = e.objId() == null ? null : state.baseCopy(e.objId());
        if (base != null) {
            LowerCopies.copy(base, dir.resolve("base"));
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
        String at = moves ? e.path2() : settled ? state.redirected(e.objId(), e.path()) : e.path();
        Stat st = LowerCopies.lstat(lower, at);
        return st == null ? null : st.encode();
    }
}
