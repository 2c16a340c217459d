package dev.cachefs.fs;

import dev.cachefs.cache.CacheLayer;
import dev.cachefs.cache.CacheStats;
import dev.cachefs.lower.LowerDir;
import dev.cachefs.lower.LowerFile;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Stat;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Optional;

/**
 * The layer between the FUSE adapter and the lower: what {@link StackedFs} tells it of every
 * request (fresh attributes, own changes, names gone) and asks of it (whether an open goes through
 * it, a current listing, the data of an open file). {@link CachedFiles} is the cache;
 * {@link NoCache} passes everything to the lower (a mount without a cache).
 */
public interface FileCache {
    /**
     * Whether an open of {@code path} with {@code flags} goes through this layer; false where the
     * layer caches nothing, or the mount serves the file from a local copy (offline changes, open
     * conflicts: the routing is the offline layer's decision).
     */
    boolean caches(String path, int flags);

    /** Whether the lower's own descriptor of an open this layer does not serve may go to the kernel (passthrough). */
    boolean passesLowerThrough();

    /**
     * Whether the layer remembers anything: extended attributes for the attribute timeout, and
     * the virtual {@code user.cachefs.*} attributes that say what it holds of a file.
     */
    boolean remembers();

    CacheStats stats();

    /** Attributes the lower gave at {@code seenMs} (of {@link #nowMs}'s clock). */
    record Remembered(Stat st, long seenMs) {}

    /**
     * The attributes the layer keeps of {@code path} if the lower gave them at {@code sinceMs} or
     * later (an earlier mount's, kept in the index), else null.
     */
    Remembered remembered(String path, long sinceMs);

    /** {@link #remembered} for many paths (a directory's names) at once; those found, by path. */
    java.util.Map<String, Remembered> rememberedAll(java.util.List<String> paths, long sinceMs);

    /** The lookups of {@code paths} (one directory's names) come next: what they need may be fetched in one go. */
    void ahead(java.util.List<String> paths);

    /** {@code path} (with {@code under}: and all below it) changed through the mount: what is kept of it is not to be trusted. */
    void changed(String path, boolean under);

    /** Whether the lower is asked (online); offline the layer answers from its index. */
    default boolean online() {
        return true;
    }

    /** The wall clock (ms) the layer dates what the lower said by. */
    long nowMs();

    /** Fresh attributes of {@code path} (kept for when the lower is gone). */
    void attrs(String path, Stat st);

    /** Fresh attributes of node {@code nodeid}: true if the kernel may hold pages of a version now dropped. */
    boolean observe(long nodeid, Stat st);

    /** {@code path} is gone on the lower ({@code under}: and whatever was below it). */
    void gone(String path, boolean under);

    /** What is remembered of the metadata at and below {@code path} is no longer to be trusted. */
    void namesChanged(String path);

    /** The listing of directory {@code path} changed through the mount (null: of every directory). */
    void listingChanged(String path);

    /** Listings at and below {@code path} are no longer to be trusted (rmdir, rename, invalidate). */
    void listingsChangedUnder(String path);

    /** The listing of {@code path} if it is still current for the directory's attributes {@code st}. */
    Optional<List<LowerDir.DirEntry>> listing(String path, Stat st);

    void storeListing(String path, Stat st, List<LowerDir.DirEntry> entries);

    void symlink(String path, String target);

    void xattr(String path, String name, byte[] value);

    void forgetNode(long nodeid);

    /** The name of node {@code nodeid} was removed or replaced through the mount. */
    void detach(long nodeid);

    /**
     * {@code from} was renamed to {@code to} through the mount; {@code rows}: the cache moves the
     * index rows (not when the lower's disconnected layer journaled the rename and moved them).
     */
    void renamed(String from, String to, boolean rows);

    /** {@code a} and {@code b} were exchanged through the mount (RENAME_EXCHANGE). */
    void exchanged(String a, String b);

    /** Whether the layer holds data of node {@code nodeid}. */
    boolean knows(long nodeid);

    /** Attributes after a change made through the mount: not a new version of the data. */
    void ownChange(long nodeid, Stat st);

    void truncated(long nodeid, long size);

    /**
     * The daemon writes node {@code nodeid}'s file on the lower beside the layer: what it holds
     * of the node may be older with the same fingerprint, so it goes.
     */
    void writtenPast(long nodeid);

    /** Waits (at most {@code ms}) until no passthrough open of {@code nodeid} lives. */
    void awaitNoPassthrough(long nodeid, long ms);

    /** Whether node {@code nodeid} has opens served by this layer now. */
    boolean hasOpens(long nodeid);

    /** What the layer holds of {@code path}, for the virtual {@code user.cachefs.*} attributes (null: nothing to say). */
    CacheLayer.State stateOf(String path) throws ErrnoException;

    /** Opens a regular file through the layer (only where {@link #caches} said so). */
    CacheLayer.Opened open(long nodeid, String path, Stat st, int flags, int lowerFlags, boolean passthrough)
            throws ErrnoException;

    /** A file just made on the lower as {@code f}, opened through the layer. */
    CacheLayer.Opened created(long nodeid, String path, LowerFile f, int flags) throws ErrnoException;

    int read(CacheLayer.Handle h, long offset, MemorySegment dst) throws ErrnoException;

    int write(CacheLayer.Handle h, long offset, MemorySegment src) throws ErrnoException;

    /** The lower has what {@code h} wrote (flush, fsync). */
    void written(CacheLayer.Handle h) throws ErrnoException;

    void changed(long nodeid, long offset, Stat st);

    LowerFile lowerFor(CacheLayer.Handle h) throws ErrnoException;

    void release(CacheLayer.Handle h);
}
