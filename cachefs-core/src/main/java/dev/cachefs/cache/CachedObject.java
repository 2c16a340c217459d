package dev.cachefs.cache;

import dev.cachefs.index.Chunk;
import dev.cachefs.index.DataSeal;
import dev.cachefs.index.Fingerprint;
import dev.cachefs.index.ObjectRecord;
import dev.cachefs.index.ObjectState;
import dev.cachefs.lower.LowerFile;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;

/**
 * One lower regular file as the cache layer holds it while the kernel knows it: the version of
 * the lower's data it caches (fingerprint and size), which chunks of that version are present,
 * the fetches in flight, and how it is open. Every field is guarded by the object itself.
 *
 * <p>Generations: when the lower's version changes, every chunk is dropped at once and
 * {@link #gen} goes up; a fetch that started in an older generation stores nothing, so the cache
 * never holds a mix of two versions. {@link #writeSeq} does the same for local writes racing a
 * fetch of the range they change.
 */
final class CachedObject {
    /** Its index row; replaced (new FileId, same object id and data file) when a rename re-keys it. */
    volatile ObjectRecord rec;
    String path;
    Fingerprint fp;
    long size;
    long gen;
    long writeSeq;
    /** Present chunks of this generation, by index. */
    final TreeMap<Long, Chunk> chunks = new TreeMap<>();
    /**
     * Present chunks to check against their CRC before they are served: all of them after a crash,
     * or when the data file no longer matches its {@link #seal}.
     */
    final Set<Long> unverified = new HashSet<>();
    /**
     * Chunks dropped because they failed their check and not fetched again since: offline, where
     * they cannot be fetched, a read of one is an I/O error (the file is damaged), not ENOTCONN.
     */
    final Set<Long> damaged = new HashSet<>();
    /** The data file as cachefs last left it (null: unknown, or no data file). */
    DataSeal seal;
    /** The seal the index holds for this object. */
    DataSeal recordedSeal;
    final Map<Long, CompletableFuture<Void>> inflight = new HashMap<>();
    /**
     * Held (before the object's monitor, never after it) by whatever writes bytes into the data
     * file: a fetch storing a chunk, a local write, a truncation. Reads of present chunks take
     * neither, so a 1 MiB store does not hold up readers of the object.
     */
    final java.util.concurrent.locks.ReentrantLock storeLock = new java.util.concurrent.locks.ReentrantLock();
    /** This generation's data file, opened on first use. */
    Shared<Integer> data;
    /** A lower descriptor for fetching, opened on the first miss, closed with the last open. */
    Shared<LowerFile> reader;
    boolean readerDirect;
    int passthroughOpens;
    /** The generation whose data file the kernel's passthrough opens read (-1: none open). */
    long backingGen = -1;
    int cachedIoOpens;
    int directOpens;
    int writers;
    /** The generation the kernel's page cache of this inode holds data of (-1: none known). */
    long pageGen = -1;
    int nodeRefs;
    /** Offline copies being adopted as its data ({@link CacheLayer#adopt}): keeps it loaded. */
    int adopting;
    /** When the daemon last chose a non-passthrough open (System.nanoTime), or 0. */
    long lastDaemonOpenNs;
    ObjectState recordedState;
    /** Kept by the user's pin: never culled, outside the unpinned size limit. */
    boolean pinned;

    CachedObject(ObjectRecord rec, String path, Fingerprint fp) {
        this.rec = rec;
        this.path = path;
        this.fp = fp;
        this.size = fp.size();
        this.recordedState = rec.state();
        this.pinned = rec.pinned();
    }

    /** Length chunk {@code idx} has when present: the part of the file it covers. */
    int expectedLength(long idx, int chunkSize) {
        long start = idx * chunkSize;
        return (int) Math.max(0, Math.min(chunkSize, size - start));
    }

    long chunkCount(int chunkSize) {
        return (size + chunkSize - 1) / chunkSize;
    }

    /** Every byte of the current size is present. */
    boolean fullyCached(int chunkSize) {
        long n = chunkCount(chunkSize);
        if (chunks.size() < n) {
            return false;
        }
        for (long i = 0; i < n; i++) {
            Chunk c = chunks.get(i);
            if (c == null || c.length() != expectedLength(i, chunkSize)) {
                return false;
            }
        }
        return true;
    }

    int opens() {
        return passthroughOpens + cachedIoOpens + directOpens;
    }
}
