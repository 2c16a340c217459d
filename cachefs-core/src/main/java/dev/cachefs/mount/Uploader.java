package dev.cachefs.mount;

import dev.cachefs.cache.CacheLayer;
import dev.cachefs.index.CacheIndex;
import dev.cachefs.index.IndexException;
import dev.cachefs.nativeio.Errno;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.offline.Connectivity;
import dev.cachefs.offline.Guard;
import dev.cachefs.offline.ModalLowerFs;
import dev.cachefs.offline.OfflineFs;
import dev.cachefs.offline.WriteQueue;
import dev.cachefs.resync.Replayer;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Write-back's background half: replays the journal of changes made online ({@link WriteQueue})
 * to the lower once its oldest change is {@code delay} old, through the same {@link Replayer} as
 * offline changes (base compared first, conflicts by the mount's rules), then retires what
 * landed. Files someone has open for writing wait for their close; the rest go. Offline, it
 * waits: the mount's reconnection replays everything before it goes online.
 *
 * <p>A cycle picks a batch under the offline layer's changes lock and marks its paths as being
 * sent ({@link WriteQueue#sending}); the lower calls then run without the lock (under their
 * deadlines), so the mount goes on creating and writing other files meanwhile, while a change to
 * a marked path waits for the batch. The batch is retired under the lock again. A journal with
 * changes whose order across files matters (renames in the queue; made offline: directories,
 * links, deletions) goes up in its order, up to its last entry when the cycle began, every path
 * it names marked the same way; what is journaled meanwhile waits for the next cycle.
 */
final class Uploader implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Uploader.class);
    /** After a failed cycle, the next try comes this much later (doubling up to a minute). */
    private static final long RETRY_MIN_MS = 1000;
    private static final long RETRY_MAX_MS = 60_000;
    /**
     * What one cycle uploads at most. Changes to the files of a batch wait for its end (and
     * its retirement takes the changes lock), so a batch is kept short: over a WAN link one
     * small file costs several round trips, and the number of files a cycle takes follows the
     * time files took in the cycles before, for about {@link #HOLD_MS} a batch.
     */
    private static final long BATCH_BYTES = 4 << 20;
    private static final int BATCH_FILES_FIRST = 8;
    private static final int BATCH_FILES_MAX = 256;
    private static final double HOLD_MS = 1500;
    /**
     * Files of a batch uploaded side by side: one file's upload is a handful of round trips
     * (create, write, fsync, rename, stat), which the others need not wait for.
     */
    private static final int WORKERS = 8;
    /**
     * Journal records whose order across objects matters (a rename in the queue; made offline: a
     * file's directory, a link...): a journal with any goes in order, one entry after the other. A
     * new file's create needs only its directory, which is on the lower unless the journal also
     * holds its mkdir.
     */
    private static final Set<String> ORDERED = Set.of("mkdir", "symlink", "unlink", "rmdir", "rename", "link");

    private final dev.cachefs.index.CacheStore store;
    private final CacheIndex index;
    /** The journal's reserve was let go for the upload on a full cache disk: made again once there is room. */
    private boolean reserveGone;
    private final OfflineFs offline;
    private final WriteQueue queue;
    private final Replayer replayer;
    private final ModalLowerFs modal;
    private final Connectivity connectivity;
    private final Supplier<CacheLayer.Identifier> ids;
    private final Supplier<CacheLayer> cache;
    private final long delayMs;
    private final Object replaying;
    private volatile Consumer<Set<String>> renew = p -> { };
    private final Object wake = new Object();
    /** A drain waits: upload without the delay. */
    private volatile boolean urgent;
    /** A cycle is running (its entries may be done while it still retires their copies). */
    private volatile boolean cycling;
    private volatile boolean closed;
    private volatile String lastError;
    private volatile long lastErrorMs;
    private volatile long uploadedChanges;
    private volatile long uploadedBytes;
    /** Milliseconds a batch took per file in recent cycles (0: not measured yet). */
    private double msPerFile;
    private final Thread thread;

    /** @param replaying held by whatever replays the journal (one replay at a time) */
    Uploader(dev.cachefs.index.CacheStore store, OfflineFs offline, Replayer replayer, ModalLowerFs modal,
             Connectivity connectivity, Object replaying, Supplier<CacheLayer.Identifier> ids, Supplier<CacheLayer> cache,
             long delayMs) {
        this.replaying = replaying;
        this.store = store;
        this.index = store.index();
        this.offline = offline;
        this.queue = offline.queue();
        this.replayer = replayer;
        this.modal = modal;
        this.connectivity = connectivity;
        this.ids = ids;
        this.cache = cache;
        this.delayMs = delayMs;
        this.thread = Thread.ofPlatform().daemon().name("cachefs-uploader").unstarted(this::run);
    }

    void start() {
        thread.start();
    }

    /** Paths an upload replaced on the lower go to {@code r} (the kernel looks them up afresh). */
    void onUploaded(Consumer<Set<String>> r) {
        this.renew = r;
    }

    private void run() {
        long retryMs = RETRY_MIN_MS;
        while (!closed) {
            try {
                long wait = due();
                if (wait > 0) {
                    sleep(wait);
                    continue;
                }
                if (cycle() == 0) {
                    sleep(50); // all that waits is open for writing: its close comes first
                }
                retryMs = RETRY_MIN_MS;
                if (reserveGone && !dev.cachefs.index.ErrnoMapping.diskFull(store.directory())) {
                    store.keepReserve();
                    reserveGone = false;
                }
            } catch (ErrnoException | IndexException | RuntimeException e) {
                if (!reserveGone && dev.cachefs.index.ErrnoMapping.diskFull(store.directory()) && store.releaseReserve()) {
                    // The upload is what frees the space (retired copies), and it needs room to record
                    // its progress: the journal's reserve goes to it, and it tries again at once.
                    reserveGone = true;
                    log.warn("the cache disk is full: the journal's reserve goes to the upload, which frees the space");
                    continue;
                }
                lastError = e.getMessage();
                lastErrorMs = System.currentTimeMillis();
                if (!(e instanceof Guard.Unreachable)) {
                    log.warn("upload stopped (it resumes where it stopped, in {} s): {}", retryMs / 1000, e.getMessage());
                    connectivity.report(Connectivity.Kind.UPLOAD_FAILED, e.getMessage());
                }
                sleep(retryMs);
                retryMs = Math.min(RETRY_MAX_MS, retryMs * 2);
            }
        }
    }

    /** How long to wait before the next cycle (0: now). */
    private long due() throws IndexException {
        if (connectivity.offline()) {
            return 500; // reconnection replays it all
        }
        long oldest = index.offlineJournal().oldestMs();
        if (oldest == 0) {
            return Math.max(50, Math.min(delayMs, 1000));
        }
        if (urgent) {
            return 0;
        }
        long age = System.currentTimeMillis() - oldest;
        return age >= delayMs ? 0 : Math.min(delayMs - age, 1000);
    }

    private void sleep(long ms) {
        synchronized (wake) {
            try {
                wake.wait(Math.max(1, ms));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                closed = true;
            }
        }
    }

    /** One upload of what waits, but files open for writing; how many changes went up. */
    private int cycle() throws ErrnoException, IndexException {
        cycling = true;
        try {
            return cycleOnce();
        } finally {
            cycling = false;
        }
    }

    private int cycleOnce() throws ErrnoException, IndexException {
        Set<String> replaced;
        Replayer.Outcome o;
        synchronized (replaying) {
            Set<Long> busy = new HashSet<>();
            Set<Long> taken = new HashSet<>();
            long bytes = 0;
            boolean whole;
            long upTo;
            CacheLayer c;
            synchronized (offline.changesLock()) {
                if (connectivity.offline()) {
                    return 0;
                }
                c = cache.get();
                if (c != null) {
                    c.flushIndex(); // what lookups learnt before the upload lands before what it changes
                }
                // Files open for writing wait for their close; of the rest, a batch goes now, oldest first.
                List<CacheIndex.JournalEntry> entries = index.offlineJournal().entries();
                whole = entries.stream().anyMatch(e -> e.objId() == null || ORDERED.contains(e.op()));
                int maxFiles = msPerFile <= 0 ? BATCH_FILES_FIRST
                        : (int) Math.max(1, Math.min(BATCH_FILES_MAX, HOLD_MS / msPerFile));
                // Every name the batch's entries hold waits while it goes: with a journal whose order
                // matters, that is the journal as it is now (up to lastSeq, in its order), both names
                // of its renames included; what is journaled from now on goes with the next cycle.
                Set<String> paths = new HashSet<>();
                long lastSeq = 0;
                for (CacheIndex.JournalEntry e : entries) {
                    lastSeq = Math.max(lastSeq, e.seq());
                    Long obj = e.objId();
                    if (obj != null && !taken.contains(obj) && !busy.contains(obj)) {
                        boolean full = !taken.isEmpty() && (bytes >= BATCH_BYTES || taken.size() >= maxFiles);
                        if (queue.busy(obj) || (full && !whole)) { // a journal with names in it goes in order, all of it
                            busy.add(obj);
                        } else {
                            taken.add(obj);
                            index.get(obj).map(dev.cachefs.index.ObjectRecord::path).ifPresent(paths::add);
                            bytes += sizeOf(offline.localCopy(obj));
                        }
                    }
                    if (obj == null || taken.contains(obj)) { // (entries of no object make the journal whole)
                        for (String p : new String[] {e.path(), e.path2()}) {
                            if (p != null) {
                                paths.add(p);
                            }
                        }
                    }
                }
                queue.sending(paths); // changes to these wait; the rest of the mount goes on
                upTo = lastSeq;
            }
            long t0 = System.nanoTime();
            try {
                o = whole ? replayer.replayUpTo(modal.guardedOnline(), busy, upTo)
                        : replayer.replayOnly(modal.guardedOnline(), taken, WORKERS);
            } finally {
                synchronized (offline.changesLock()) {
                    try {
                        // What was journaled meanwhile, and what is open, stays queued.
                        Set<Long> kept = new HashSet<>(index.offlineJournal().pendingObjects());
                        kept.addAll(busy);
                        replayer.retire(ids.get(), c == null ? null : c::adopt, kept); // reloads the queue
                    } finally {
                        queue.sent();
                    }
                }
            }
            if (!taken.isEmpty() && !whole) {
                double ms = (System.nanoTime() - t0) / 1e6 / taken.size();
                msPerFile = msPerFile <= 0 ? ms : 0.5 * msPerFile + 0.5 * ms;
            }
            uploadedChanges += o.applied();
            uploadedBytes += bytes;
            replaced = replayer.takeReplayedPaths();
        }
        if (o.applied() > 0) {
            log.debug("uploaded {} changes ({} conflicts, {} left open); {} files wait", o.applied(), o.conflicts(),
                    o.open(), queue.size());
        }
        if (!replaced.isEmpty()) {
            try {
                renew.accept(replaced);
            } catch (RuntimeException e) {
                log.debug("the kernel's names of uploaded files not renewed (unmounted?): {}", e.toString());
            }
        }
        lastError = null;
        synchronized (wake) {
            wake.notifyAll(); // for drain
        }
        return o.applied();
    }

    /**
     * Uploads what waits now and returns true once the queue is empty (or {@code enough} says
     * so), or false after
     * {@code timeoutMs}; files open for writing are waited for. Offline, or an upload that
     * fails meanwhile: an {@link ErrnoException} that says so.
     */
    boolean drain(long timeoutMs, java.util.function.BooleanSupplier enough) throws ErrnoException {
        long begun = System.currentTimeMillis();
        long begunNs = System.nanoTime();
        long timeoutNs = TimeUnit.MILLISECONDS.toNanos(timeoutMs); // saturates: "no limit" stays positive
        try {
            while (true) {
                if (connectivity.offline()) {
                    throw new ErrnoException(Errno.ENOTCONN, "the mount is offline: what is queued uploads when the lower is back");
                }
                try {
                    if (enough.getAsBoolean() || (index.offlineJournal().size() == 0 && !cycling)) {
                        return true;
                    }
                } catch (IndexException e) {
                    throw dev.cachefs.index.ErrnoMapping.of(e);
                }
                String err = lastError;
                if (err != null && lastErrorMs >= begun) {
                    throw new ErrnoException(Errno.EIO, "upload failed (it is tried again): " + err);
                }
                if (System.nanoTime() - begunNs > timeoutNs || closed) { // no overflow for huge timeouts
                    return false;
                }
                synchronized (wake) {
                    urgent = true;
                    wake.notifyAll();
                    try {
                        wake.wait(100);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw new ErrnoException(Errno.EINTR, "interrupted");
                    }
                }
            }
        } finally {
            urgent = false;
        }
    }

    /** sync_fsync: object {@code objId} goes up now, though open (see {@link Replayer#uploadAhead}). */
    void uploadAhead(long objId) throws ErrnoException {
        synchronized (replaying) {
            synchronized (offline.changesLock()) {
                if (connectivity.offline()) {
                    return;
                }
                try {
                    replayer.uploadAhead(modal.guardedOnline(), objId);
                } catch (IndexException e) {
                    throw dev.cachefs.index.ErrnoMapping.of(e);
                }
            }
        }
    }

    /** For {@code cachefs status}: the queue's files, bytes, other changes, oldest change, last error. */
    void status(Map<String, String> m) {
        m.put("write-back", "on, uploads after " + delayMs / 1000.0 + " s");
        try {
            Queued q = queued();
            long oldest = index.offlineJournal().oldestMs();
            m.put("upload queue", q.files() + " files, " + q.bytes() + " bytes"
                    + (q.others() == 0 ? "" : ", " + q.others() + (q.others() == 1 ? " other change" : " other changes")
                            + " (names, removals, attributes)")
                    + (oldest == 0 ? "" : ", oldest change " + (System.currentTimeMillis() - oldest) / 1000 + " s old"));
        } catch (IndexException e) {
            m.put("upload queue", "unreadable: " + e.getMessage());
        }
        m.put("uploaded", uploadedChanges + " changes, " + uploadedBytes + " bytes since the mount");
        String err = lastError;
        if (err != null) {
            m.put("upload last error", java.time.Instant.ofEpochMilli(lastErrorMs) + ": " + err);
        }
    }

    /** Queue depth and totals, for metrics. */
    void gauges(Map<String, Long> m) throws IndexException {
        Queued q = queued();
        m.put("upload_queue_files", (long) q.files());
        m.put("upload_queue_changes", (long) index.offlineJournal().size());
        m.put("upload_queue_bytes", q.bytes());
        m.put("uploaded_changes", uploadedChanges);
        m.put("uploaded_bytes", uploadedBytes);
    }

    /**
     * What waits: objects with data to send (a local copy: written or new files) and their bytes,
     * and objects whose waiting changes are names or attributes only (a removal, a directory, a
     * mode). A save's replaced file is one of the latter, not a file to upload.
     */
    private record Queued(int files, long bytes, int others) {}

    private Queued queued() throws IndexException {
        Set<Long> pending = index.offlineJournal().pendingObjects();
        int files = 0;
        long bytes = 0;
        for (Long obj : pending) {
            java.nio.file.Path local = offline.localCopy(obj);
            if (local != null) {
                files++;
                bytes += sizeOf(local);
            }
        }
        return new Queued(files, bytes, pending.size() - files);
    }

    private static long sizeOf(java.nio.file.Path local) {
        try {
            return local == null ? 0 : java.nio.file.Files.size(local);
        } catch (java.io.IOException e) {
            return 0; // gone meanwhile
        }
    }

    /** Stops: a cycle running finishes first (its lower calls are under deadlines). */
    @Override
    public void close() {
        closed = true;
        synchronized (wake) {
            wake.notifyAll();
        }
        try {
            thread.join(120_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
