package dev.cachefs.cache;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import dev.cachefs.index.CacheIndex;
import dev.cachefs.index.FileId;
import dev.cachefs.index.IndexException;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Stat;
import java.util.Arrays;

/**
 * Copies metadata up into the index as the mount sees it: every object's attributes (from
 * lookups and getattrs), symlink targets and extended attribute values, written behind the
 * requests by the {@link IndexWriter}. Online they are served by the kernel and the daemon's
 * memory caches; the index copy is what a remount and disconnected operation have. Writes that
 * would repeat what was last written are skipped, so a metadata walk does not rewrite its rows.
 */
public final class MetaCopy {
    /** What was last written for a path, to skip repeats (atime is not compared: reads move it). */
    private record Written(int mode, int uid, int gid, int nlink, long rdev, long blocks, long size, long mtimeNs,
                           long ctimeNs, long ino) {}

    private final IndexWriter writer;
    private final CacheLayer.Identifier ids;
    private final Cache<String, Written> attrs = Caffeine.newBuilder().executor(Runnable::run).maximumSize(200_000).build();
    private final Cache<String, String> links = Caffeine.newBuilder().executor(Runnable::run).maximumSize(50_000).build();
    private final Cache<String, byte[]> xattrs = Caffeine.newBuilder().executor(Runnable::run).maximumSize(100_000).build();
    /** Identities found ahead for a directory's names (READDIRPLUS), for the lookups that follow at once. */
    private final Cache<String, FileId> aheadIds = Caffeine.newBuilder().executor(Runnable::run).maximumSize(4096)
            .expireAfterWrite(java.time.Duration.ofSeconds(2)).build();

    private final CacheIndex index;

    MetaCopy(CacheIndex index, IndexWriter writer, CacheLayer.Identifier ids) {
        this.index = index;
        this.writer = writer;
        this.ids = ids;
    }

    private static Written written(Stat st) {
        return new Written(st.mode(), st.uid(), st.gid(), st.nlink(), Stat.makedev(st.rdevMajor(), st.rdevMinor()),
                st.blocks(), st.size(), st.mtimeNsTotal(), st.ctimeSec() * 1_000_000_000L + st.ctimeNsec(), st.ino());
    }

    /**
     * The attributes the index holds for {@code path} if the lower gave them at {@code sinceMs} or
     * later, else null (also while paused, and if the index cannot answer). What is returned is
     * not written again when it comes back through {@link #attrs}: it would be dated now.
     */
    public CacheIndex.SeenAttrs remembered(String path, long sinceMs) {
        if (paused) {
            return null;
        }
        try {
            CacheIndex.SeenAttrs s = index.seenSince(path, sinceMs).orElse(null);
            if (s != null) {
                attrs.put(path, written(s.st()));
            }
            return s;
        } catch (IndexException e) {
            return null; // asked of the lower instead
        }
    }

    /** {@link #remembered} for a directory's names in one index query; those found, by path. */
    public java.util.Map<String, CacheIndex.SeenAttrs> rememberedAll(java.util.List<String> paths, long sinceMs) {
        if (paused || paths.isEmpty()) {
            return java.util.Map.of();
        }
        try {
            java.util.Map<String, CacheIndex.SeenAttrs> found = index.seenSinceAll(paths, sinceMs);
            found.forEach((p, s) -> attrs.put(p, written(s.st())));
            return found;
        } catch (IndexException e) {
            return java.util.Map.of(); // asked of the lower instead
        }
    }

    /**
     * {@code path} (and with {@code under}, all below it) changed through the mount: the index's
     * attributes of it are undated, so a remount asks the lower, and the next answer is written
     * again even if it looks the same.
     */
    /**
     * Finds the identities of {@code paths} (a directory's names a READDIRPLUS is about to look
     * up) in one go, where that asks the lower; the copies of their attributes use them.
     */
    public void ahead(java.util.List<String> paths) {
        if (paused || !ids.asksLower() || paths.size() < 2) {
            return;
        }
        java.util.List<String> want = paths.stream().filter(p -> attrs.getIfPresent(p) == null).toList();
        if (want.size() < 2) {
            return;
        }
        try {
            aheadIds.putAll(ids.idsOf(want));
        } catch (ErrnoException e) {
            // each lookup finds its own
        }
    }

    public void changed(String path, boolean under) {
        aheadIds.invalidate(path);
        if (under) {
            aheadIds.invalidateAll();
        }
        attrs.invalidate(path);
        if (under) {
            String prefix = path.isEmpty() ? "" : path + "/";
            attrs.asMap().keySet().removeIf(k -> k.startsWith(prefix));
        }
        if (!paused) {
            writer.submit(new IndexWriter.Unsee(path, under));
        }
    }

    public void attrs(String path, Stat st) {
        if (paused) {
            return;
        }
        Written w = written(st);
        if (w.equals(attrs.getIfPresent(path))) {
            return;
        }
        try {
            FileId id = aheadIds.getIfPresent(path);
            if (id != null) {
                aheadIds.invalidate(path);
            } else {
                id = ids.idOf(path);
            }
            writer.submit(new IndexWriter.PutAttrs(id, path, st));
            attrs.put(path, w);
        } catch (ErrnoException e) {
            // no identity now (gone, or the lower refuses a handle): the next lookup tries again
        }
    }

    /** Whether metadata is being copied up (online); offline the index is the mount's own record. */
    public boolean copying() {
        return !paused;
    }

    /**
     * Stops (or resumes) copying up: offline, what the mount sees is the index itself, changed by
     * the disconnected layer in its own transactions, and a copy queued behind them would undo them.
     */
    public void pause(boolean pause) {
        this.paused = pause;
        if (!pause) {
            attrs.invalidateAll();
            links.invalidateAll();
            xattrs.invalidateAll();
        }
    }

    private volatile boolean paused;

    public void symlink(String path, String target) {
        if (paused) {
            return;
        }
        if (target.equals(links.getIfPresent(path))) {
            return;
        }
        try {
            writer.submit(new IndexWriter.PutSymlink(ids.idOf(path), target));
            links.put(path, target);
        } catch (ErrnoException e) {
            // as above
        }
    }

    public void xattr(String path, String name, byte[] value) {
        if (paused) {
            return;
        }
        String key = path + "\u0000" + name;
        if (Arrays.equals(value, xattrs.getIfPresent(key))) {
            return;
        }
        try {
            writer.submit(new IndexWriter.PutXattr(ids.idOf(path), name, value));
            xattrs.put(key, value);
        } catch (ErrnoException e) {
            // as above
        }
    }

    /**
     * Nothing is at {@code path} (and with {@code under}, below it) any more: the index stops
     * naming it there, so that disconnected operation does not show it.
     */
    public void gone(String path, boolean under) {
        dropUnder(path);
        if (!paused) {
            writer.submit(new IndexWriter.ForgetPath(path, under));
        }
    }

    /** {@code path} and what is under it moved or went away: forget what was written for them. */
    public void dropUnder(String path) {
        String prefix = path + "/";
        attrs.asMap().keySet().removeIf(k -> k.equals(path) || k.startsWith(prefix));
        links.asMap().keySet().removeIf(k -> k.equals(path) || k.startsWith(prefix));
        xattrs.asMap().keySet().removeIf(k -> k.startsWith(path + "\u0000") || k.startsWith(prefix));
    }
}
