package dev.cachefs.cache;

import dev.cachefs.index.CacheIndex;
import dev.cachefs.index.CacheStore;
import dev.cachefs.index.Chunk;
import dev.cachefs.index.DataSeal;
import dev.cachefs.index.FileId;
import dev.cachefs.index.IndexException;
import dev.cachefs.index.ObjectRecord;
import dev.cachefs.index.ObjectState;
import dev.cachefs.nativeio.Errno;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Libc;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Cached data is served only as it was stored: chunks whose CRC32C must be checked before use
 * (after a crash, or when a data file no longer matches its seal), the check itself, a failing
 * chunk dropped alone and remembered as damaged (offline, where it cannot be fetched again, a
 * read of it is EIO), and the hooks of the background {@link Scrubber}.
 *
 * <p>Locks: the objects map's monitor before an object's, as everywhere in the layer; a chunk is
 * read for its check under neither, and the result applies only if the chunk is still the same.
 */
final class Integrity {
    private static final Logger log = LoggerFactory.getLogger(CacheLayer.class);
    private final DataFiles files;
    private final CacheIndex index;
    private final IndexWriter writer;
    private final CacheStats stats;
    private final int cs;
    private final ThreadLocal<MemorySegment> buffers;
    private final LogLimiter limited;
    /** The loaded objects (the layer's map, guarded by itself). */
    private final Map<FileId, CachedObject> objects;
    /**
     * Chunks the scrub dropped from objects no one held, by object id: when one is loaded they are
     * its {@link CachedObject#damaged} (for this daemon's life).
     */
    private final Map<Long, java.util.Set<Long>> scrubDamaged = new ConcurrentHashMap<>();

    Integrity(DataFiles files, CacheIndex index, IndexWriter writer, CacheStats stats, int cs,
              ThreadLocal<MemorySegment> buffers, LogLimiter limited, Map<FileId, CachedObject> objects) {
        this.files = files;
        this.index = index;
        this.writer = writer;
        this.stats = stats;
        this.cs = cs;
        this.buffers = buffers;
        this.limited = limited;
        this.objects = objects;
    }

    /** A newly loaded object: its seal from the index, and what the scrub found damaged in it. */
    void onLoad(CachedObject o) throws IndexException {
        if (!o.chunks.isEmpty()) {
            o.seal = index.data().seal(o.rec.id()); // compared with the data file at open
            o.recordedSeal = o.seal;
        }
        java.util.Set<Long> scrubbed = scrubDamaged.remove(o.rec.id());
        if (scrubbed != null) {
            scrubbed.removeAll(o.chunks.keySet());
            o.damaged.addAll(scrubbed);
        }
    }

    /** Checks a chunk loaded after a crash against its CRC; drops it if it fails. */
    boolean verify(CachedObject o, long idx) {
        Chunk c;
        Shared<Integer> df;
        synchronized (o) {
            c = o.chunks.get(idx);
            if (c == null || !o.unverified.contains(idx)) {
                return c != null;
            }
            try {
                df = files.dataLocked(o);
            } catch (IndexException e) {
                return false;
            }
        }
        boolean ok;
        try {
            MemorySegment buf = buffers.get();
            int n = files.preadFully(df.value, buf, c.length(), idx * cs);
            ok = n == c.length() && CacheStore.crc(buf.asSlice(0, n)) == c.crc();
        } catch (ErrnoException e) {
            ok = false;
        } finally {
            df.release();
        }
        synchronized (o) {
            if (o.chunks.get(idx) != c) {
                return false;
            }
            if (ok) {
                o.unverified.remove(idx);
                if (o.unverified.isEmpty()) {
                    files.resealLocked(o); // every chunk checked: this is the file as we vouch for it now
                }
                return true;
            }
            // Only this chunk: the others have checksums of their own.
            o.chunks.remove(idx);
            o.unverified.remove(idx);
            o.damaged.add(idx);
            writer.submit(new IndexWriter.DropChunk(o.rec.id(), idx));
            files.setStateLocked(o, o.chunks.isEmpty() ? ObjectState.METADATA_ONLY : ObjectState.PARTIAL);
            if (o.unverified.isEmpty()) {
                files.resealLocked(o);
            }
        }
        stats.corruptChunks.increment();
        log.warn("cached chunk {} of {} fails its checksum; dropped, it is fetched again", idx, o.path);
        return false;
    }

