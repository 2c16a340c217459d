package dev.cachefs.mount;

import dev.cachefs.index.ErrnoMapping;
import dev.cachefs.cache.CacheLayer;
import dev.cachefs.cache.Policy;
import dev.cachefs.index.CacheStore;
import dev.cachefs.index.FileId;
import dev.cachefs.index.IdentityMode;
import dev.cachefs.index.IndexException;
import dev.cachefs.index.LowerIdentity;
import dev.cachefs.lower.LocalLowerFs;
import dev.cachefs.lower.LowerFs;
import dev.cachefs.nativeio.Errno;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Libc;
import dev.cachefs.offline.ConflictView;
import dev.cachefs.offline.Connectivity;
import dev.cachefs.offline.EventHook;
import dev.cachefs.offline.Guard;
import dev.cachefs.offline.ModalLowerFs;
import dev.cachefs.offline.OfflineFs;
import dev.cachefs.resync.ConflictRules;
import dev.cachefs.resync.Replayer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.UnaryOperator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The mount's link to its lower: the real lower under deadlines, the cache's view of it for when
 * it is gone, the connectivity between the two, the identity of the lower (detected, or as the
 * cache recorded it when the mount starts without the lower), and the cache layer over all of it,
 * which the link tells of each switch (copy-up paused offline, readers dropped) and hands the
 * local copies replay landed. One per mount, built by {@link CacheStack}.
 */
