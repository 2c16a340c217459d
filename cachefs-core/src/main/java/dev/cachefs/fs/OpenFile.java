package dev.cachefs.fs;

import dev.cachefs.cache.CacheLayer;
import dev.cachefs.lower.LowerFile;
import dev.cachefs.nativeio.Errno;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Stat;

/**
 * An open file of node {@code nodeid}: the lower's descriptor (null when the cache serves it
 * alone), the cache's handle, the attributes it was opened with (for a cache-served open), and
 * whether it writes the lower's file past the cache ({@code pastCache}: what the cache holds of
 * the node is dropped at its open and its close).
 */
record OpenFile(long nodeid, LowerFile lower, CacheLayer.Handle cached, Stat openedWith, boolean pastCache) {
    OpenFile(long nodeid, LowerFile lower, CacheLayer.Handle cached, Stat openedWith) {
        this(nodeid, lower, cached, openedWith, false);
    }

    LowerFile need() throws ErrnoException {
        if (lower == null) {
            throw new ErrnoException(Errno.EBADF);
        }
        return lower;
    }

    /**
     * The attributes of node {@code nodeid} from a file open on it, for a node whose name is gone:
     * the lower's descriptor if an open has one, else the attributes a cache-served open was
     * opened with, with no links left; null if none is open.
     */
    static Stat ofNode(Iterable<OpenFile> files, long nodeid) {
        Stat cached = null;
        for (OpenFile o : files) {
            if (o.nodeid() != nodeid) {
                continue;
            }
            if (o.lower() != null) {
                try {
                    return o.lower().stat();
                } catch (ErrnoException e) {
                    continue;
                }
            }
            if (o.openedWith() != null) {
                Stat w = o.openedWith();
                cached = new Stat(w.ino(), w.size(), w.blocks(), w.mode(), 0, w.uid(), w.gid(), w.rdevMajor(), w.rdevMinor(),
                        w.blksize(), w.atimeSec(), w.atimeNsec(), w.mtimeSec(), w.mtimeNsec(), w.ctimeSec(), w.ctimeNsec(), w.dev());
            }
        }
        return cached;
    }
}
