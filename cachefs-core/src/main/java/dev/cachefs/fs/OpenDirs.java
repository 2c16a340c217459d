package dev.cachefs.fs;

import dev.cachefs.fuse.DirSink;
import dev.cachefs.fuse.Entry;
import dev.cachefs.fuse.OpenResult;
import dev.cachefs.lower.LowerDir;
import dev.cachefs.lower.LowerFs;
import dev.cachefs.nativeio.Errno;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Stat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Directories open through the mount: each served from the cache's listing while that is current
 * (one stat instead of reading the directory), or from the lower, whose whole listing read from
 * its start is then kept for next time. READDIRPLUS looks each name up as the stacked filesystem
 * does; a name listed but not statable is listed without attributes, as the lower's own readdir
 * would show it.
 */
final class OpenDirs {
    /** A lookup of one name of the directory being read (READDIRPLUS). */
    interface Lookup {
        Entry lookup(String name) throws ErrnoException;
    }

    private final LowerFs lower;
    /** The layer that keeps listings (or none: {@link NoCache}). */
    private final FileCache cache;
    private final RecentAttributes recent;
    private final AtomicLong nextHandle;
    private final Map<Long, DirHandle> dirs = new ConcurrentHashMap<>();

    OpenDirs(LowerFs lower, FileCache cache, RecentAttributes recent, AtomicLong nextHandle) {
        this.lower = lower;
        this.cache = cache;
        this.recent = recent;
        this.nextHandle = nextHandle;
    }

    static Entry attributeless(LowerDir.DirEntry e, int mode) {
        return new Entry(0, 0, new Stat(e.ino(), 0, 0, mode, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), 0, 0);
    }

    /**
     * An open directory: the lower descriptor and the batch being handed out, or a cached listing
     * (then {@code dir} is null and offsets are positions in it). Guarded by itself.
     */
    private static final class DirHandle {
        final LowerDir dir;
        final boolean cached;
        final String path;
        final Stat opened;
        List<LowerDir.DirEntry> batch = List.of();
        int index;
        long position;
        /** What has been read from the lower, while it is the whole listing from its start; else null. */
        List<LowerDir.DirEntry> collected;
        /** Entries of {@code batch} below this had their attributes fetched ahead (READDIRPLUS). */
        int aheadUpTo;
        /** The lower's directory was listed to fetch the cached listing's attributes ahead (once is enough). */
        boolean listedForAhead;

        DirHandle(LowerDir dir, String path, Stat opened, List<LowerDir.DirEntry> cachedListing) {
            this.dir = dir;
            this.path = path;
            this.opened = opened;
            this.cached = cachedListing != null;
            if (cached) {
                batch = cachedListing;
            } else if (opened != null && dir.keepable()) {
                collected = new java.util.ArrayList<>();
            }
        }
    }

    /** Opens directory {@code path}: from the cached listing while it is current, else on the lower. */
    OpenResult open(String path) throws ErrnoException {
        DirHandle h;
        if (cache.remembers()) {
            Stat st = recent.stat(path); // one round trip (or none, while fresh) instead of reading the whole directory
            var listing = cache.listing(path, st);
            h = listing.isPresent() ? new DirHandle(null, path, st, listing.get())
                    : new DirHandle(lower.openDir(path), path, st, null);
        } else {
            h = new DirHandle(lower.openDir(path), path, null, null);
        }
        long fh = nextHandle.getAndIncrement();
        dirs.put(fh, h);
        return new OpenResult(fh, 0);
    }

