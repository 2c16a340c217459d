package dev.cachefs.cache;

import dev.cachefs.index.CacheStore;
import dev.cachefs.index.Chunk;
import dev.cachefs.index.FileId;
import java.lang.foreign.Arena;
import dev.cachefs.index.Fingerprint;
import dev.cachefs.index.IndexException;
import dev.cachefs.index.ObjectState;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Libc;
import dev.cachefs.nativeio.Stat;
import java.lang.foreign.MemorySegment;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Local changes of a file's data in the cache: writes through the mount patch the chunks they
 * complete (the lower is written first), truncation and extension cut or zero-fill chunks, and a
 * passthrough writer's data (written by the kernel into the cache file) is copied to the lower
 * and re-chunked. Every change bumps the object's write sequence, so a fetch racing it stores
 * nothing.
 *
 * <p>Locks: the object's storeLock, then its monitor.
 */
final class WritePath {
    private static final Logger log = LoggerFactory.getLogger(CacheLayer.class);
    private final DataFiles files;
    private final CacheStats stats;
    private final IndexWriter writer;
    private final int cs;
    private final ThreadLocal<MemorySegment> buffers;
    private final MemorySegment zeros;

    private final LogLimiter limited;

    WritePath(DataFiles files, CacheStats stats, IndexWriter writer, int cs, ThreadLocal<MemorySegment> buffers,
              MemorySegment zeros, LogLimiter limited) {
        this.limited = limited;
        this.files = files;
        this.stats = stats;
        this.writer = writer;
        this.cs = cs;
        this.buffers = buffers;
        this.zeros = zeros;
    }

    /** Copies the cache file to the lower if the kernel wrote to it since the last copy. */
    void copyBack(CacheLayer.Handle h) throws ErrnoException {
        CachedObject o = h.obj;
        int fd = h.backing.value;
        Stat st = Libc.fstat(fd);
        synchronized (h) {
            if (st.mtimeNsTotal() == h.syncedMtime) {
                return;
            }
            h.syncedMtime = st.mtimeNsTotal();
        }
        long size = st.size();
        MemorySegment buf = buffers.get();
        for (long off = 0; off < size; off += cs) {
            int n = files.preadFully(fd, buf, (int) Math.min(cs, size - off), off);
            h.lower.write(off, buf.asSlice(0, n));
            stats.writeBytes.add(n);
        }
        if (h.lower.stat().size() > size) {
            h.lower.truncate(size);
        }
        o.storeLock.lock();
        try {
            rechunkLocked(o, fd, size, buf);
        } finally {
            o.storeLock.unlock();
        }
    }

    /** After the kernel wrote the cache file itself (passthrough writer): every chunk anew. */
    void rechunkLocked(CachedObject o, int fd, long size, MemorySegment buf) throws ErrnoException {
        synchronized (o) {
            o.writeSeq++;
            o.size = size;
            o.chunks.clear();
            o.unverified.clear();
            writer.submit(new IndexWriter.DropChunks(o.rec.id(), 0));
            for (long idx = 0; idx * cs < size; idx++) {
                int n = files.preadFully(fd, buf, o.expectedLength(idx, cs), idx * cs);
                files.chunkStoredLocked(o, new Chunk(idx, n, CacheStore.crc(buf.asSlice(0, n))));
            }
            if (size == 0) {
                files.setStateLocked(o, ObjectState.CACHED);
            }
        }
    }

    /** Writes through to the lower, then into present chunks of the cache. */
    int write(CacheLayer.Handle h, long offset, MemorySegment src) throws ErrnoException {
        int n = h.lower.write(offset, src);
        stats.writeBytes.add(n);
        CachedObject o = h.obj;
        o.storeLock.lock();
        try {
            writeLocked(h, o, offset, src, n);
        } finally {
            o.storeLock.unlock();
        }
        return n;
    }

