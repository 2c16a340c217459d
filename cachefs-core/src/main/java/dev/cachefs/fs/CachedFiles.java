package dev.cachefs.fs;

import dev.cachefs.index.ErrnoMapping;
import dev.cachefs.cache.CacheLayer;
import dev.cachefs.cache.CacheStats;
import dev.cachefs.index.IndexException;
import dev.cachefs.lower.LowerDir;
import dev.cachefs.lower.LowerFile;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Libc;
import dev.cachefs.nativeio.Stat;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Optional;

/**
 * The cache as the layer under the FUSE adapter: a {@link CacheLayer} (data, attribute and listing
 * copies) and the mount's routing of opens to local copies, which the offline layer decides.
 */
public final class CachedFiles implements FileCache {
    /** Whether an open is served by a local file while disconnected (a change made offline, an open conflict). */
    @FunctionalInterface
    public interface LocalRouting {
        boolean opensLocally(String path, int flags);
    }

    private final CacheLayer cache;
    private final LocalRouting local;

    public CachedFiles(CacheLayer cache, LocalRouting local) {
        this.cache = cache;
        this.local = local;
    }

    @Override
    public boolean caches(String path, int flags) {
        return !local.opensLocally(path, flags);
    }

    /**
     * No: local copies are served by the daemon, never passed through (the kernel allows one
     * backing file per inode and no mix of passthrough and other opens), and a file the config
     * keeps out of the cache is served under deadlines, never on the lower's descriptor, where a
     * hung lower would hang the reader.
     */
    @Override
    public boolean passesLowerThrough() {
        return false;
    }

    @Override
    public boolean remembers() {
        return true;
    }

    @Override
    public CacheStats stats() {
        return cache.stats();
    }

    @Override
    public Remembered remembered(String path, long sinceMs) {
        if (!cache.meta().copying() || !caches(path, Libc.O_RDONLY)) {
            return null;
        }
        var s = cache.meta().remembered(path, sinceMs);
        return s == null ? null : new Remembered(s.st(), s.seenMs());
    }

    @Override
    public java.util.Map<String, Remembered> rememberedAll(java.util.List<String> paths, long sinceMs) {
        if (!cache.meta().copying()) {
            return java.util.Map.of();
        }
        java.util.Map<String, Remembered> out = new java.util.HashMap<>();
        cache.meta().rememberedAll(paths.stream().filter(p -> caches(p, Libc.O_RDONLY)).toList(), sinceMs)
                .forEach((p, s) -> out.put(p, new Remembered(s.st(), s.seenMs())));
        return out;
    }

    @Override
    public void ahead(java.util.List<String> paths) {
        if (!cache.meta().copying()) {
            return; // offline: nothing is copied up, the index is the record
        }
        cache.meta().ahead(paths.stream().filter(p -> caches(p, Libc.O_RDONLY)).toList());
    }

    @Override
    public boolean online() {
        return cache.meta().copying(); // paused offline
    }

    @Override
    public void changed(String path, boolean under) {
        cache.meta().changed(path, under);
    }

    @Override
    public long nowMs() {
        return cache.nowMs();
    }

    @Override
    public void attrs(String path, Stat st) {
        if (cache.meta().copying() && caches(path, Libc.O_RDONLY)) {
            cache.meta().attrs(path, st);
        }
    }

    @Override
    public boolean observe(long nodeid, Stat st) {
        return cache.observe(nodeid, st);
    }

    @Override
    public void gone(String path, boolean under) {
        cache.meta().gone(path, under);
    }

    @Override
    public void namesChanged(String path) {
        cache.meta().dropUnder(path);
    }

    @Override
    public void listingChanged(String path) {
        if (path == null) {
            cache.dirs().dropAll();
        } else {
            cache.dirs().drop(path);
        }
    }

    @Override
    public void listingsChangedUnder(String path) {
        cache.dirs().dropUnder(path);
    }

    @Override
    public Optional<List<LowerDir.DirEntry>> listing(String path, Stat st) {
        return cache.dirs().valid(path, st);
    }

    @Override
    public void storeListing(String path, Stat st, List<LowerDir.DirEntry> entries) {
        cache.dirs().store(path, st, entries);
    }

    @Override
    public void symlink(String path, String target) {
        cache.meta().symlink(path, target);
    }

    @Override
    public void xattr(String path, String name, byte[] value) {
        cache.meta().xattr(path, name, value);
    }

    @Override
    public void forgetNode(long nodeid) {
        cache.forgetNode(nodeid);
    }

    @Override
    public void detach(long nodeid) {
        cache.detach(nodeid);
    }

    @Override
    public void renamed(String from, String to, boolean rows) {
        cache.renamed(from, to, rows);
    }

    @Override
    public void exchanged(String a, String b) {
        cache.exchanged(a, b);
    }

    @Override
    public boolean knows(long nodeid) {
        return cache.knows(nodeid);
    }

    @Override
    public void ownChange(long nodeid, Stat st) {
        cache.ownChange(nodeid, st);
    }

    @Override
    public void truncated(long nodeid, long size) {
        cache.truncated(nodeid, size);
    }

    @Override
    public void writtenPast(long nodeid) {
        cache.writtenPast(nodeid);
    }

    @Override
    public void awaitNoPassthrough(long nodeid, long ms) {
        cache.awaitNoPassthrough(nodeid, ms);
    }

    @Override
    public boolean hasOpens(long nodeid) {
        return cache.hasOpens(nodeid);
    }

    @Override
    public CacheLayer.State stateOf(String path) throws ErrnoException {
        try {
            return cache.stateOf(path);
        } catch (IndexException e) {
            throw ErrnoMapping.of(e);
        }
    }

    @Override
    public CacheLayer.Opened open(long nodeid, String path, Stat st, int flags, int lowerFlags, boolean passthrough)
            throws ErrnoException {
        return cache.open(nodeid, path, st, flags, lowerFlags, passthrough);
    }

    @Override
    public CacheLayer.Opened created(long nodeid, String path, LowerFile f, int flags) throws ErrnoException {
        return cache.created(nodeid, path, f, flags);
    }

    @Override
    public int read(CacheLayer.Handle h, long offset, MemorySegment dst) throws ErrnoException {
        return cache.read(h, offset, dst);
    }

    @Override
    public int write(CacheLayer.Handle h, long offset, MemorySegment src) throws ErrnoException {
        return cache.write(h, offset, src);
    }

    @Override
    public void written(CacheLayer.Handle h) throws ErrnoException {
        cache.written(h);
    }

    @Override
    public void changed(long nodeid, long offset, Stat st) {
        cache.changed(nodeid, offset, st);
    }

    @Override
    public LowerFile lowerFor(CacheLayer.Handle h) throws ErrnoException {
        return cache.lowerFor(h);
    }

    @Override
    public void release(CacheLayer.Handle h) {
        cache.release(h);
    }
}
