package dev.cachefs.cache;

import dev.cachefs.index.CacheStore;
import dev.cachefs.index.Chunk;
import dev.cachefs.index.DataSeal;
import dev.cachefs.index.Fingerprint;
import dev.cachefs.index.IndexException;
import dev.cachefs.index.ObjectState;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Libc;
import java.lang.foreign.MemorySegment;

/**
 * An object's data file and the bookkeeping of its chunks, which every part of the cache layer
 * changes: the file itself (one descriptor per generation), chunks recorded as they are stored
 * and dropped, the object's state in the index, and the file's seal (see {@link DataSeal}), taken
 * after every write cachefs makes to it. Callers hold the object's monitor ({@code ...Locked}),
 * and its {@code storeLock} while they write bytes.
 */
final class DataFiles {
    private final CacheStore store;
    private final IndexWriter writer;
    private final CacheStats stats;
    private final int cs;
    private final LogLimiter limited;

    DataFiles(CacheStore store, IndexWriter writer, CacheStats stats, LogLimiter limited) {
        this.store = store;
        this.writer = writer;
        this.stats = stats;
        this.cs = store.chunkSize();
        this.limited = limited;
    }

    /** This generation's data file, acquired for the caller (release it). Call holding the object. */
    Shared<Integer> dataLocked(CachedObject o) throws IndexException {
        if (o.data == null) {
            int fd = store.openDataFile(o.rec);
            o.data = new Shared<>(fd, Libc::close);
        }
        o.data.acquire();
        return o.data;
    }

    void chunkStoredLocked(CachedObject o, Chunk c) {
        o.chunks.put(c.index(), c);
        o.unverified.remove(c.index());
        o.damaged.remove(c.index());
        resealLocked(o);
        writer.submit(new IndexWriter.AddChunk(o.rec.id(), c));
        boolean full = o.chunks.size() >= o.chunkCount(cs) && o.fullyCached(cs);
        setStateLocked(o, full ? ObjectState.CACHED : ObjectState.PARTIAL);
    }

    void setStateLocked(CachedObject o, ObjectState s) {
        if (o.recordedState != s) {
            o.recordedState = s;
            writer.submit(new IndexWriter.SetState(o.rec.id(), s));
        }
    }

    /**
     * Forgets all of the object's data at once, in a new generation (fetches in flight store
     * nothing), its file unlinked and its chunk records dropped in order; the bytes it held.
     */
    long dropDataLocked(CachedObject o) {
        long bytes = 0;
        for (Chunk c : o.chunks.values()) {
            bytes += c.length();
        }
        o.gen++;
        o.writeSeq++;
        o.chunks.clear();
        o.unverified.clear();
        o.damaged.clear();
        o.seal = null;
        if (o.data != null) {
            o.data.release();
            o.data = null;
        }
        store.unlinkDataOnly(o.rec);
        writer.submit(new IndexWriter.DropChunks(o.rec.id(), 0));
        setStateLocked(o, ObjectState.METADATA_ONLY);
        return bytes;
    }

    void dropFromLocked(CachedObject o, long idx) {
        o.chunks.tailMap(idx, true).clear();
        o.unverified.removeIf(i -> i >= idx);
        writer.submit(new IndexWriter.DropChunks(o.rec.id(), idx));
        setStateLocked(o, o.chunks.isEmpty() ? ObjectState.METADATA_ONLY : ObjectState.PARTIAL);
    }

    /**
     * {@link #dropFromLocked}, with the index told at once (from chunk {@code indexFrom}: a chunk
     * the cut shortens, whose new length the writer records after), before the caller cuts the data file:
     * a daemon killed between the cut and the writer's turn must not leave the index naming
     * chunks the file no longer holds (the daemon would find them by their checksums; fsck
     * reports them).
     */
    void dropFromDurablyLocked(CachedObject o, long idx, long indexFrom) {
        dropFromLocked(o, idx);
        try {
            store.index().data().dropChunksFrom(o.rec.id(), indexFrom);
        } catch (IndexException e) {
            // dropped by the writer only, as before: the daemon's checks cover a kill meanwhile
        }
    }

    /** Takes the data file's seal as it is now (after cachefs wrote it). Call holding the object. */
    void resealLocked(CachedObject o) {
        if (o.data == null) {
            o.seal = null;
            return;
        }
        try {
            o.seal = DataSeal.of(Libc.fstat(o.data.value));
        } catch (ErrnoException e) {
            o.seal = null;
        }
    }

    void storeFailed(CachedObject o, Exception e) {
        stats.uncachedBytes.add(cs);
        limited.warn("store", "cannot store cache data of {} ({}); reads are served from the lower", o.path, e.getMessage());
    }

    static int preadFully(int fd, MemorySegment dst, int n, long offset) throws ErrnoException {
        int done = 0;
        while (done < n) {
            long r = Libc.pread(fd, dst.asSlice(done), n - done, offset + done);
            if (r == 0) {
                break;
            }
            done += (int) r;
        }
        return done;
    }

    static void pwriteFully(int fd, MemorySegment src, int n, long offset) throws ErrnoException {
        int done = 0;
        while (done < n) {
            done += (int) Libc.pwrite(fd, src.asSlice(done), n - done, offset + done);
        }
    }

    /** {@code fp} is the version the cached data is now (our own change). Call holding the object. */
    void adoptLocked(CachedObject o, Fingerprint fp) {
        if (!fp.equals(o.fp)) {
            o.fp = fp;
            writer.submit(new IndexWriter.SetFingerprint(o.rec.id(), fp));
        }
    }
}
