package dev.cachefs.cache;

import dev.cachefs.index.CacheIndex;
import dev.cachefs.index.Chunk;
import dev.cachefs.index.Fingerprint;
import dev.cachefs.index.IndexException;
import dev.cachefs.index.ObjectState;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes the cache layer's index changes behind the reads that cause them: one thread applies
 * them in the order they were made, many to a transaction, so a cold read pays no SQLite commit
 * per chunk. The in-memory state of the cache layer is the truth while mounted; the index follows
 * it in order, so after a crash it holds a prefix of what happened (chunks recorded late are
 * fetched again; chunks whose data did not reach the disk fail their checksum and are dropped).
 */
final class IndexWriter implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(IndexWriter.class);
    private final LogLimiter limited = new LogLimiter(log, 60_000);
    private static final int BATCH = 2048;

    /** One change to the index. */
    sealed interface Op {}

    record AddChunk(long objId, Chunk chunk) implements Op {}

    /** Drops chunks {@code from} and above (truncation; 0: all). */
    record DropChunks(long objId, long from) implements Op {}

    /** Drops chunk {@code idx} alone (it failed its check). */
    record DropChunk(long objId, long idx) implements Op {}

    record SetFingerprint(long objId, Fingerprint fp) implements Op {}

    /** The seal of the object's data file (null: none). */
    record SetSeal(long objId, dev.cachefs.index.DataSeal seal) implements Op {}

    record SetState(long objId, ObjectState state) implements Op {}

    record SetPinned(long objId, boolean pinned) implements Op {}

    /** A directory's complete listing (its object row made or updated first). */
    /** A directory's whole listing; {@code settled}: see {@link dev.cachefs.index.ObjectRecord#dirSettled}. */
    record PutListing(dev.cachefs.index.FileId id, String path, Fingerprint fp, List<CacheIndex.Dirent> entries,
                      boolean settled) implements Op {}

    record PutAttrs(dev.cachefs.index.FileId id, String path, dev.cachefs.nativeio.Stat stat) implements Op {}

    /** A symlink's target (its row comes from its lookup, written before). */
    record PutSymlink(dev.cachefs.index.FileId id, String target) implements Op {}

    record PutXattr(dev.cachefs.index.FileId id, String name, byte[] value) implements Op {}

    /** Nothing is at {@code path} (and under it) any more. */
    record ForgetPath(String path, boolean under) implements Op {}

    /** Attributes at a path (and below) changed through the mount: not to be trusted by a remount. */
    record Unsee(String path, boolean under) implements Op {}

    /** Path identity: what was at {@code from} (and under it) is at {@code to} now. */
    record Rekey(String from, String to, java.util.function.Function<String, dev.cachefs.index.FileId> idOf) implements Op {}

    /**
     * Identities that are not paths: what was at {@code from} (and under it) is at {@code to} now,
     * under the same identities; what {@code to} named before names nothing.
     */
    record Move(String from, String to) implements Op {}

    private record Barrier(CountDownLatch done) implements Op {}

    private final CacheIndex index;
    /** Removes the data file of an index row a rename replaced. */
    private final java.util.function.Consumer<dev.cachefs.index.ObjectRecord> displacedData;
    private final BlockingQueue<Op> queue = new LinkedBlockingQueue<>();
    private final Thread thread;
    private volatile boolean closed;

    IndexWriter(CacheIndex index, java.util.function.Consumer<dev.cachefs.index.ObjectRecord> displacedData) {
        this.index = index;
        this.displacedData = displacedData;
        this.thread = Thread.ofPlatform().daemon().name("cachefs-index-writer").start(this::run);
    }

    /** Ops submitted, and ops the writer has done with (applied, or failed and logged). */
    private final java.util.concurrent.atomic.AtomicLong submitted = new java.util.concurrent.atomic.AtomicLong();
    private final java.util.concurrent.atomic.AtomicLong finished = new java.util.concurrent.atomic.AtomicLong();

    void submit(Op op) {
        submitted.incrementAndGet();
        queue.add(op);
    }

    boolean idle() {
        return queue.isEmpty();
    }

    /** Waits until everything submitted before this call is in the index. */
    void flush() {
        if (finished.get() == submitted.get()) {
            return; // nothing queued or being written: no round trip to the writer (a create asks each time)
        }
        CountDownLatch l = new CountDownLatch(1);
        queue.add(new Barrier(l));
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (!l.await(100, TimeUnit.MILLISECONDS)) {
                if (!thread.isAlive()) {
                    // Closed: nothing will write what is queued. A caller still at work after the
                    // close must not wait a minute per flush (it did, in a retirement at unmount).
                    log.debug("index flush after the writer closed");
                    return;
                }
                if (System.nanoTime() > deadline) {
                    log.warn("the cache index writer is more than 60 s behind");
                    return;
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void run() {
        List<Op> batch = new ArrayList<>();
        while (!closed || !queue.isEmpty()) {
            try {
                Op first = queue.poll(200, TimeUnit.MILLISECONDS);
                if (first == null) {
                    continue;
                }
                batch.add(first);
                queue.drainTo(batch, BATCH);
                apply(batch);
            } catch (InterruptedException e) {
                if (closed) {
                    break;
                }
            } finally {
                finished.addAndGet(batch.stream().filter(op -> !(op instanceof Barrier)).count());
                for (Op op : batch) {
                    if (op instanceof Barrier b) {
                        b.done().countDown();
                    }
                }
                batch.clear();
            }
        }
    }

    private void apply(List<Op> batch) {
        if (batch.stream().allMatch(op -> op instanceof Barrier)) {
            return; // nothing to write (a flush with the queue empty)
        }
        try {
            index.relaxedTransaction(() -> {
                List<Chunk> run = new ArrayList<>();
                long runObj = -1;
                for (Op op : batch) {
                    if (op instanceof AddChunk a && (runObj == -1 || runObj == a.objId())) {
                        runObj = a.objId();
                        run.add(a.chunk());
                        continue;
                    }
                    if (!run.isEmpty()) {
                        index.data().addChunks(runObj, run);
                        run = new ArrayList<>();
                    }
                    runObj = -1;
                    switch (op) {
                        case AddChunk a -> {
                            runObj = a.objId();
                            run.add(a.chunk());
                        }
                        case DropChunks d -> index.data().dropChunksFrom(d.objId(), d.from());
                        case DropChunk d -> index.data().dropChunk(d.objId(), d.idx());
                        case SetFingerprint f -> index.setFingerprint(f.objId(), f.fp());
                        case SetSeal z -> index.data().setSeal(z.objId(), z.seal());
                        case SetState s -> index.setState(s.objId(), s.state());
                        case SetPinned p -> index.setPinned(p.objId(), p.pinned());
                        case PutAttrs a -> index.record(a.id(), a.path(), a.stat());
                        case ForgetPath f -> index.paths().forgetPath(f.path(), f.under());
                        case Unsee u -> index.paths().unsee(u.path(), u.under());
                        case Rekey k -> index.paths().rekeyPaths(k.from(), k.to(), k.idOf()).forEach(displacedData);
                        case Move m -> {
                            index.paths().forgetPath(m.to(), true);
                            index.paths().movePaths(m.from(), m.to());
                        }
                        case PutSymlink l -> {
                            var rec = index.find(l.id());
                            if (rec.isPresent()) {
                                index.setSymlinkTarget(rec.get().id(), l.target());
                            }
                        }
                        case PutXattr x -> {
                            var rec = index.find(x.id());
                            if (rec.isPresent()) {
                                index.listings().putXattr(rec.get().id(), x.name(), x.value());
                            }
                        }
                        case PutListing l -> {
                            var rec = index.upsert(l.id(), l.path(), ObjectState.METADATA_ONLY, l.fp());
                            index.listings().putListing(rec.id(), l.entries(), true, l.settled());
                        }
                        case Barrier b -> { }
                    }
                }
                if (!run.isEmpty()) {
                    index.data().addChunks(runObj, run);
                }
            });
        } catch (IndexException e) {
            // The data stays served from memory; after a restart what is missing is fetched again.
            limited.warn("record", "cannot record {} cache changes in the index: {}", batch.size(), e.getMessage());
        }
    }

    @Override
    public void close() {
        flush();
        closed = true;
        thread.interrupt();
        try {
            thread.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