    /**
     * Hands the entries of open directory {@code fh} from {@code offset} to {@code sink}; with
     * READDIRPLUS each name is looked up through {@code lookup} (and given back through
     * {@code forget} if the sink has no room for it after all).
     */
    void read(long fh, long offset, DirSink sink, Lookup lookup, java.util.function.LongConsumer forget) throws ErrnoException {
        DirHandle h = dirs.get(fh);
        if (h == null) {
            throw new ErrnoException(Errno.EBADF);
        }
        synchronized (h) {
            if (offset != h.position) {
                if (h.cached) {
                    h.index = (int) Math.min(offset, h.batch.size());
                } else {
                    h.dir.seek(offset);
                    h.batch = List.of();
                    h.index = 0;
                    h.aheadUpTo = 0;
                    h.collected = null; // not read from the start in order: not a listing to keep
                }
                h.position = offset;
            }
            while (true) {
                if (h.index >= h.batch.size()) {
                    if (h.cached) {
                        return;
                    }
                    h.batch = h.dir.next();
                    h.index = 0;
                    h.aheadUpTo = 0;
                    if (h.batch.isEmpty()) {
                        if (h.collected != null) {
                            cache.storeListing(h.path, h.opened, h.collected);
                            h.collected = null;
                        }
                        return;
                    }
                    if (h.collected != null) {
                        h.collected.addAll(h.batch);
                    }
                }
                if (sink.plus() && h.index >= h.aheadUpTo) {
                    statAhead(h);
                }
                LowerDir.DirEntry e = h.batch.get(h.index);
                int mode = e.type() << 12;
                if (!sink.plus()) {
                    if (!sink.add(e.name(), e.ino(), mode, e.nextOffset())) {
                        return;
                    }
                } else if (e.name().equals(".") || e.name().equals("..")) {
                    if (!sink.addPlus(e.name(), attributeless(e, mode), e.nextOffset())) {
                        return;
                    }
                } else {
                    if (!sink.fits(e.name())) {
                        return;
                    }
                    Entry entry;
                    try {
                        entry = lookup.lookup(e.name());
                        if (entry.nodeid() == 0) {
                            throw new ErrnoException(Errno.ENOENT); // gone since it was listed
                        }
                    } catch (ErrnoException unreachable) {
                        // Listed but not statable (removed since, or a lower that lists what it
                        // cannot stat): list it as readdir would, without attributes (node id 0).
                        entry = null;
                        if (!sink.addPlus(e.name(), attributeless(e, mode), e.nextOffset())) {
                            return;
                        }
                    }
                    if (entry != null && !sink.addPlus(e.name(), entry, e.nextOffset())) {
                        forget.accept(entry.nodeid()); // cannot happen after fits(), but keep the count right
                        return;
                    }
                }
                h.index++;
                h.position = e.nextOffset();
            }
        }
    }

    /** Entries fetched ahead at a time: about what one READDIRPLUS reply holds. */
    private static final int AHEAD = 128;

    /**
     * The attributes of the next entries of {@code h}, in one go (a round trip per directory
     * batch, not per name), for the lookups READDIRPLUS makes of them next.
     */
    private void statAhead(DirHandle h) {
        int end = Math.min(h.batch.size(), h.index + AHEAD);
        List<String> paths = new java.util.ArrayList<>(end - h.index);
        for (int i = h.index; i < end; i++) {
            String n = h.batch.get(i).name();
            if (!n.equals(".") && !n.equals("..")) {
                paths.add(dev.cachefs.nativeio.RawPath.child(h.path, n));
            }
        }
        h.aheadUpTo = end;
        if (recent.statAhead(h.path, paths, h.cached && !h.listedForAhead)) {
            h.listedForAhead = true;
        }
        cache.ahead(paths);
    }

    void release(long fh) {
        DirHandle h = dirs.remove(fh);
        if (h != null && h.dir != null) {
            synchronized (h) {
                h.dir.close();
            }
        }
    }

    void fsync(long fh, boolean dataOnly) throws ErrnoException {
        DirHandle h = dirs.get(fh);
        if (h == null) {
            throw new ErrnoException(Errno.EBADF);
        }
        if (h.dir != null) {
            h.dir.fsync(dataOnly);
        } else {
            LowerDir d = lower.openDir(h.path); // served from the cache: sync the lower's own
            try {
                d.fsync(dataOnly);
            } finally {
                d.close();
            }
        }
    }

    /** Closes every directory still open (the session ends). */
    void closeAll() {
        dirs.values().stream().filter(d -> d.dir != null).forEach(d -> d.dir.close());
        dirs.clear();
    }
}
