package dev.cachefs.cache;

import dev.cachefs.index.ErrnoMapping;
import dev.cachefs.index.CacheIndex;
import dev.cachefs.index.CacheStore;
import dev.cachefs.index.Chunk;
import dev.cachefs.index.FileId;
import dev.cachefs.index.IndexException;
import dev.cachefs.index.ObjectRecord;
import dev.cachefs.index.ObjectState;
import dev.cachefs.lower.LowerFile;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Stat;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import dev.cachefs.index.Fingerprint;
import dev.cachefs.index.IdentityMode;

/**
 * The lower files the cache layer holds in memory: one {@link CachedObject} per identity while the
 * kernel knows a node of it, an open file or a pin uses it, loaded from the index on first use
 * (its chunks, its version checked against fresh attributes) and let go when the last user goes
 * (its seal recorded). Also the node-to-object map, and what renames and unlinks through the
 * mount do to identities.
 *
 * <p>Locks: {@link #objects}'s monitor before any object's; {@link #byNode} is concurrent.
 */
final class ObjectTable {
    private static final Logger log = LoggerFactory.getLogger(CacheLayer.class);
    /** Loaded objects by identity; guarded by itself. */
    final Map<FileId, CachedObject> objects;
    /** The object of each kernel node that has one. */
    final Map<Long, CachedObject> byNode = new ConcurrentHashMap<>();
    private final CacheStore store;
    private final CacheIndex index;
    private final IndexWriter writer;
    private final CacheLayer.Identifier ids;
    private final IdentityMode identityMode;
    private final CacheStats stats;
    private final Integrity integrity;
    private final LogLimiter limited;

    ObjectTable(Map<FileId, CachedObject> objects, CacheStore store, IndexWriter writer, CacheLayer.Identifier ids,
                IdentityMode identityMode, CacheStats stats, Integrity integrity, LogLimiter limited) {
        this.objects = objects;
        this.store = store;
        this.index = store.index();
        this.writer = writer;
        this.ids = ids;
        this.identityMode = identityMode;
        this.stats = stats;
        this.integrity = integrity;
        this.limited = limited;
    }

    /** The object of {@code id}, loaded from the index if no one holds it now. Call holding {@code objects}. */
    CachedObject loadedLocked(FileId id, String path, Stat st) throws ErrnoException {
        CachedObject o = objects.get(id);
        if (o == null) {
            o = load(id, path, st);
            objects.put(id, o);
        } else if (idle.remove(o.rec.id()) != null) {
            idleOpen.remove(o.rec.id());
        }
        return o;
    }

    /**
     * Objects no one uses any more, kept loaded (least recently let go first, by row id) so that
     * opening the same file again skips the index (its row, chunks and seal); an open still
     * revalidates it against the lower. Beyond {@value #IDLE_KEPT} the oldest are let go.
     * Guarded by {@link #objects}.
     */
    private final java.util.LinkedHashMap<Long, CachedObject> idle = new java.util.LinkedHashMap<>();
    static final int IDLE_KEPT = 4096;
    /**
     * The idle objects that still hold their data file open, least recently let go first: at most
     * {@link #idleDescriptors}. A repeat open of such a file needs no path walk through the data
     * directories, and its inode stays in memory while the kernel's caches are dropped (measured:
     * reopening the data file after the kernel forgot it cost ~120 us of a warm small-file open).
     * Guarded by {@link #objects}.
     */
    private final java.util.LinkedHashMap<Long, CachedObject> idleOpen = new java.util.LinkedHashMap<>();
    private final int idleDescriptors = idleDescriptorBudget();

    /**
     * A quarter of the descriptors the daemon may open, at most {@value #IDLE_KEPT}: open files,
     * objects the kernel holds and the lower's descriptors keep the rest.
     */
    static int idleDescriptorBudget() {
        long max = java.lang.management.ManagementFactory.getOperatingSystemMXBean()
                instanceof com.sun.management.UnixOperatingSystemMXBean u ? u.getMaxFileDescriptorCount() : 0;
        return (int) Math.max(0, Math.min(IDLE_KEPT, max / 4));
    }

    /** If no one uses {@code o} now, it goes idle; its lower descriptor is closed at once. */
    void releaseIfIdle(CachedObject o) {
        Shared<LowerFile> reader = null;
        synchronized (objects) {
            synchronized (o) {
                if (o.nodeRefs > 0 || o.opens() > 0 || !o.inflight.isEmpty() || o.adopting > 0) {
                    return;
                }
                reader = o.reader;
                o.reader = null;
                idleLocked(o);
            }
            trimIdleLocked();
        }
        if (reader != null) {
            reader.release();
        }
    }

    int idleObjects() {
        synchronized (objects) {
            return idle.size();
        }
    }