    void writeLocked(CacheLayer.Handle h, CachedObject o, long offset, MemorySegment src, int n) {
        synchronized (o) {
            o.writeSeq++;
            if (h.mode == CacheLayer.Mode.DIRECT_IO) {
                o.pageGen = -1; // the kernel's pages of this inode did not see this write
            }
            long old = o.size;
            long end = offset + n;
            long size = Math.max(old, end);
            try {
                o.size = size;
                extendLocked(o, old, size);
                for (long idx = offset / cs; idx * cs < end; idx++) {
                    patchLocked(o, idx, offset, src.asSlice(0, n), old);
                }
            } catch (IndexException | ErrnoException e) {
                files.dropFromLocked(o, offset / cs);
                files.storeFailed(o, e);
            }
        }
    }

    /** Copies the part of a write that falls in chunk {@code idx} into the cache, if the chunk can be complete. */
    void patchLocked(CachedObject o, long idx, long offset, MemorySegment src, long oldSize)
            throws IndexException, ErrnoException {
        long cstart = idx * cs;
        long ws = Math.max(offset, cstart);
        long we = Math.min(offset + src.byteSize(), cstart + cs);
        Chunk c = o.chunks.get(idx);
        long contentEnd = cstart + o.expectedLength(idx, cs);
        boolean present = c != null && !o.unverified.contains(idx);
        long known; // end of what the chunk holds before the write
        if (present) {
            known = cstart + c.length();
        } else if (ws <= cstart && we >= contentEnd) {
            known = cstart;
        } else if (cstart >= oldSize) {
            known = cstart; // wholly past the old end: zeros up to the write
        } else {
            if (c != null) {
                files.dropFromLocked(o, idx);
            }
            return; // an absent chunk the write covers only in part: fetched when read
        }
        Shared<Integer> df = files.dataLocked(o);
        try {
            if (ws > known) {
                files.pwriteFully(df.value, zeros, (int) (ws - known), known);
            }
            files.pwriteFully(df.value, src.asSlice(ws - offset, we - ws), (int) (we - ws), ws);
            int len = (int) (Math.max(known, we) - cstart);
            MemorySegment buf = buffers.get();
            files.preadFully(df.value, buf, len, cstart);
            files.chunkStoredLocked(o, new Chunk(idx, len, CacheStore.crc(buf.asSlice(0, len))));
        } finally {
            df.release();
        }
    }

    /** The file grows from {@code old} to {@code size}: a present last chunk gains zeros. */
    void extendLocked(CachedObject o, long old, long size) throws IndexException, ErrnoException {
        if (size <= old || old % cs == 0) {
            return;
        }
        long idx = old / cs;
        Chunk c = o.chunks.get(idx);
        if (c == null || o.unverified.contains(idx)) {
            return;
        }
        long cstart = idx * cs;
        long end = Math.min(cstart + cs, size);
        Shared<Integer> df = files.dataLocked(o);
        try {
            files.pwriteFully(df.value, zeros, (int) (end - cstart - c.length()), cstart + c.length());
            int len = (int) (end - cstart);
            MemorySegment buf = buffers.get();
            files.preadFully(df.value, buf, len, cstart);
            files.chunkStoredLocked(o, new Chunk(idx, len, CacheStore.crc(buf.asSlice(0, len))));
        } finally {
            df.release();
        }
    }

    void truncate(CachedObject o, long size) {
        o.storeLock.lock();
        try {
            truncateLocked(o, size);
        } finally {
            o.storeLock.unlock();
        }
    }

