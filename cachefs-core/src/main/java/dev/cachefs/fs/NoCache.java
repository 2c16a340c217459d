package dev.cachefs.fs;

import dev.cachefs.cache.CacheLayer;
import dev.cachefs.cache.CacheStats;
import dev.cachefs.lower.LowerDir;
import dev.cachefs.lower.LowerFile;
import dev.cachefs.nativeio.Stat;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Optional;

/**
 * The layer of a mount without a cache: every open is the lower's, its descriptor may be passed
 * through to the kernel, nothing is remembered. It never makes a handle, so the data calls are
 * never reached.
 */
public final class NoCache implements FileCache {
    private final CacheStats stats = new CacheStats();

    @Override public boolean caches(String path, int flags) { return false; }
    @Override public boolean passesLowerThrough() { return true; }
    @Override public boolean remembers() { return false; }
    @Override public CacheStats stats() { return stats; }
    @Override public Remembered remembered(String path, long sinceMs) { return null; }
    @Override public java.util.Map<String, Remembered> rememberedAll(java.util.List<String> paths, long sinceMs) {
        return java.util.Map.of();
    }
    @Override public void changed(String path, boolean under) {}
    @Override public void ahead(java.util.List<String> paths) {}
    @Override public long nowMs() { return System.currentTimeMillis(); }
    @Override public void attrs(String path, Stat st) {}
    @Override public boolean observe(long nodeid, Stat st) { return false; }
    @Override public void gone(String path, boolean under) {}
    @Override public void namesChanged(String path) {}
    @Override public void listingChanged(String path) {}
    @Override public void listingsChangedUnder(String path) {}
    @Override public Optional<List<LowerDir.DirEntry>> listing(String path, Stat st) { return Optional.empty(); }
    @Override public void storeListing(String path, Stat st, List<LowerDir.DirEntry> entries) {}
    @Override public void symlink(String path, String target) {}
    @Override public void xattr(String path, String name, byte[] value) {}
    @Override public void forgetNode(long nodeid) {}
    @Override public void detach(long nodeid) {}
    @Override public void renamed(String from, String to, boolean rows) {}
    @Override public void exchanged(String a, String b) {}
    @Override public boolean knows(long nodeid) { return false; }
    @Override public void ownChange(long nodeid, Stat st) {}
    @Override public void truncated(long nodeid, long size) {}
    @Override public void writtenPast(long nodeid) {}
    @Override public void awaitNoPassthrough(long nodeid, long ms) {}
    @Override public boolean hasOpens(long nodeid) { return false; }
    @Override public CacheLayer.State stateOf(String path) { return null; }

    @Override
    public CacheLayer.Opened open(long nodeid, String path, Stat st, int flags, int lowerFlags, boolean passthrough) {
        throw new IllegalStateException("no cache: opens go to the lower");
    }

    @Override
    public CacheLayer.Opened created(long nodeid, String path, LowerFile f, int flags) {
        throw new IllegalStateException("no cache: opens go to the lower");
    }

    @Override public int read(CacheLayer.Handle h, long offset, MemorySegment dst) { throw noHandles(); }
    @Override public int write(CacheLayer.Handle h, long offset, MemorySegment src) { throw noHandles(); }
    @Override public void written(CacheLayer.Handle h) { throw noHandles(); }
    @Override public void changed(long nodeid, long offset, Stat st) {}
    @Override public LowerFile lowerFor(CacheLayer.Handle h) { throw noHandles(); }
    @Override public void release(CacheLayer.Handle h) { throw noHandles(); }

    private static IllegalStateException noHandles() {
        return new IllegalStateException("no cache: it made no handle");
    }
}
