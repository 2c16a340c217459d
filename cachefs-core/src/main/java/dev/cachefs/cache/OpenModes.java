package dev.cachefs.cache;

import dev.cachefs.index.ErrnoMapping;
import dev.cachefs.index.CacheIndex;
import dev.cachefs.index.IndexException;
import dev.cachefs.lower.LowerFile;
import dev.cachefs.nativeio.Errno;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Libc;
import dev.cachefs.nativeio.Stat;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import dev.cachefs.fuse.Fuse;

/**
 * How an open is served, chosen per inode because the kernel allows one I/O mode per inode at a
 * time: FUSE passthrough onto the cache file for a read-only open of a fully cached, verified
 * file (and for every open while such opens live), else the daemon, with the kernel's page cache
 * kept across opens while the version is unchanged, or O_DIRECT. See docs/architecture.md, "How
 * an open is served".
 *
 * <p>Locks: the object's monitor; the chunks still to be checked are checked outside it.
 */
final class OpenModes {
    private static final Logger log = LoggerFactory.getLogger(CacheLayer.class);
    private final CacheIndex index;
    private final CacheStats stats;
    private final int cs;
    private final DataFiles files;
    private final Integrity integrity;
    private final java.time.InstantSource clock;

    OpenModes(CacheIndex index, CacheStats stats, int cs, DataFiles files, Integrity integrity, java.time.InstantSource clock) {
        this.clock = clock;
        this.index = index;
        this.stats = stats;
        this.cs = cs;
        this.files = files;
        this.integrity = integrity;
    }

    /**
     * A passthrough open onto the cache file, or null when the daemon must serve it. Read-only
     * opens of fully cached files get one. While the inode has passthrough opens, the kernel
     * refuses any other kind (EIO), so a writer gets one too: it writes into the cache file,
     * which is copied to the lower at flush and fsync ({@link #written}).
     */
    CacheLayer.Opened passthroughOpen(CachedObject o, LowerFile writerFile, boolean writer, boolean changed)
            throws ErrnoException {
        List<Long> check;
        synchronized (o) {
            if (o.passthroughOpens > 0 && o.backingGen != o.gen) {
                // The kernel still reads the data file of a version the lower no longer has, and
                // only passthrough opens onto that same file are allowed until they close.
                log.info("{} changed on the lower while open for reading; new opens wait for those to close", o.path);
                throw new ErrnoException(Errno.ETXTBSY, "open of an older version still reading");
            }
            if (o.passthroughOpens == 0 && !mayStartPassthroughLocked(o, writer)) {
                return null;
            }
            check = List.copyOf(o.unverified);
        }
        for (long idx : check) {
            integrity.verify(o, idx);
        }
        Shared<Integer> df;
        long mtime;
        synchronized (o) {
            boolean joining = o.passthroughOpens > 0 && o.backingGen == o.gen;
            if (!joining && (!mayStartPassthroughLocked(o, writer) || !o.unverified.isEmpty())) {
                return null;
            }
            try {
                df = files.dataLocked(o);
                Stat data = Libc.fstat(df.value);
                if (!joining && data.size() != o.size) {
                    // The kernel reads the cache file up to its own end: make that the file's size
                    // (a truncate even to the same size would date the file and cost a reseal).
                    Libc.ftruncate(df.value, o.size);
                    files.resealLocked(o);
                    data = Libc.fstat(df.value);
                }
                mtime = data.mtimeNsTotal();
            } catch (IndexException e) {
                files.storeFailed(o, e);
                if (o.passthroughOpens > 0) {
                    throw ErrnoMapping.of(e);
                }
                return null;
            }
            o.passthroughOpens++;
            o.backingGen = o.gen;
            if (writer) {
                o.writers++;
            }
        }
        stats.passthroughOpens.increment();
        touch(o);
        CacheLayer.Handle h = new CacheLayer.Handle(o, writerFile, writer, CacheLayer.Mode.PASSTHROUGH, df);
        h.syncedMtime = mtime;
        return new CacheLayer.Opened(h, 0, df.value, changed);
    }

    /**
     * Whether a first passthrough open of {@code o} may be made: fully cached, no daemon-path open
     * of it now, and none chosen in the last second. The kernel applies an open's mode when the
     * opener wakes up, not when we reply, so a daemon-path open chosen just before could reach the
     * kernel after this one and fail with EIO (seen with eight concurrent O_DIRECT readers).
     */
    boolean mayStartPassthroughLocked(CachedObject o, boolean writer) {
        return !writer && o.fullyCached(cs) && o.cachedIoOpens == 0 && o.directOpens == 0
                && (o.lastDaemonOpenNs == 0 || System.nanoTime() - o.lastDaemonOpenNs > 1_000_000_000L);
    }

    CacheLayer.Opened daemonOpen(CachedObject o, LowerFile f, boolean writer, boolean direct, boolean pagesStale,
                              boolean changed) {
        CacheLayer.Mode mode;
        int flags = 0;
        synchronized (o) {
            if (direct) {
                mode = CacheLayer.Mode.DIRECT_IO;
                flags = Fuse.FOPEN_DIRECT_IO;
                o.directOpens++;
            } else {
                mode = CacheLayer.Mode.CACHED_IO;
                if (o.pageGen == o.gen && !pagesStale) {
                    flags = Fuse.FOPEN_KEEP_CACHE;
                }
                o.pageGen = o.gen;
                o.cachedIoOpens++;
            }
            if (writer) {
                o.writers++;
            }
            o.lastDaemonOpenNs = System.nanoTime();
        }
        stats.daemonOpens.increment();
        touch(o);
        return new CacheLayer.Opened(new CacheLayer.Handle(o, f, writer, mode, null), flags, -1, changed);
    }

    void touch(CachedObject o) {
        try {
            index.touch(o.rec.id(), clock.millis());
        } catch (IndexException e) {
            log.debug("recency not recorded: {}", e.getMessage());
        }
    }
}