    void truncateLocked(CachedObject o, long size) {
        synchronized (o) {
            o.writeSeq++;
            long old = o.size;
            try {
                if (size < old) {
                    long keep = size / cs; // the chunk holding the new end, if any part remains
                    files.dropFromDurablyLocked(o, size % cs == 0 ? keep : keep + 1, keep);
                    o.size = size;
                    Shared<Integer> df = files.dataLocked(o);
                    try {
                        Libc.ftruncate(df.value, size);
                        files.resealLocked(o);
                        Chunk c = o.chunks.get(keep);
                        if (c != null && size % cs != 0) {
                            int len = (int) (size - keep * cs);
                            MemorySegment buf = buffers.get();
                            files.preadFully(df.value, buf, len, keep * cs);
                            files.chunkStoredLocked(o, new Chunk(keep, len, CacheStore.crc(buf.asSlice(0, len))));
                        }
                    } finally {
                        df.release();
                    }
                } else if (size > old) {
                    o.size = size;
                    extendLocked(o, old, size);
                }
                if (o.chunks.isEmpty()) {
                    files.setStateLocked(o, size == 0 ? ObjectState.CACHED : ObjectState.METADATA_ONLY);
                }
            } catch (IndexException | ErrnoException e) {
                o.size = size;
                files.dropFromLocked(o, 0);
                files.storeFailed(o, e);
            }
        }
    }

    void changedLocked(CachedObject o, long offset, Stat st) {
        synchronized (o) {
            o.writeSeq++;
            o.pageGen = -1;
            files.dropFromDurablyLocked(o, offset / cs, offset / cs);
            try {
                Shared<Integer> df = files.dataLocked(o);
                try {
                    Libc.ftruncate(df.value, Math.min(o.size, (offset / cs) * cs));
                } finally {
                    df.release();
                }
            } catch (IndexException | ErrnoException e) {
                log.debug("cache file not truncated: {}", e.getMessage());
            }
            o.size = st.size();
            files.adoptLocked(o, Fingerprint.of(st));
        }
    }

    /**
     * Replay wrote all of {@code from}, a file changed offline, to the lower as object {@code id} at
     * {@code path}, whose attributes there are now {@code st}: those bytes become its cached data,
     * as far as the cache admits them, so that what was written offline stays readable offline
     * once it has synced (rather than only where it was pinned). Cached data of any other version
     * is dropped first, in a new generation, so no mix of versions is ever served. Best effort:
     * what the cache does not take is fetched from the lower when read.
     */
    void adopt(ObjectTable table, Fetcher fetcher, String path, FileId id, Stat st, java.nio.file.Path from)
            throws ErrnoException {
        if (!st.isRegular()) {
            return;
        }
        CachedObject o;
        synchronized (table.objects) {
            o = table.loadedLocked(id, path, st);
            synchronized (o) {
                o.adopting++;
            }
        }
        long gen;
        long seq;
        try {
            synchronized (o) {
                if (o.writers > 0) {
                    return; // written through the mount already: that version is the lower's now
                }
                files.dropDataLocked(o);
                o.fp = Fingerprint.of(st);
                o.size = st.size();
                writer.submit(new IndexWriter.SetFingerprint(o.rec.id(), o.fp));
                if (o.size == 0) {
                    files.setStateLocked(o, ObjectState.CACHED);
                }
                gen = o.gen;
                seq = o.writeSeq;
            }
            try (Arena arena = Arena.ofConfined();
                 var ch = java.nio.channels.FileChannel.open(from, java.nio.file.StandardOpenOption.READ)) {
                MemorySegment buf = arena.allocate(cs, 4096);
                for (long idx = 0; idx * cs < st.size(); idx++) {
                    int len = (int) Math.min(cs, st.size() - idx * cs);
                    var bb = buf.asSlice(0, len).asByteBuffer();
                    while (bb.hasRemaining() && ch.read(bb, idx * cs + bb.position()) > 0) {
                        // read the whole chunk
                    }
                    if (bb.hasRemaining()) {
                        break; // shorter than replay saw it: not the version the lower has
                    }
                    fetcher.store(o, idx, gen, seq, buf, len);
                    synchronized (o) {
                        if (o.gen != gen || o.writeSeq != seq || !o.chunks.containsKey(idx)) {
                            break; // changed meanwhile, or the cache is full
                        }
                    }
                }
            } catch (java.io.IOException e) {
                limited.warn("adopt", "cannot read the offline copy of {} into the cache: {}", path, e.getMessage());
            }
        } finally {
            synchronized (o) {
                o.adopting--;
            }
            table.releaseIfIdle(o);
        }
    }
}