public final class Uplink implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Uplink.class);

    /**
     * @param deadlineMs how long one lower call may take before the lower counts as unreachable
     * @param probeMs how often an offline mount checks whether the lower is back
     * @param missWaitMs how long a read of data the cache lacks waits for the lower offline (0: ENOTCONN at once)
     * @param onEvent a shell command run with each event as JSON on its standard input, or null
     * @param startOffline come up offline even if the lower answers
     */
    public record Options(long deadlineMs, long probeMs, Connectivity.Reconnect reconnect, long missWaitMs,
                          String onEvent, boolean startOffline, boolean replay, List<Policy.ConflictRule> conflictRules,
                          long writeBackMs, boolean syncFsync) {
        /** Write-back's default delay: a few seconds, so a burst of writes to one file goes up once. */
        public static final long WRITEBACK_DEFAULT_MS = 5000;

        public Options(long deadlineMs, long probeMs, Connectivity.Reconnect reconnect, long missWaitMs,
                       String onEvent, boolean startOffline) {
            this(deadlineMs, probeMs, reconnect, missWaitMs, onEvent, startOffline, true, List.of(), -1, false);
        }

        public Options(long deadlineMs, long probeMs, Connectivity.Reconnect reconnect, long missWaitMs,
                       String onEvent, boolean startOffline, boolean replay) {
            this(deadlineMs, probeMs, reconnect, missWaitMs, onEvent, startOffline, replay, List.of(), -1, false);
        }

        public static Options defaults() {
            return new Options(5000, 2000, Connectivity.Reconnect.AUTO, 0, null, false, true, List.of(), -1, false);
        }

        /** What replay does with conflicts, by path ({@code [conflicts]} in the config; default ask). */
        public Options withConflictRules(List<Policy.ConflictRule> rules) {
            return new Options(deadlineMs, probeMs, reconnect, missWaitMs, onEvent, startOffline, replay, List.copyOf(rules),
                    writeBackMs, syncFsync);
        }

        /** Without replay, a mount with offline changes stays offline (tests of the journal itself). */
        public Options withReplay(boolean r) {
            return new Options(deadlineMs, probeMs, reconnect, missWaitMs, onEvent, startOffline, r, conflictRules, writeBackMs, syncFsync);
        }

        public Options withDeadline(long ms) {
            return new Options(ms, probeMs, reconnect, missWaitMs, onEvent, startOffline, replay, conflictRules, writeBackMs, syncFsync);
        }

        public Options withProbe(long ms) {
            return new Options(deadlineMs, ms, reconnect, missWaitMs, onEvent, startOffline, replay, conflictRules, writeBackMs, syncFsync);
        }

        public Options withReconnect(Connectivity.Reconnect r) {
            return new Options(deadlineMs, probeMs, r, missWaitMs, onEvent, startOffline, replay, conflictRules, writeBackMs, syncFsync);
        }

        public Options withMissWait(long ms) {
            return new Options(deadlineMs, probeMs, reconnect, ms, onEvent, startOffline, replay, conflictRules, writeBackMs, syncFsync);
        }

        public Options withOnEvent(String cmd) {
            return new Options(deadlineMs, probeMs, reconnect, missWaitMs, cmd, startOffline, replay, conflictRules, writeBackMs, syncFsync);
        }

        public Options withStartOffline(boolean b) {
            return new Options(deadlineMs, probeMs, reconnect, missWaitMs, onEvent, b, replay, conflictRules, writeBackMs, syncFsync);
        }

        /**
         * Write-back: files written online go to local copies, uploaded {@code delayMs} after
         * their first change (-1: off, writes go through to the lower).
         */
        public Options withWriteBack(long delayMs) {
            return new Options(deadlineMs, probeMs, reconnect, missWaitMs, onEvent, startOffline, replay, conflictRules, delayMs, syncFsync);
        }

        public boolean writeBack() {
            return writeBackMs >= 0;
        }

        /** With write-back: an fsync returns once the file is on the lower, not only in the cache. */
        public Options withSyncFsync(boolean b) {
            return new Options(deadlineMs, probeMs, reconnect, missWaitMs, onEvent, startOffline, replay, conflictRules,
                    writeBackMs, b);
        }
    }

    private final String lowerRaw;
    private final CacheStore store;
    private final IdentityMode requested;
    private final UnaryOperator<LowerFs> wrap;
    private final Guard guard;
    private final LowerIdentity identity;
    private final Connectivity connectivity;
    private final ModalLowerFs modal;
    private final OfflineFs offline;
    private final EventHook hook;
    private volatile CacheLayer.Identifier onlineIds;
    private final CacheLayer cache;
    private final Replayer replayer;
    private final ConflictView view;
    /** Whether the journal is replayed on reconnection (else the mount stays offline while it holds changes). */
    private final boolean replay;
    /** Held by whatever replays the journal (reconnection, the uploader): one replay at a time. */
    private final Object replaying = new Object();
    /** Write-back's uploader, or null when writes go through. */
    private final Uploader uploader;

    /**
     * Reaches the lower at {@code lowerRaw} (raw path) under the deadline. If it does not answer,
     * or is not the filesystem the cache belongs to, or the cache holds local changes not yet
     * replayed, the mount starts offline from the cache's record; without a record that is an
     * error ({@link ErrnoException} saying why).
     *
     * @param wrap applied to each real lower opened (counting, fault injection)
     * @param cacheOver makes the cache layer over the mount's lower once the link is up
     */
    public Uplink(String lowerRaw, CacheStore store, IdentityMode requested, Options options, String mountpoint,
                  UnaryOperator<LowerFs> wrap, CacheOver cacheOver) throws ErrnoException {
        this.lowerRaw = lowerRaw;
        this.store = store;
        this.requested = requested;
        this.wrap = wrap;
        Connectivity[] conn = new Connectivity[1];
        this.guard = new Guard(options.deadlineMs(), 64, why -> {
            if (conn[0] != null) { // during start-up the mode is not decided yet
                conn[0].lost(why);
            }
        });
        Start start = start(lowerRaw, store, requested, options, guard);
        LowerFs real = start.real();
        String offlineWhy = start.offlineWhy();
        this.identity = start.identity();
        Connectivity.Mode initial = offlineWhy != null ? Connectivity.Mode.OFFLINE : Connectivity.Mode.ONLINE;
        this.connectivity = new Connectivity(new Link(), options.reconnect(), options.probeMs(), initial,
                offlineWhy != null ? offlineWhy : "the lower answers");
        conn[0] = connectivity;
        this.offline = new OfflineFs(store, identity.fsid(), identity.mode(), connectivity, options.missWaitMs(),
                this::reopenOnline);
        this.view = new ConflictView(store, offline);
        try {
            view.refresh();
        } catch (IndexException e) {
            throw ErrnoMapping.of(e, store.directory());
        }
        this.modal = new ModalLowerFs(real != null ? wrap.apply(real) : null, guard, connectivity, offline, view);
        this.replayer = new Replayer(store, offline, identity.mode(), connectivity, view, options.conflictRules());
        this.replay = options.replay();
        if (real != null) {
            try {
                this.onlineIds = guard.call("open the lower", () -> CacheLayer.identifier(lowerRaw, identity));
            } catch (ErrnoException e) {
                modal.close();
                throw e;
            }
        }
        if (initial == Connectivity.Mode.ONLINE) {
            retireLeftovers();
        }
        guard.eioProbe(() -> {
            LowerFs l = this.modal.online();
            if (l != null) {
                freshLookup(l);
            }
            return null;
        });
        this.hook = options.onEvent() != null ? new EventHook(options.onEvent(), mountpoint) : null;
        connectivity.onEvent(e -> {
            if (hook != null) {
                hook.run(e);
            }
        });
        connectivity.onSwitch(new CacheSwitch());
        store.keepReserve();
        if (initial == Connectivity.Mode.OFFLINE) {
            log.warn("OFFLINE from the start: {}; serving from the cache", offlineWhy);
            durable(true);
        }
        try {
            this.cache = cacheOver.open(modal, identifier(), identity.mode());
        } catch (RuntimeException e) {
            closeLink();
            throw e;
        }
        cache.conflicts(p -> view.open().containsKey(p));
        if (connectivity.offline()) {
            cache.meta().pause(true);
            cache.dirs().pause(true);
        }
        this.uploader = options.writeBack() ? writeBack(options.writeBackMs(), options.syncFsync()) : null;
        if (uploader != null && options.syncFsync()) {
            offline.afterFsync(uploader::uploadAhead);
        }
        connectivity.start();
    }

    /** How long a rename or link of a queued file waits for its upload (a writer must close it first). */
    private static final long UPLOAD_FIRST_MS = 30_000;

    /**
     * Turns write-back on: the modal lower sends writes to local copies, the uploader replays
     * them, and the index runs durable (the journal holds data that exists nowhere else).
     */
    private Uploader writeBack(long delayMs, boolean syncFsync) throws ErrnoException {
        Uploader up = new Uploader(store, offline, replayer, modal, connectivity, replaying, this::guardedIds,
                () -> cache, delayMs);
        modal.writeBack(new ModalLowerFs.WriteBack() {
            @Override
            public FileId idOf(String path) throws ErrnoException {
                return identifier().idOf(path);
            }

            @Override
            public boolean syncFsync() {
                return syncFsync;
            }

            @Override
            public void flushIndex() {
                cache.flushIndex();
            }

            @Override
            public void uploadNow(String... paths) throws ErrnoException {
                if (!up.drain(UPLOAD_FIRST_MS, () -> java.util.Arrays.stream(paths).noneMatch(offline.queue()::pendingAtOrUnder))) {
                    throw new ErrnoException(Errno.EBUSY, "a file there is open for writing and waits for its upload: "
                            + String.join(", ", paths));
                }
            }
        });
        try {
            synchronized (offline.changesLock()) {
                offline.queue().reload();
            }
        } catch (IndexException e) {
            throw ErrnoMapping.of(e, store.directory());
        }
        durable(true);
        up.start();
        log.info("write-back: changes are uploaded {} s after they are made", delayMs / 1000.0);
        return up;
    }

    /**
     * Write-back: uploads what is queued and returns once the queue is empty (true) or after
     * {@code timeoutMs} (false); throws when offline or when an upload fails.
     */
    public boolean uploadQueued(long timeoutMs) throws ErrnoException {
        if (uploader == null) {
            return true;
        }
        return uploader.drain(timeoutMs, () -> false);
    }

    /** Paths an upload replaced on the lower go to {@code renew} (see {@link #onBackOnline}). */
    public void onUploaded(java.util.function.Consumer<Set<String>> renew) {
        if (uploader != null) {
            uploader.onUploaded(renew);
        }
    }

    /** How the mount starts: the real lower (null when it starts offline without it), the identity, why offline (null: online). */
    private record Start(LowerFs real, LowerIdentity identity, String offlineWhy) {}

    /**
     * Reaches the lower under the deadline and decides how the mount starts: online with the
     * detected identity (recorded in the index), or offline from the identity the cache recorded.
     */
    private static Start start(String lowerRaw, CacheStore store, IdentityMode requested, Options options, Guard guard)
            throws ErrnoException {
        LowerIdentity recorded = recorded(store);
        LowerFs real = null;
        LowerIdentity detected = null;
        String offlineWhy = null;
        try {
            real = guard.call("open the lower", () -> new LocalLowerFs(lowerRaw));
            LowerFs opened = real;
            detected = guard.call("identify the lower", () -> LowerIdentity.detect(lowerRaw, requested));
            opened.stat("");
        } catch (ErrnoException e) {
            offlineWhy = "the lower does not answer at start (" + e.getMessage() + ")";
        }
        if (detected != null && recorded != null && !Arrays.equals(detected.fsid(), recorded.fsid())) {
            offlineWhy = "the lower directory is not the filesystem this cache belongs to (not mounted?)";
            detected = null;
        }
        int pending = journalSize(store);
        if (offlineWhy == null && pending > 0) {
            offlineWhy = pending + " local changes made offline wait for replay";
        }
        if (offlineWhy == null && options.startOffline()) {
            offlineWhy = "started offline (-o offline)";
        }
        if (offlineWhy != null) {
            if (recorded == null) {
                if (real != null) {
                    real.close();
                }
                throw new ErrnoException(Errno.ENOTCONN, "cannot start: " + offlineWhy
                        + ", and the cache has no record of it to start offline from");
            }
            if (real != null && detected == null) {
                LowerFs r = real;
                guard.detached("close", r::close);
                real = null;
            }
            return new Start(real, recorded, offlineWhy);
        } else {
            try {
                store.index().putMeta("lower", lowerRaw);
                store.index().putMeta("identity", detected.mode().name().toLowerCase(Locale.ROOT));
                store.index().putMeta("lower_fsid", HexFormat.of().formatHex(detected.fsid()));
            } catch (IndexException e) {
                real.close();
                throw ErrnoMapping.of(e, store.directory());
            }
            return new Start(real, detected, null);
        }
    }

    /**
     * A daemon that died between the last entry's done mark and the retirement of the local
     * copies left them behind: everything is on the lower, so they go now, before any open could
     * take a leftover copy for the file.
     */
    private void retireLeftovers() throws ErrnoException {
        try {
            int left = store.index().changedOffline().size();
            if (left > 0) {
                replayer.retire(onlineIds, null); // no cache layer yet to adopt them
                log.info("retired {} local copies whose changes an earlier daemon had replayed", left);
            }
        } catch (IndexException e) {
            modal.close();
            throw ErrnoMapping.of(e, store.directory());
        }
    }

    /** What each switch changes in the cache layer and the index (durability). */
    private final class CacheSwitch implements Connectivity.Switch {
        @Override
        public void offline() {
            CacheLayer c = cache; // null while the constructor has not made it
            if (c != null) {
                c.flushIndex(); // the disconnected layer works on the index itself from now on
                c.meta().pause(true);
                c.dirs().pause(true);
                c.dropReaders(); // the next miss opens through the disconnected layer
            }
            durable(true);
        }

        @Override
        public void online() {
            store.keepReserve(); // made again once there is room
            durable(uploader != null);
            CacheLayer c = cache;
            if (c != null) {
                c.meta().pause(false);
                c.dirs().pause(false);
                c.dropReaders();
            }
        }
    }

    /** Makes the cache layer over the mount's lower (the link's {@link #lower}). */
    @FunctionalInterface
    public interface CacheOver {
        CacheLayer open(LowerFs lower, CacheLayer.Identifier ids, IdentityMode mode);
    }

    /** The cache layer over this link. */
    public CacheLayer cache() {
        return cache;
    }

    /**
     * What the mount's view of the lower must forget each time it comes online: {@code forget}
     * runs just before the switch (replay and the outage may have changed anything), and
     * {@code renew} gets the paths replay changed once online, outside the switch's locks (a file
     * replay uploaded is a new lower object under its old name, which the kernel must look up
     * afresh: {@code StackedFs.renewNames}).
     */
    public void onBackOnline(Runnable forget, java.util.function.Consumer<Set<String>> renew) {
        connectivity.onSwitch(new Connectivity.Switch() {
            @Override
            public void offline() {}

            @Override
            public void online() {
                forget.run();
            }

            @Override
            public void afterOnline() {
                renew.accept(replayer.takeReplayedPaths());
            }
        });
    }

    /**
     * Runs {@code task} on a background thread now if online, and again each time the mount comes
     * online (e.g. the config's pins, which need the lower).
     */
    public void whenOnline(String name, Runnable task) {
        Runnable start = () -> Thread.ofPlatform().daemon().name(name).start(() -> {
            try {
                task.run();
            } catch (RuntimeException e) {
                log.warn("{}: {}", name, e.toString());
            }
        });
        connectivity.onEvent(e -> {
            if (e.kind() == Connectivity.Kind.ONLINE) {
                start.run();
            }
        });
        if (!connectivity.offline()) {
            start.run();
        }
    }

    private dev.cachefs.lower.LowerFile reopenOnline(String path) throws ErrnoException {
        return modal.reopenOnline(path);
    }

    private void durable(boolean full) {
        try {
            store.index().durable(full);
        } catch (IndexException e) {
            log.error("cannot set the index's durability: {}", e.getMessage());
        }
    }

    private static int journalSize(CacheStore store) throws ErrnoException {
        try {
            return store.index().offlineJournal().size();
        } catch (IndexException e) {
            throw ErrnoMapping.of(e, store.directory());
        }
    }

    /** The identity the cache recorded for its lower, or null for a new cache. */
    private static LowerIdentity recorded(CacheStore store) throws ErrnoException {
        try {
            var mode = store.index().meta("identity");
            var fsid = store.index().meta("lower_fsid");
            if (mode.isEmpty() || fsid.isEmpty()) {
                return null;
            }
            return new LowerIdentity(IdentityMode.parse(mode.get()), HexFormat.of().parseHex(fsid.get()), 0,
                    "as recorded in the cache");
        } catch (IndexException e) {
            throw ErrnoMapping.of(e, store.directory());
        }
    }

    /**
     * Looks up a name nobody has asked for before, so the answer has to come from the server: the
     * root's attributes may come from the network client's own cache (sshfs keeps them ~20 s) while
     * the link is down. ENOENT is the healthy answer.
     */
    private static void freshLookup(LowerFs lower) throws ErrnoException {
        if (lower == null) {
            return;
        }
        try {
            lower.stat(".cachefs-probe-" + Long.toHexString(System.nanoTime()));
        } catch (ErrnoException e) {
            if (e.errno() != Errno.ENOENT) {
                throw e;
            }
        }
    }

    /** What the connectivity asks of the lower. */
    private final class Link implements Connectivity.Link {
        @Override
        public void probe() throws Exception {
            guard.call("probe", () -> {
                LowerIdentity now = LowerIdentity.detect(lowerRaw, requested == IdentityMode.AUTO ? identity.mode() : requested);
                if (!Arrays.equals(now.fsid(), identity.fsid())) {
                    throw new ErrnoException(Errno.ENODEV, "the lower directory is not the filesystem this cache belongs to");
                }
                Libc.lstat(lowerRaw);
                freshLookup(modal.online());
                return null;
            });
        }

        /**
         * Whether no file changed offline is open, waiting {@code ms} at most: close(2) returns
         * before the kernel's RELEASE reaches the daemon, so a save followed at once by
         * {@code cachefs online} would otherwise find its own file still open.
         */
        private boolean localOpensClosed(long ms) {
            long end = System.nanoTime() + java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(ms);
            while (offline.localOpens() > 0) {
                if (System.nanoTime() > end) {
                    return false;
                }
                try {
                    Thread.sleep(5);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return false;
                }
            }
            return true;
        }

        @Override
        public String onlineBlocker() {
            try {
                if (store.index().offlineJournal().size() == 0) {
                    return null;
                }
                if (!replay) {
                    return store.index().offlineJournal().size() + " local changes made offline wait for replay";
                }
                if (!localOpensClosed(1000)) {
                    return offline.localOpens() + " files changed offline are open; replay waits until they are closed";
                }
                Replayer.Outcome o;
                synchronized (replaying) {
                    o = replayer.replay(modal.guardedOnline());
                }
                connectivity.report(Connectivity.Kind.REPLAYED, o.applied() + " offline changes replayed; " + o.conflicts()
                        + " conflicts, " + o.open() + " of them left open (cachefs conflicts)");
                return null;
            } catch (ErrnoException e) {
                return "replay stopped (it resumes where it stopped): " + e.getMessage();
            } catch (IndexException e) {
                return "the journal cannot be read: " + e.getMessage();
            }
        }

        @Override
        public boolean flipQuietly(Runnable flip) {
            synchronized (offline.changesLock()) {
                try {
                    if (store.index().offlineJournal().size() > 0 || offline.localOpens() > 0) {
                        return false;
                    }
                    CacheLayer c = cache;
                    replayer.retire(guardedIds(), c == null ? null : c::adopt);
                } catch (IndexException e) {
                    log.error("after replay: {}", e.getMessage());
                    return false;
                }
                flip.run();
                return true;
            }
        }

        @Override
        public void reconnect() throws Exception {
            LowerFs fresh = guard.call("open the lower", () -> new LocalLowerFs(lowerRaw));
            CacheLayer.Identifier ids;
            try {
                ids = guard.call("open the lower", () -> CacheLayer.identifier(lowerRaw, identity));
            } catch (ErrnoException e) {
                fresh.close();
                throw e;
            }
            LowerFs old = modal.replaceOnline(wrap.apply(fresh));
            CacheLayer.Identifier oldIds = onlineIds;
            onlineIds = ids;
            if (old != null) {
                guard.detached("close of the old lower", old::close);
            }
            if (oldIds != null) {
                guard.detached("close of the old lower", oldIds::close);
            }
        }
    }

    /** Whether an open is served by a local file (offline changes, open conflicts), not through the cache. */
    public boolean opensLocally(String path, int flags) {
        return modal.opensLocally(path, flags);
    }

    /** The lower the mount uses (online or offline, by the connectivity). */
    public LowerFs lower() {
        return modal;
    }

    public OfflineFs offlineFs() {
        return offline;
    }

    /** Identities of lower paths, under the deadline online and from the index offline. */
    public CacheLayer.Identifier identifier() {
        return new CacheLayer.Identifier() {
            @Override
            public FileId idOf(String path) throws ErrnoException {
                CacheLayer.Identifier ids = onlineIds;
                if (!connectivity.offline() && ids != null) {
                    if (!ids.asksLower()) {
                        return ids.idOf(path); // computed from the path: no lower call to guard
                    }
                    try {
                        return guard.call("identify", () -> ids.idOf(path));
                    } catch (Guard.Unreachable u) {
                        // offline now
                    }
                }
                return offline.idOf(path);
            }

            @Override
            public boolean asksLower() {
                CacheLayer.Identifier ids = onlineIds;
                return ids == null || ids.asksLower();
            }

            /** Online, all in one guarded call: one handoff to a lower thread for a directory's names. */
            @Override
            public java.util.Map<String, FileId> idsOf(java.util.List<String> paths) throws ErrnoException {
                CacheLayer.Identifier ids = onlineIds;
                if (connectivity.offline() || ids == null || !ids.asksLower()) {
                    return CacheLayer.Identifier.super.idsOf(paths);
                }
                return guard.call("identify", () -> ids.idsOf(paths));
            }
        };
    }

    /** Conflicts replay found. */
    public java.util.List<dev.cachefs.index.CacheIndex.Conflict> conflicts() throws IndexException {
        return store.index().conflictLog().all();
    }

    /** The policy the rules give a conflict at {@code path}. */
    public Policy.ConflictAction conflictPolicy(String path) {
        return replayer.actionFor(path);
    }

    /**
     * Settles the open conflict at {@code path} ({@code keep}: local, remote, both, merged);
     * needs the lower. Returns what became of each version. The caller drops what the kernel
     * holds of {@code path}.
     */
    public String resolve(String path, String keep) throws ErrnoException, IndexException {
        dev.cachefs.index.CacheIndex.Conflict c = view.open().get(path);
        if (c == null) {
            throw new ErrnoException(Errno.ENOENT, "no open conflict at " + (path.isEmpty() ? "/" : path));
        }
        if (connectivity.offline()) {
            throw new ErrnoException(Errno.ENOTCONN, "the mount is offline; conflicts are resolved on the lower");
        }
        synchronized (offline.changesLock()) {
            return replayer.resolve(modal.guardedOnline(), c, keep);
        }
    }

    /** The open conflicts by path. */
    public Map<String, dev.cachefs.index.CacheIndex.Conflict> openConflicts() {
        return view.open();
    }

    /** The online identifier under the deadline (null offline). */
    private CacheLayer.Identifier guardedIds() {
        CacheLayer.Identifier ids = onlineIds;
        return ids == null ? null : path -> guard.call("identify", () -> ids.idOf(path));
    }

    /** The local changes not yet replayed, oldest first. */
    public java.util.List<dev.cachefs.index.CacheIndex.JournalEntry> journal() throws IndexException {
        return store.index().offlineJournal().entries();
    }

    public LowerIdentity identity() {
        return identity;
    }

    public Connectivity connectivity() {
        return connectivity;
    }

    public Guard guard() {
        return guard;
    }

    /** For {@code cachefs status}. */
    public void status(Map<String, String> m) {
        m.put("mode", connectivity.mode().name().toLowerCase(Locale.ROOT) + (connectivity.forced() ? " (forced)" : ""));
        m.put("mode since", java.time.Instant.ofEpochMilli(connectivity.sinceMs()).toString());
        m.put("mode reason", connectivity.reason());
        Boolean r = connectivity.reachable();
        m.put("lower reachable", r == null ? "not probed yet" : r.toString());
        m.put("reconnect", connectivity.policy().name().toLowerCase(Locale.ROOT));
        m.put("lower deadline", guard.deadlineMs() + " ms");
        m.put("lower timeouts", Long.toString(guard.timeouts()));
        if (uploader != null) {
            uploader.status(m);
        } else {
            m.put("write-back", "off (writes go through to the lower)");
        }
        try {
            m.put("journal", store.index().offlineJournal().size() + " local changes");
            String progress = replayer.progress();
            if (progress != null) {
                m.put("replay", progress + " changes replayed");
            }
            long oldest = store.index().offlineJournal().oldestMs();
            m.put("last sync", oldest == 0 ? "up to date (no local change waits)"
                    : java.time.Instant.ofEpochMilli(oldest) + " (the oldest local change waiting for replay is of then)");
            m.put("open conflicts", Integer.toString(view.open().size()));
            store.index().census().stateCounts().forEach((k, v) -> m.put("objects " + k, Long.toString(v)));
        } catch (IndexException e) {
            m.put("journal", "unreadable: " + e.getMessage());
        }
        Connectivity.Event e = connectivity.lastEvent();
        if (e != null) {
            m.put("last event", e.name() + " at " + java.time.Instant.ofEpochMilli(e.timeMs()) + ": " + e.reason());
        }
    }

    /** The mode, the lower's state, the journal and conflicts as numbers, for metrics. */
    public Map<String, Long> gauges() throws IndexException {
        Map<String, Long> m = new java.util.LinkedHashMap<>();
        m.put("online", connectivity.mode() == Connectivity.Mode.ONLINE ? 1L : 0L);
        m.put("forced_offline", connectivity.forced() ? 1L : 0L);
        Boolean r = connectivity.reachable();
        m.put("lower_reachable", r == null ? (connectivity.mode() == Connectivity.Mode.ONLINE ? 1L : 0L) : r ? 1L : 0L);
        m.put("mode_since_seconds", connectivity.sinceMs() / 1000);
        m.put("lower_timeouts", guard.timeouts());
        m.put("journal_entries", (long) store.index().offlineJournal().size());
        m.put("journal_oldest_seconds", store.index().offlineJournal().oldestMs() / 1000);
        m.put("open_conflicts", (long) view.open().size());
        if (uploader != null) {
            uploader.gauges(m);
        }
        return m;
    }

    /** Objects the index knows, by state (cached, partial, metadata-only, dirty, ...). */
    public Map<String, Long> objectStates() throws IndexException {
        return store.index().census().stateCounts();
    }

    @Override
    public void close() {
        closeLink();
    }

    /** How long an unmount waits for the upload queue before it leaves the rest for the next mount. */
    public static final long UNMOUNT_UPLOAD_MS = 30_000;

    /**
     * At unmount: with write-back the queue is uploaded within a timeout; what is left (or what an
     * offline mount changed) stays in the journal for the next mount. Said in the log and in the
     * file {@value #LEFT_QUEUED} of the cache directory, which {@code cachefs umount} reports once
     * the daemon has exited (removed when nothing is left). The uploader stops here, before the
     * cache layer closes.
     */
    public void flushQueue() {
        String left = null;
        if (uploader != null) {
            try {
                if (!connectivity.offline() && uploader.drain(UNMOUNT_UPLOAD_MS, () -> false)) {
                    uploader.close(); // before the cache layer closes: a cycle adopts into it
                    recordLeft(0, null);
                    return;
                }
            } catch (ErrnoException e) {
                left = e.getMessage();
            }
            uploader.close();
        }
        try {
            int n = store.index().offlineJournal().size();
            String why = left != null ? left
                    : connectivity.offline() ? "offline"
                    : uploader != null ? "not uploaded within " + UNMOUNT_UPLOAD_MS / 1000 + " s"
                    : "not replayed yet"; // without write-back only a reconnection replays
            if (n > 0) {
                log.warn("{} changes stay queued for the next mount ({})", n, why);
            }
            recordLeft(n, why);
        } catch (IndexException e) {
            log.error("the upload queue cannot be read: {}", e.getMessage());
        }
    }

    /** The file of the cache directory that says what the last unmount left queued: "N<TAB>why". */
    public static final String LEFT_QUEUED = "left-queued";

    private void recordLeft(int n, String why) {
        Path f = store.directory().resolve(LEFT_QUEUED);
        try {
            if (n == 0) {
                Files.deleteIfExists(f);
            } else {
                Files.writeString(f, n + "\t" + why + "\n");
            }
        } catch (IOException e) {
            log.debug("{} not written: {}", f, e.getMessage());
        }
    }

    /**
     * Before the cache layer closes: no new replay starts, and one in progress (its retirement
     * adopts local copies into the cache layer) finishes while that layer is still open. Before
     * this, an unmount during a retirement closed the index writer under it, and each of the
     * retirement's index flushes waited a minute for a writer that was gone.
     */
    public void quiesce() {
        connectivity.stopProbing();
        synchronized (offline.changesLock()) {
            // a retirement in progress ends here
        }
    }

    private void closeLink() {
        if (uploader != null) {
            uploader.close();
        }
        synchronized (offline.changesLock()) {
            // a retirement in progress (replay's last step) finishes before the index can close
        }
        connectivity.close();
        if (hook != null) {
            hook.close();
        }
        modal.close();
        view.close();
        CacheLayer.Identifier ids = onlineIds;
        if (ids != null) {
            guard.detached("close", ids::close);
        }
        guard.close();
    }
}
