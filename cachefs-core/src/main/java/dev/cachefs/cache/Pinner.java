package dev.cachefs.cache;

import dev.cachefs.index.Chunk;
import dev.cachefs.lower.LowerFs;
import dev.cachefs.nativeio.Errno;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Stat;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Pins: a walk of what the user (or the config's pin patterns) named, its listings, symlink
 * targets and attributes copied up, its files' data fetched and marked pinned (never culled,
 * counted against the pin budget, not the cache size). Interruptible and resumable: what is
 * present is not fetched again.
 */
final class Pinner {
    private static final Logger log = LoggerFactory.getLogger(CacheLayer.class);
    private final CacheLayer layer;
    private final LowerFs lower;
    private final CacheLayer.Options options;
    private final IndexWriter writer;
    private final MetaCopy meta;
    private final DirCache dirs;
    private final CacheSpace space;
    private final Fetcher fetcher;
    private final int cs;

    Pinner(CacheLayer layer, LowerFs lower, CacheLayer.Options options, IndexWriter writer, MetaCopy meta, DirCache dirs,
           CacheSpace space, Fetcher fetcher, int cs) {
        this.layer = layer;
        this.lower = lower;
        this.options = options;
        this.writer = writer;
        this.meta = meta;
        this.dirs = dirs;
        this.space = space;
        this.fetcher = fetcher;
        this.cs = cs;
    }

    /**
     * Pins {@code rel} (a lower path; with {@code recursive}, a directory and all under it): its
     * data is fetched into the cache and kept, never culled, outside the size limit; listings,
     * symlink targets and attributes are copied up. Safe to interrupt and run again: what is
     * present is not fetched twice, and pins are in the index.
     */
    CacheLayer.PinProgress pin(String rel, boolean recursive, CacheLayer.PinListener listener) throws ErrnoException, java.io.IOException {
        List<String> files = new ArrayList<>();
        List<Stat> stats = new ArrayList<>();
        Stat top = lower.stat(rel);
        if (top.isDirectory() && !recursive) {
            throw new IllegalArgumentException(rel.isEmpty() ? "the mount's root is a directory: use -r" : "'" + rel + "' is a directory: use -r");
        }
        walkForPin(rel, top, files, stats);
        return pinFiles(files, stats, listener);
    }

    /** Pins files found by a walk, with the attributes the walk saw (the revalidation). */
    CacheLayer.PinProgress pinFiles(List<String> files, List<Stat> stats, CacheLayer.PinListener listener)
            throws ErrnoException, java.io.IOException {
        long total = stats.stream().mapToLong(Stat::size).sum();
        long doneBytes = 0;
        long last = System.nanoTime();
        for (int i = 0; i < files.size(); i++) {
            String path = files.get(i);
            CachedObject o;
            try {
                o = layer.objectFor(path, stats.get(i));
            } catch (ErrnoException e) {
                continue; // gone since the walk
            }
            try {
                synchronized (o) {
                    o.pinned = true;
                    writer.submit(new IndexWriter.SetPinned(o.rec.id(), true));
                }
                long n;
                synchronized (o) {
                    n = o.chunkCount(cs);
                }
                long budget = options.limits().maxPinnedBytes();
                for (long idx = 0; idx < n; idx++) {
                    boolean present;
                    synchronized (o) {
                        Chunk c = o.chunks.get(idx);
                        present = c != null && c.length() == o.expectedLength(idx, cs);
                    }
                    if (!present && budget > 0 && space.pinnedBytes() + space.pinFetched.get() + o.expectedLength(idx, cs) > budget) {
                        throw new java.io.IOException("the pin budget (--pin-size " + budget + " bytes) is full: "
                                + (space.pinnedBytes() + space.pinFetched.get()) + " bytes pinned; unpin something or raise it");
                    }
                    if (!present) {
                        space.pinFetched.addAndGet(o.expectedLength(idx, cs));
                        fetcher.fetch(o, idx, false);
                        synchronized (o) {
                            if (!o.chunks.containsKey(idx)) {
                                throw new java.io.IOException(space.diskLow() ? "the cache disk is too full to pin " + path
                                        + " (under stop_free)" : "cannot store " + path + " in the cache");
                            }
                        }
                    }
                    doneBytes += o.expectedLength(idx, cs);
                    if (System.nanoTime() - last > 500_000_000L) {
                        last = System.nanoTime();
                        listener.progress(new CacheLayer.PinProgress(i, doneBytes, files.size(), total));
                    }
                }
            } catch (ErrnoException e) {
                if (e.errno() != Errno.ENOENT) {
                    throw e;
                }
                // removed on the lower since the walk: nothing to keep
            } finally {
                layer.releaseIfIdle(o);
            }
        }
        writer.flush();
        space.measure();
        return new CacheLayer.PinProgress(files.size(), doneBytes, files.size(), total);
    }

    /**
     * Pins what the config's pin patterns match: below each pattern's literal directory, every
     * file it matches (the walk copies the listings up as well). Returns the files pinned.
     */
    int pinByPolicy(Policy policy) {
        int n = 0;
        for (Policy.Glob g : policy.pins()) {
            String dir = g.literalDir();
            try {
                List<String> files = new ArrayList<>();
                List<Stat> stats = new ArrayList<>();
                walkForPin(dir, lower.stat(dir), files, stats);
                List<String> matched = new ArrayList<>();
                List<Stat> matchedStats = new ArrayList<>();
                for (int i = 0; i < files.size(); i++) {
                    if (g.matches(files.get(i)) && policy.pinned(files.get(i))) {
                        matched.add(files.get(i));
                        matchedStats.add(stats.get(i));
                    }
                }
                n += (int) pinFiles(matched, matchedStats, p -> {}).files();
            } catch (ErrnoException | java.io.IOException | RuntimeException e) {
                log.warn("config pin {}: {}", g.text(), e.getMessage());
            }
        }
        if (n > 0) {
            log.info("config: {} files pinned", n);
        }
        return n;
    }

    void walkForPin(String path, Stat st, List<String> files, List<Stat> stats) throws ErrnoException {
        meta.attrs(path, st);
        if (st.isRegular()) {
            files.add(path);
            stats.add(st);
        } else if (st.isSymlink()) {
            meta.symlink(path, lower.readlink(path));
        } else if (st.isDirectory()) {
            List<dev.cachefs.lower.LowerDir.DirEntry> all = new java.util.ArrayList<>();
            dev.cachefs.lower.LowerDir d = lower.openDir(path);
            try {
                for (List<dev.cachefs.lower.LowerDir.DirEntry> b = d.next(); !b.isEmpty(); b = d.next()) {
                    all.addAll(b);
                }
            } finally {
                d.close();
            }
            dirs.store(path, st, all);
            for (var e : all) {
                if (e.name().equals(".") || e.name().equals("..")) {
                    continue;
                }
                String child = path.isEmpty() ? e.name() : path + "/" + e.name();
                try {
                    walkForPin(child, lower.stat(child), files, stats);
                } catch (ErrnoException ex) {
                    log.debug("pin skips {}: {}", child, ex.getMessage());
                }
            }
        }
    }
}
