package dev.cachefs.cache;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import dev.cachefs.index.CacheIndex;
import dev.cachefs.index.FileId;
import dev.cachefs.index.Fingerprint;
import dev.cachefs.index.IdentityMode;
import dev.cachefs.index.IndexException;
import dev.cachefs.index.ObjectRecord;
import dev.cachefs.lower.LowerDir;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Stat;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Directory listings copied up: kept in memory and in the index (a directory's object row and its
 * dirents, marked complete), served instead of reading the lower's directory while the
 * directory's fingerprint (mtime, ctime, size, inode) is unchanged. Timestamps of some lowers are
 * whole seconds (sshfs), so a listing is kept only if the directory's mtime was at least
 * {@link #SETTLED_NS} old when it was read: a change made later shows as a later mtime. Changes
 * made through the mount drop the listing at once.
 */
public final class DirCache {
    private static final Logger log = LoggerFactory.getLogger(DirCache.class);
    static final long SETTLED_NS = 2_000_000_000L;

    private record Listing(Fingerprint fp, List<LowerDir.DirEntry> entries) {}

    private final CacheIndex index;
    private final IndexWriter writer;
    private final CacheLayer.Identifier ids;
    private final IdentityMode mode;
    private final CacheStats stats;
    private final Cache<String, Listing> memory = Caffeine.newBuilder().executor(Runnable::run).maximumWeight(2_000_000)
            .weigher((String k, Listing l) -> 1 + l.entries().size()).build();
    private final java.time.InstantSource clock;

    DirCache(CacheIndex index, IndexWriter writer, CacheLayer.Identifier ids, IdentityMode mode, CacheStats stats,
             java.time.InstantSource clock) {
        this.clock = clock;
        this.index = index;
        this.writer = writer;
        this.ids = ids;
        this.mode = mode;
        this.stats = stats;
    }

    /**
     * The cached listing of directory {@code path} if it is still the lower's ({@code st}: the
     * directory's attributes just read from the lower); entries' offsets are their position + 1.
     */
    public Optional<List<LowerDir.DirEntry>> valid(String path, Stat st) {
        Fingerprint now = Fingerprint.of(st);
        Listing l = memory.getIfPresent(path);
        if (l == null) {
            l = fromIndex(path, now);
        }
        if (l != null && l.fp().sameVersion(now, mode)) {
            stats.metaHits.increment();
            return Optional.of(l.entries());
        }
        stats.metaMisses.increment();
        return Optional.empty();
    }

    private Listing fromIndex(String path, Fingerprint now) {
        try {
            // No writer flush: a listing still queued is newer than the index's, and an older one
            // fails the fingerprint check below, so the worst case is one more read of the lower.
            FileId id = ids.idOf(path);
            Optional<ObjectRecord> rec = index.find(id);
            if (rec.isEmpty() || !rec.get().dirComplete() || !rec.get().dirSettled() || rec.get().fingerprint() == null
                    || !rec.get().fingerprint().sameVersion(now, mode)) {
                return null;
            }
            List<LowerDir.DirEntry> out = new ArrayList<>();
            for (CacheIndex.Dirent d : index.listings().listing(rec.get().id())) {
                out.add(new LowerDir.DirEntry(d.name(), d.ino(), d.type(), out.size() + 1));
            }
            Listing l = new Listing(rec.get().fingerprint(), List.copyOf(out));
            memory.put(path, l);
            return l;
        } catch (ErrnoException | IndexException e) {
            log.debug("no cached listing of {}: {}", path, e.getMessage());
            return null;
        }
    }

    /**
     * A complete listing of {@code path} was read from the lower, which showed {@code st} before
     * the listing began.
     */
    public void store(String path, Stat st, List<LowerDir.DirEntry> entries) {
        if (paused) {
            return; // offline: the listing came from the index, which the disconnected layer keeps
        }
        long mtimeNs = st.mtimeNsTotal();
        // Changed too recently: a change within the same timestamp would go unseen, so the
        // listing is not served online; offline it is the best there is (better than ENOTCONN).
        boolean settled = clock.millis() * 1_000_000L - mtimeNs >= SETTLED_NS;
        List<LowerDir.DirEntry> numbered = new ArrayList<>(entries.size());
        List<CacheIndex.Dirent> dirents = new ArrayList<>(entries.size());
        for (LowerDir.DirEntry e : entries) {
            numbered.add(new LowerDir.DirEntry(e.name(), e.ino(), e.type(), numbered.size() + 1));
            dirents.add(new CacheIndex.Dirent(e.name(), null, e.type(), e.ino()));
        }
        Fingerprint fp = Fingerprint.of(st);
        if (settled) {
            memory.put(path, new Listing(fp, List.copyOf(numbered)));
        }
        try {
            writer.submit(new IndexWriter.PutListing(ids.idOf(path), path, fp, dirents, settled));
        } catch (ErrnoException e) {
            log.debug("listing of {} kept in memory only: {}", path, e.getMessage());
        }
    }

    private volatile boolean paused;

    /** Stops (or resumes) storing listings read through the mount (see {@link MetaCopy#pause}). */
    public void pause(boolean pause) {
        paused = pause;
        dropAll();
    }

    /** Something changed in directory {@code path} through the mount. */
    public void drop(String path) {
        memory.invalidate(path);
    }

    /** A directory was renamed or removed through the mount: listings under it are keyed by old paths. */
    public void dropUnder(String path) {
        String prefix = path + "/";
        memory.asMap().keySet().removeIf(k -> k.equals(path) || k.startsWith(prefix));
    }

    public void dropAll() {
        memory.invalidateAll();
    }
}