    /**
     * {@code o} is not used: kept idle if it can still be found, else let go. An idle object keeps
     * its data file open while it is among the {@link #idleDescriptors} most recent ones; older
     * ones close it (reopened by the next open): thousands of idle objects must not hold as many
     * descriptors. Call holding both monitors.
     */
    private void idleLocked(CachedObject o) {
        if (objects.get(o.rec.fileId()) == o) {
            integrity.recordSealLocked(o);
            idle.remove(o.rec.id());
            idle.put(o.rec.id(), o);
            idleOpen.remove(o.rec.id());
            if (o.data != null && idleDescriptors > 0) {
                idleOpen.put(o.rec.id(), o);
            } else {
                closeDataLocked(o);
            }
        } else {
            letGoLocked(o); // detached (unlinked, replaced): nothing finds it again
        }
    }

    private void trimIdleLocked() {
        var it = idle.values().iterator();
        while (idle.size() > IDLE_KEPT) {
            CachedObject o = it.next();
            it.remove();
            idleOpen.remove(o.rec.id());
            synchronized (o) {
                if (o.nodeRefs <= 0 && o.opens() == 0 && o.adopting == 0) {
                    letGoLocked(o);
                }
            }
        }
        var open = idleOpen.values().iterator();
        while (idleOpen.size() > idleDescriptors) {
            CachedObject o = open.next();
            open.remove();
            synchronized (o) {
                if (o.nodeRefs <= 0 && o.opens() == 0 && o.adopting == 0) {
                    closeDataLocked(o);
                }
            }
        }
    }

    /** Unloads {@code o} (the index has all of it). Call holding both monitors. */
    private void letGoLocked(CachedObject o) {
        objects.remove(o.rec.fileId(), o);
        idleOpen.remove(o.rec.id());
        integrity.recordSealLocked(o);
        closeDataLocked(o);
    }

    private static void closeDataLocked(CachedObject o) {
        if (o.data != null) {
            o.data.release();
            o.data = null;
        }
    }

    /**
     * Lets go of every lower descriptor kept for fetching (the lower came back: descriptors from
     * before an outage may stay broken); the next miss opens the file again.
     */
    void dropReaders() {
        List<CachedObject> all;
        synchronized (objects) {
            all = new ArrayList<>(objects.values());
        }
        for (CachedObject o : all) {
            Shared<LowerFile> r = null;
            synchronized (o) {
                if (o.reader != null && o.inflight.isEmpty()) {
                    r = o.reader;
                    o.reader = null;
                }
            }
            if (r != null) {
                r.release();
            }
        }
    }

    /** The identity found at a path for an object as it was then (inode number and ctime). */
    private record Known(long dev, long ino, long ctimeNs, FileId id) {}

    /**
     * Identities found at paths whose objects were let go: the next open of the same object
     * (same device, inode number and ctime: not a file made since under the old name) finds its
     * identity here instead of asking the lower again (a file handle is one lower call).
     * Renames through the mount drop them all.
     */
    private final com.github.benmanes.caffeine.cache.Cache<String, Known> knownIds = com.github.benmanes.caffeine.cache.Caffeine
            .newBuilder().executor(Runnable::run).maximumSize(100_000).expireAfterWrite(java.time.Duration.ofMinutes(5)).build();

    /**
     * The cached object of regular file node {@code nodeid} at {@code path}, loaded from the index
     * (and checked against {@code st}, just read from the lower) the first time the node is seen.
     */
    CachedObject object(long nodeid, String path, Stat st) throws ErrnoException {
        CachedObject o = byNode.get(nodeid);
        if (o == null) {
            long ctime = st.ctimeSec() * 1_000_000_000L + st.ctimeNsec();
            Known k = knownIds.getIfPresent(path);
            FileId id = k != null && k.dev() == st.dev() && k.ino() == st.ino() && k.ctimeNs() == ctime ? k.id() : ids.idOf(path);
            knownIds.put(path, new Known(st.dev(), st.ino(), ctime, id));
            synchronized (objects) {
                o = loadedLocked(id, path, st);
                if (byNode.putIfAbsent(nodeid, o) == null) {
                    synchronized (o) {
                        o.nodeRefs++;
                    }
                } else {
                    o = byNode.get(nodeid);
                }
            }
        }
        synchronized (o) {
            o.path = path;
        }
        return o;
    }