    /**
     * A failed fetch of chunk {@code idx}: if the cache held that chunk until it failed its check,
     * the file is damaged here and the lower cannot give it again now (offline): EIO, logged and
     * counted, never the damaged bytes and never "not cached".
     */
    ErrnoException damagedOr(CachedObject o, long idx, ErrnoException e) {
        boolean damaged;
        synchronized (o) {
            damaged = o.damaged.contains(idx);
        }
        if (!damaged) {
            return e;
        }
        stats.damagedReads.increment();
        limited.warn("damaged", "chunk {} of {} was damaged in the cache and cannot be fetched again ({}): EIO",
                idx, o.path, e.getMessage());
        return new ErrnoException(Errno.EIO, "damaged in the cache, and the lower cannot give it again: " + e.getMessage());
    }

    /**
     * Before an open serves cached data: if the data file is not as cachefs left it (its seal), it
     * was changed behind our back, so every chunk is checked against its CRC before it is served
     * (by the daemon path per chunk, by a passthrough open all at once). Skipped while the kernel
     * itself writes the file (passthrough writers) and while a check is already due.
     */
    void checkSealLocked(CachedObject o) {
        if (o.chunks.isEmpty() || !o.unverified.isEmpty() || (o.passthroughOpens > 0 && o.writers > 0)) {
            return;
        }
        DataSeal now = null;
        try {
            Shared<Integer> df = files.dataLocked(o);
            try {
                now = DataSeal.of(Libc.fstat(df.value));
            } finally {
                df.release();
            }
        } catch (IndexException | ErrnoException e) {
            // unreadable: treated as changed
        }
        if (now != null && now.equals(o.seal)) {
            return;
        }
        o.unverified.addAll(o.chunks.keySet());
        log.info("the cache file of {} is not as cachefs left it ({}, now {}); its {} chunks are checked before use",
                o.path, o.seal, now, o.chunks.size());
        o.seal = null;
        stats.sealMismatches.increment();
    }

    /**
     * Writes the object's seal to the index if it changed; none while some chunk is still to be
     * checked (a seal vouches for every chunk). Call holding the object.
     */
    void recordSealLocked(CachedObject o) {
        DataSeal s = o.unverified.isEmpty() ? o.seal : null;
        if (!java.util.Objects.equals(s, o.recordedSeal)) {
            writer.submit(new IndexWriter.SetSeal(o.rec.id(), s));
            o.recordedSeal = s;
        }
    }

    /** The object of {@code id} if someone holds it now, else null. */
    CachedObject loaded(FileId id) {
        synchronized (objects) {
            return objects.get(id);
        }
    }

    /** The chunks of a loaded object to scrub, or null while the kernel writes its cache file itself. */
    List<Chunk> scrubbable(CachedObject o) {
        synchronized (o) {
            return o.passthroughOpens > 0 && o.writers > 0 ? null : List.copyOf(o.chunks.values());
        }
    }

    /** Checks chunk {@code c} of a loaded object (dropped if it fails, as any check does). */
    void scrubLoaded(CachedObject o, Chunk c) {
        synchronized (o) {
            if (o.chunks.get(c.index()) != c || (o.passthroughOpens > 0 && o.writers > 0)) {
                return; // changed meanwhile: that change recorded a fresh CRC
            }
            o.unverified.add(c.index());
        }
        verify(o, c.index());
    }

    /**
     * Chunk {@code c} of {@code rec}, which no one held, failed its check: dropped from the index;
     * or, if the object was loaded meanwhile, checked again through it before any use.
     */
    void scrubFailedUnloaded(ObjectRecord rec, Chunk c) {
        synchronized (objects) {
            CachedObject o = objects.get(rec.fileId());
            if (o != null) {
                synchronized (o) {
                    if (o.chunks.containsKey(c.index())) {
                        o.unverified.add(c.index());
                    }
                }
                return;
            }
            try {
                writer.flush(); // what the index says of it is complete
                if (!index.data().chunk(rec.id(), c.index()).map(c::equals).orElse(false)) {
                    return; // dropped or rewritten meanwhile (culled, evicted)
                }
                index.data().dropChunk(rec.id(), c.index());
                index.setState(rec.id(), index.data().chunks(rec.id()).isEmpty() ? ObjectState.METADATA_ONLY : ObjectState.PARTIAL);
            } catch (IndexException e) {
                log.warn("cannot drop a damaged chunk of {}: {}", rec.path(), e.getMessage());
                return;
            }
            scrubDamaged.computeIfAbsent(rec.id(), k -> ConcurrentHashMap.newKeySet()).add(c.index());
        }
        stats.corruptChunks.increment();
        log.warn("the scrub found chunk {} of {} damaged in the cache; dropped, it is fetched again", c.index(), rec.path());
    }
}
