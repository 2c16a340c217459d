package dev.cachefs.fs;

import dev.cachefs.cache.CacheLayer;
import dev.cachefs.fuse.Fuse;
import dev.cachefs.fuse.FuseConnection;
import dev.cachefs.fuse.OpenResult;
import dev.cachefs.lower.LowerFile;
import dev.cachefs.nativeio.Errno;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Libc;
import dev.cachefs.nativeio.Stat;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Files open through the mount: the handle the kernel was given for each open, and what it is open
 * on (a handle of the cache layer, or a lower file: the lower's own, or a local copy that write-back
 * or the offline layer keeps); which of them the kernel reads and writes itself (passthrough), and
 * their closes. The stacked filesystem decides what an open opens; this says how it is handed out.
 */
final class OpenFiles {
    private final Map<Long, OpenFile> files = new ConcurrentHashMap<>();
    /** The opens of local copies by node, and which of them the kernel serves (passthrough). */
    private final LocalOpens localOpens = new LocalOpens();
    private final AtomicLong nextHandle;
    private final FileCache cache;
    private final KernelNotices notices;
    private final boolean passthrough;

    /** @param nextHandle the numbers handed out, shared with the open directories */
    OpenFiles(AtomicLong nextHandle, FileCache cache, KernelNotices notices, boolean passthrough) {
        this.nextHandle = nextHandle;
        this.cache = cache;
        this.notices = notices;
        this.passthrough = passthrough;
    }

    /** An open through the cache layer, handed to the kernel. */
    OpenResult cached(long nodeid, CacheLayer.Opened o, Stat st) {
        FuseConnection c = notices.connection();
        if (o.versionChanged() && c != null) {
            // Attributes only (no page locks taken), so safe inside this open: the kernel asks for
            // the new size before its next read instead of trusting the old one until it expires.
            c.invalidateInode(nodeid, -1, 0);
            cache.stats().kernelInvalidations.increment();
        }
        long fh = nextHandle.getAndIncrement();
        files.put(fh, new OpenFile(nodeid, o.handle().lower(), o.handle(), st));
        return new OpenResult(fh, o.openFlags(), o.passthroughFd());
    }

    /** Whether the kernel can be handed descriptors now (the option, and a kernel that has it). */
    boolean passthroughNow() {
        FuseConnection c = notices.connection();
        return passthrough && c != null && c.passthroughAvailable();
    }

    /**
     * An open of a lower file (or a local copy), handed to the kernel.
     *
     * @param mayPass whether the kernel may be handed {@code f}'s descriptor (passthrough)
     */
    OpenResult lower(long nodeid, LowerFile f, int flags, boolean mayPass) {
        long fh = nextHandle.getAndIncrement();
        // A writer on the lower's own file, beside the cache (write-back leaves a hard link's data
        // on the lower): what the cache holds of the node may be older with the same fingerprint
        // (two writes in one tick of the lower's clock), so it goes now and at the close.
        boolean pastCache = !f.localCopy() && (flags & (Libc.O_ACCMODE | Libc.O_TRUNC)) != Libc.O_RDONLY
                && cache.remembers();
        if (pastCache) {
            cache.writtenPast(nodeid);
        }
        files.put(fh, new OpenFile(nodeid, f, null, null, pastCache));
        boolean pass;
        if (f.localCopy()) {
            // A local copy (write-back, offline change) is read and written by the kernel itself
            // when nothing else of the node is open in another mode (see LocalOpens).
            pass = localOpens.opened(nodeid, fh, f, passthroughNow() && !cache.hasOpens(nodeid));
            if (pass) {
                cache.stats().localPassthroughOpens.increment();
            }
        } else {
            pass = mayPass && passthrough && f.fd() >= 0;
        }
        // Without passthrough, an O_DIRECT open bypasses the kernel's page cache of the mount too.
        int openFlags = !pass && (flags & Libc.O_DIRECT) != 0 ? Fuse.FOPEN_DIRECT_IO : 0;
        if (f.localCopy()) {
            // A local copy is the file until its upload: a close has nothing to flush (fsync is
            // what makes it durable), so the kernel need not send FLUSH (write-back's small files:
            // one request of four per create).
            openFlags |= Fuse.FOPEN_NOFLUSH;
        }
        return new OpenResult(fh, openFlags, pass ? f.fd() : -1);
    }

    /** The open file of handle {@code fh}; EBADF if there is none. */
    OpenFile get(long fh) throws ErrnoException {
        OpenFile f = files.get(fh);
        if (f == null) {
            throw new ErrnoException(Errno.EBADF);
        }
        return f;
    }

    /** The open file of handle {@code fh} if the kernel gave one ({@code fh >= 0}) and it is open; else null. */
    OpenFile find(long fh) {
        return fh >= 0 ? files.get(fh) : null;
    }

    /** The attributes an open of node {@code nodeid} was opened with (fstat of a file whose name is gone), or null. */
    Stat openedWith(long nodeid) {
        return OpenFile.ofNode(files.values(), nodeid);
    }

    /**
     * Before an open through the cache layer: local copies of the node were open until just now
     * (their upload retired them after the close), and the kernel's RELEASE of those opens may
     * still be on its way; an open in another mode must not meet them.
     */
    void awaitNoLocalOpens(long nodeid) {
        for (int i = 0; i < 1000 && localOpens.has(nodeid); i++) {
            try {
                Thread.sleep(2);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    /** The kernel's RELEASE of handle {@code fh}. */
    void release(long fh) {
        OpenFile f = files.remove(fh);
        if (f != null) {
            localOpens.released(fh);
            close(f);
        }
    }

    /** Closes every open file (the mount is going). */
    void closeAll() {
        for (OpenFile f : files.values()) {
            close(f);
        }
        files.clear();
    }

    int count() {
        return files.size();
    }

    private void close(OpenFile f) {
        if (f.cached() != null) {
            cache.release(f.cached());
        } else if (f.lower() != null) {
            f.lower().close();
            if (f.pastCache()) {
                cache.writtenPast(f.nodeid());
            }
        }
    }
}