    CachedObject load(FileId id, String path, Stat st) throws ErrnoException {
        Fingerprint fp = Fingerprint.of(st);
        try {
            if (!writer.idle()) {
                writer.flush(); // what the index says of this object must be complete
            }
            Optional<ObjectRecord> found = index.find(id);
            List<Chunk> chunks = List.of();
            ObjectRecord rec;
            if (found.isEmpty()) {
                rec = index.upsert(id, path, ObjectState.METADATA_ONLY, fp);
            } else if (found.get().fingerprint() != null && found.get().fingerprint().sameVersion(fp, identityMode)) {
                rec = found.get();
                chunks = index.data().chunks(rec.id());
                if (!path.equals(rec.path())) {
                    rec = index.upsert(id, path, rec.state(), fp);
                }
            } else if (found.get().fingerprint() == null && found.get().state() == ObjectState.METADATA_ONLY) {
                // Attributes a lookup recorded: no version of the data was ever kept, so nothing is
                // invalidated and there are no chunks to drop (a data file orphaned under this
                // identity goes all the same).
                store.unlinkDataOnly(found.get());
                rec = index.upsert(id, path, ObjectState.METADATA_ONLY, fp);
            } else {
                stats.invalidations.increment();
                store.removeData(found.get());
                rec = index.upsert(id, path, ObjectState.METADATA_ONLY, fp);
            }
            CachedObject o = new CachedObject(rec, path, fp);
            for (Chunk c : chunks) {
                o.chunks.put(c.index(), c);
                if (!store.trustsData()) {
                    o.unverified.add(c.index());
                }
            }
            integrity.onLoad(o);
            return o;
        } catch (IndexException e) {
            limited.warn("index", "cache index unusable for {}: {}", path, e.getMessage());
            throw ErrnoMapping.of(e, store.directory());
        }
    }

    /**
     * The name of node {@code nodeid} was removed or replaced on the lower through the mount: a new
     * file under that name (the same identity, with path identity) must not find this object.
     */
    void detach(long nodeid) {
        CachedObject o = byNode.get(nodeid);
        if (o != null) {
            synchronized (objects) {
                objects.remove(o.rec.fileId(), o);
            }
        }
    }

    /**
     * {@code from} was renamed to {@code to} through the mount. With path identity the objects
     * there (the file, or everything under a directory) get the identities of their new paths,
     * in memory and in the index, so their cached data stays theirs across remounts. With other
     * identities their index rows take the new paths (the kernel moves its dentries and looks up
     * nothing, and offline the mount finds objects by path: git's index renamed over must be its
     * new version there, not the one it replaced); with {@code rows} false (offline) the
     * disconnected layer has moved them already.
     */
    void renamed(String from, String to, boolean rows) {
        knownIds.invalidateAll(); // paths changed: identities are looked up again (rare)
        if (identityMode != IdentityMode.PATH) {
            String prefix = from + "/";
            synchronized (objects) {
                for (CachedObject o : objects.values()) {
                    synchronized (o) {
                        if (o.path.equals(from) || o.path.startsWith(prefix)) {
                            o.path = to + o.path.substring(from.length());
                        }
                    }
                }
            }
            if (rows) {
                writer.submit(new IndexWriter.Move(from, to));
            }
            return;
        }
        String prefix = from + "/";
        synchronized (objects) {
            List<CachedObject> moved = new java.util.ArrayList<>();
            objects.values().removeIf(o -> {
                String p;
                synchronized (o) {
                    p = o.path;
                }
                if (p.equals(from) || p.startsWith(prefix)) {
                    moved.add(o);
                    return true;
                }
                return false;
            });
            for (CachedObject o : moved) {
                synchronized (o) {
                    String np = to + o.path.substring(from.length());
                    try {
                        FileId id = ids.idOf(np);
                        ObjectRecord r = o.rec;
                        o.rec = new ObjectRecord(r.id(), id, np, r.state(), r.fingerprint(), r.dataName(), r.pinned(),
                                r.dirComplete(), r.symlinkTarget(), r.lastAccessMs(), r.accessCount(), r.dirSettled());
                        o.path = np;
                        objects.put(id, o);
                    } catch (ErrnoException e) {
                        log.debug("no identity for {}: {}", np, e.getMessage());
                    }
                }
            }
        }
        writer.submit(new IndexWriter.Rekey(from, to, p -> {
            try {
                return ids.idOf(p);
            } catch (ErrnoException e) {
                throw new IllegalStateException(e);
            }
        }));
    }

    /** Whether the cache holds an object for node {@code nodeid}. */
    boolean knows(long nodeid) {
        return byNode.containsKey(nodeid);
    }

    /** The kernel forgot node {@code nodeid}. */
    void forgetNode(long nodeid) {
        CachedObject o = byNode.remove(nodeid);
        if (o == null) {
            return;
        }
        synchronized (objects) {
            synchronized (o) {
                if (--o.nodeRefs <= 0 && o.opens() == 0 && o.adopting == 0) {
                    idleLocked(o);
                }
            }
            trimIdleLocked();
        }
    }
}
