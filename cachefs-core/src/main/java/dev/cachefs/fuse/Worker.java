package dev.cachefs.fuse;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import dev.cachefs.nativeio.Errno;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Libc;
import dev.cachefs.nativeio.RawPath;
import dev.cachefs.nativeio.Stat;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One thread's loop: read a request from the device, decode it, call the filesystem, write the
 * reply. Buffers are native, owned by this worker's confined arena and reused for every request, so
 * the data path allocates nothing: READ data goes from the filesystem straight into the reply
 * buffer, WRITE data is handed to the filesystem as a slice of the request buffer.
 */
final class Worker implements DirSink {
    private static final Logger log = LoggerFactory.getLogger(Worker.class);
    private static final Set<String> LOGGED = ConcurrentHashMap.newKeySet();

    private final FuseSession session;
    private final FuseFilesystem fs;
    private final int devFd;
    private final Ctx ctx;
    private final byte[] nameScratch = new byte[4096];

    /** Unique id of the request being served (0: none); read by INTERRUPT handling on other threads. */
    volatile long currentUnique;
    volatile boolean interrupted;

    private MemorySegment in;
    private MemorySegment out;
    // directory reply state
    private int dirPos;
    private int dirLimit;
    private boolean dirPlus;

    Worker(FuseSession session, FuseFilesystem fs, int devFd) {
        this.session = session;
        this.fs = fs;
        this.devFd = devFd;
        this.ctx = new Ctx(session);
    }

    void run() {
        try (Arena arena = Arena.ofConfined()) {
            int maxWrite = session.options().maxWrite();
            // Place the buffers so that WRITE data (after the 40-byte header and 40-byte write_in)
            // and READ reply data (after the 16-byte reply header) start on a page boundary: the
            // filesystem can then do O_DIRECT I/O on them without copying.
            int payload = Fuse.IN_HEADER + 40;
            in = arena.allocate(Math.max(8192, maxWrite + 4096) + 4096L, 4096).asSlice(4096 - payload);
            out = arena.allocate(Fuse.OUT_HEADER + maxWrite + 8192L, 4096).asSlice(4096 - Fuse.OUT_HEADER);
            loop();
        } catch (RuntimeException | Error e) {
            log.error("FUSE worker {} died", Thread.currentThread().getName(), e);
        }
    }

    private void loop() {
        while (true) {
            long n;
            try {
                n = Libc.read(devFd, in, in.byteSize());
            } catch (ErrnoException e) {
                int err = e.errno();
                if (err == Errno.EINTR || err == Errno.ENOENT || err == Errno.EAGAIN) {
                    continue;
                }
                if (err == Errno.ENODEV) {
                    return; // unmounted
                }
                if (!session.isClosing()) {
                    log.error("reading /dev/fuse failed: {}", e.getMessage());
                }
                return;
            }
            if (n < Fuse.IN_HEADER) {
                log.warn("short request of {} bytes ignored", n);
                continue;
            }
            if (!serve((int) n)) {
                return;
            }
        }
    }

    /** Serves one request; false when the session is over. */
    private boolean serve(int length) {
        int opcode = in.get(JAVA_INT, 4);
        long unique = in.get(JAVA_LONG, 8);
        long nodeid = in.get(JAVA_LONG, 16);
        ctx.unique = unique;
        ctx.uid = in.get(JAVA_INT, 24);
        ctx.gid = in.get(JAVA_INT, 28);
        ctx.pid = in.get(JAVA_INT, 32);
        int extLen = Short.toUnsignedInt(in.get(JAVA_SHORT, 36)) * 8;
        MemorySegment arg = in.asSlice(Fuse.IN_HEADER, length - Fuse.IN_HEADER - extLen);
        switch (opcode) {
            case Fuse.FORGET -> {
                fs.forget(nodeid, arg.get(JAVA_LONG, 0));
                return true;
            }
            case Fuse.BATCH_FORGET -> {
                int count = arg.get(JAVA_INT, 0);
                for (int i = 0; i < count; i++) {
                    long off = 8 + 16L * i;
                    fs.forget(arg.get(JAVA_LONG, off), arg.get(JAVA_LONG, off + 8));
                }
                return true;
            }
            case Fuse.INTERRUPT -> {
                session.interrupt(arg.get(JAVA_LONG, 0));
                return true; // no reply: the interrupted request's reply says how it ended
            }
            case Fuse.INIT -> {
                return init(unique, arg);
            }
            case Fuse.DESTROY -> {
                replyOk(unique, 0);
                return false;
            }
            default -> { }
        }
        interrupted = false;
        currentUnique = unique;
        try {
            int outLen;
            try {
                outLen = dispatch(opcode, nodeid, arg);
            } catch (ErrnoException e) {
                if (!e.retryable()) {
                    throw e;
                }
                // The failure changed how the filesystem serves this request (it went offline on
                // it): run it once more, as if it had arrived a moment later.
                log.debug("{} of node {} runs again: {}", Fuse.opName(opcode), nodeid, e.getMessage());
                outLen = dispatch(opcode, nodeid, arg);
            }
            if (outLen >= 0) {
                replyOk(unique, outLen);
            }
        } catch (ErrnoException e) {
            if (log.isDebugEnabled() && e.errno() != Errno.ENOENT) {
                log.debug("{} of node {}: {}", Fuse.opName(opcode), nodeid, e.getMessage());
            }
            replyError(unique, e.errno());
        } catch (RuntimeException | Error e) {
            String key = Fuse.opName(opcode) + ":" + e.getClass().getName();
            if (LOGGED.add(key)) {
                log.error("unexpected failure in {} (answered EIO; logged once per kind)", Fuse.opName(opcode), e);
            }
            replyError(unique, Errno.EIO);
        } finally {
            currentUnique = 0;
        }
        return true;
    }

    /** Calls the filesystem; returns the reply payload length (already in {@code out}). */
    /** One request: names and attributes here, the rest by kind. */
    private int dispatch(int opcode, long nodeid, MemorySegment arg) throws ErrnoException {
        return switch (opcode) {
            case Fuse.LOOKUP -> entryOut(fs.lookup(ctx, nodeid, name(arg, 0)));
            case Fuse.GETATTR -> {
                int flags = arg.get(JAVA_INT, 0);
                long fh = (flags & Fuse.GETATTR_FH) != 0 ? arg.get(JAVA_LONG, 8) : -1;
                yield attrOut(fs.getattr(ctx, nodeid, fh));
            }
            case Fuse.SETATTR -> attrOut(fs.setattr(ctx, nodeid, setAttr(arg)));
            case Fuse.READLINK -> {
                byte[] target = RawPath.bytes(fs.readlink(ctx, nodeid));
                MemorySegment.copy(target, 0, out, JAVA_BYTE, Fuse.OUT_HEADER, target.length);
                yield target.length;
            }
            case Fuse.SYMLINK -> {
                String name = name(arg, 0);
                String target = name(arg, RawPath.bytes(name).length + 1);
                yield entryOut(fs.symlink(ctx, nodeid, name, target));
            }
            case Fuse.MKNOD -> entryOut(fs.mknod(ctx, nodeid, name(arg, 16), arg.get(JAVA_INT, 0), arg.get(JAVA_INT, 4)));
            case Fuse.MKDIR -> entryOut(fs.mkdir(ctx, nodeid, name(arg, 8), arg.get(JAVA_INT, 0)));
            case Fuse.UNLINK -> {
                fs.unlink(ctx, nodeid, name(arg, 0));
                yield 0;
            }
            case Fuse.RMDIR -> {
                fs.rmdir(ctx, nodeid, name(arg, 0));
                yield 0;
            }
            case Fuse.RENAME, Fuse.RENAME2 -> {
                long newDir = arg.get(JAVA_LONG, 0);
                int flags = opcode == Fuse.RENAME2 ? arg.get(JAVA_INT, 8) : 0;
                int base = opcode == Fuse.RENAME2 ? 16 : 8;
                String oldName = name(arg, base);
                String newName = name(arg, base + RawPath.bytes(oldName).length + 1);
                fs.rename(ctx, nodeid, oldName, newDir, newName, flags);
                yield 0;
            }
            case Fuse.LINK -> entryOut(fs.link(ctx, arg.get(JAVA_LONG, 0), nodeid, name(arg, 8)));
            case Fuse.STATFS -> statfsOut(fs.statfs(ctx, nodeid));
            case Fuse.ACCESS -> {
                fs.access(ctx, nodeid, arg.get(JAVA_INT, 0));
                yield 0;
            }
            default -> fileOp(opcode, nodeid, arg);
        };
    }

    /** Requests on open files. */
    private int fileOp(int opcode, long nodeid, MemorySegment arg) throws ErrnoException {
        return switch (opcode) {
            case Fuse.OPEN -> openOut(nodeid, fs.open(ctx, nodeid, arg.get(JAVA_INT, 0)), Fuse.OUT_HEADER);
            case Fuse.READ -> {
                long fh = arg.get(JAVA_LONG, 0);
                long offset = arg.get(JAVA_LONG, 8);
                int size = Math.min(arg.get(JAVA_INT, 16), (int) out.byteSize() - Fuse.OUT_HEADER);
                yield fs.read(ctx, nodeid, fh, offset, out.asSlice(Fuse.OUT_HEADER, size));
            }
            case Fuse.WRITE -> {
                long fh = arg.get(JAVA_LONG, 0);
                long offset = arg.get(JAVA_LONG, 8);
                int size = arg.get(JAVA_INT, 16);
                int flags = arg.get(JAVA_INT, 20);
                int written = fs.write(ctx, nodeid, fh, offset, arg.asSlice(40, size), flags);
                out.set(JAVA_INT, Fuse.OUT_HEADER, written);
                out.set(JAVA_INT, Fuse.OUT_HEADER + 4, 0);
                yield 8;
            }
            case Fuse.RELEASE -> {
                long fh = arg.get(JAVA_LONG, 0);
                // The backing goes first: once the filesystem has the release, a new open of the
                // node may be served otherwise, and must not find this open's backing to share.
                try {
                    session.releaseBacking(fh);
                } finally {
                    fs.release(ctx, nodeid, fh, arg.get(JAVA_INT, 8));
                }
                yield 0;
            }
            case Fuse.FSYNC -> {
                fs.fsync(ctx, nodeid, arg.get(JAVA_LONG, 0), (arg.get(JAVA_INT, 8) & Fuse.FSYNC_FDATASYNC) != 0);
                yield 0;
            }
            case Fuse.FLUSH -> {
                fs.flush(ctx, nodeid, arg.get(JAVA_LONG, 0), arg.get(JAVA_LONG, 16));
                yield 0;
            }
            case Fuse.CREATE -> {
                FuseFilesystem.Created c = fs.create(ctx, nodeid, name(arg, 16), arg.get(JAVA_INT, 0),
                        arg.get(JAVA_INT, 4));
                int len = entryOut(c.entry());
                yield len + openOut(c.entry().nodeid(), c.open(), Fuse.OUT_HEADER + len);
            }
            case Fuse.FALLOCATE -> {
                fs.fallocate(ctx, nodeid, arg.get(JAVA_LONG, 0), arg.get(JAVA_INT, 24), arg.get(JAVA_LONG, 8),
                        arg.get(JAVA_LONG, 16));
                yield 0;
            }
            case Fuse.LSEEK -> {
                long r = fs.lseek(ctx, nodeid, arg.get(JAVA_LONG, 0), arg.get(JAVA_LONG, 8), arg.get(JAVA_INT, 16));
                out.set(JAVA_LONG, Fuse.OUT_HEADER, r);
                yield 8;
            }
            default -> dirOrXattrOp(opcode, nodeid, arg);
        };
    }

    /** Requests on directories and extended attributes; ENOSYS for what cachefs does not implement. */
    private int dirOrXattrOp(int opcode, long nodeid, MemorySegment arg) throws ErrnoException {
        return switch (opcode) {
            case Fuse.SETXATTR -> {
                int size = arg.get(JAVA_INT, 0);
                int flags = arg.get(JAVA_INT, 4);
                String name = name(arg, 8);
                long valueOff = 8 + RawPath.bytes(name).length + 1;
                fs.setxattr(ctx, nodeid, name, arg.asSlice(valueOff, size), flags);
                yield 0;
            }
            case Fuse.GETXATTR -> sizedOut(arg.get(JAVA_INT, 0),
                    dst -> fs.getxattr(ctx, nodeid, name(arg, 8), dst));
            case Fuse.LISTXATTR -> sizedOut(arg.get(JAVA_INT, 0), dst -> fs.listxattr(ctx, nodeid, dst));
            case Fuse.REMOVEXATTR -> {
                fs.removexattr(ctx, nodeid, name(arg, 0));
                yield 0;
            }
            case Fuse.OPENDIR -> openOut(0, fs.opendir(ctx, nodeid, arg.get(JAVA_INT, 0)), Fuse.OUT_HEADER);
            case Fuse.READDIR, Fuse.READDIRPLUS -> {
                dirPlus = opcode == Fuse.READDIRPLUS;
                dirPos = Fuse.OUT_HEADER;
                dirLimit = Fuse.OUT_HEADER + Math.min(arg.get(JAVA_INT, 16), (int) out.byteSize() - Fuse.OUT_HEADER);
                fs.readdir(ctx, nodeid, arg.get(JAVA_LONG, 0), arg.get(JAVA_LONG, 8), this);
                yield dirPos - Fuse.OUT_HEADER;
            }
            case Fuse.RELEASEDIR -> {
                fs.releasedir(ctx, nodeid, arg.get(JAVA_LONG, 0));
                yield 0;
            }
            case Fuse.FSYNCDIR -> {
                fs.fsyncdir(ctx, nodeid, arg.get(JAVA_LONG, 0), (arg.get(JAVA_INT, 8) & Fuse.FSYNC_FDATASYNC) != 0);
                yield 0;
            }
            default -> throw new ErrnoException(Errno.ENOSYS);
        };
    }
    private interface SizedCall {
        int call(MemorySegment dst) throws ErrnoException;
    }

    /** getxattr/listxattr: size 0 asks only for the length. */
    private int sizedOut(int size, SizedCall call) throws ErrnoException {
        if (size == 0) {
            int needed = call.call(MemorySegment.NULL);
            out.set(JAVA_INT, Fuse.OUT_HEADER, needed);
            out.set(JAVA_INT, Fuse.OUT_HEADER + 4, 0);
            return 8;
        }
        int cap = Math.min(size, (int) out.byteSize() - Fuse.OUT_HEADER);
        return call.call(out.asSlice(Fuse.OUT_HEADER, cap));
    }

    private SetAttr setAttr(MemorySegment a) {
        int valid = a.get(JAVA_INT, 0);
        long fh = (valid & Fuse.FATTR_FH) != 0 ? a.get(JAVA_LONG, 8) : -1;
        return new SetAttr(valid, fh, a.get(JAVA_LONG, 16), a.get(JAVA_LONG, 32), a.get(JAVA_INT, 56),
                a.get(JAVA_LONG, 40), a.get(JAVA_INT, 60), a.get(JAVA_INT, 68), a.get(JAVA_INT, 76),
                a.get(JAVA_INT, 80));
    }

    /** The NUL-terminated name at {@code off} of {@code arg}. */
    private String name(MemorySegment arg, long off) throws ErrnoException {
        int max = (int) Math.min(nameScratch.length, arg.byteSize() - off);
        for (int i = 0; i < max; i++) {
            byte b = arg.get(JAVA_BYTE, off + i);
            if (b == 0) {
                return RawPath.fromBytes(nameScratch, 0, i);
            }
            nameScratch[i] = b;
        }
        throw new ErrnoException(Errno.EINVAL, "unterminated name in request");
    }

    // ------------------------------------------------------------------ reply encoders

    static void writeAttr(MemorySegment m, long off, Stat s) {
        m.set(JAVA_LONG, off, s.ino());
        m.set(JAVA_LONG, off + 8, s.size());
        m.set(JAVA_LONG, off + 16, s.blocks());
        m.set(JAVA_LONG, off + 24, s.atimeSec());
        m.set(JAVA_LONG, off + 32, s.mtimeSec());
        m.set(JAVA_LONG, off + 40, s.ctimeSec());
        m.set(JAVA_INT, off + 48, s.atimeNsec());
        m.set(JAVA_INT, off + 52, s.mtimeNsec());
        m.set(JAVA_INT, off + 56, s.ctimeNsec());
        m.set(JAVA_INT, off + 60, s.mode());
        m.set(JAVA_INT, off + 64, s.nlink());
        m.set(JAVA_INT, off + 68, s.uid());
        m.set(JAVA_INT, off + 72, s.gid());
        m.set(JAVA_INT, off + 76, DevNumbers.encode(s.rdevMajor(), s.rdevMinor()));
        m.set(JAVA_INT, off + 80, s.blksize());
        m.set(JAVA_INT, off + 84, 0);
    }

    private static void writeEntry(MemorySegment m, long off, Entry e) {
        m.set(JAVA_LONG, off, e.nodeid());
        m.set(JAVA_LONG, off + 8, e.generation());
        m.set(JAVA_LONG, off + 16, e.entryTimeoutNs() / 1_000_000_000L);
        m.set(JAVA_LONG, off + 24, e.attrTimeoutNs() / 1_000_000_000L);
        m.set(JAVA_INT, off + 32, (int) (e.entryTimeoutNs() % 1_000_000_000L));
        m.set(JAVA_INT, off + 36, (int) (e.attrTimeoutNs() % 1_000_000_000L));
        if (e.attr() != null) {
            writeAttr(m, off + 40, e.attr());
        } else {
            m.asSlice(off + 40, Fuse.ATTR_SIZE).fill((byte) 0);
        }
    }

    private int entryOut(Entry e) {
        writeEntry(out, Fuse.OUT_HEADER, e);
        return Fuse.ENTRY_OUT;
    }

    private int attrOut(Attributes a) {
        long off = Fuse.OUT_HEADER;
        out.set(JAVA_LONG, off, a.timeoutNs() / 1_000_000_000L);
        out.set(JAVA_INT, off + 8, (int) (a.timeoutNs() % 1_000_000_000L));
        out.set(JAVA_INT, off + 12, 0);
        writeAttr(out, off + 16, a.attr());
        return Fuse.ATTR_OUT;
    }

    private int openOut(long nodeid, OpenResult r, long off) {
        int flags = r.openFlags();
        int backing = 0;
        if (nodeid != 0 && r.passthroughFd() >= 0 && session.passthrough) {
            int id = session.acquireBacking(nodeid, r.fh(), r.passthroughFd());
            if (id >= 0) {
                backing = id;
                flags = (flags | Fuse.FOPEN_PASSTHROUGH) & ~Fuse.FOPEN_DIRECT_IO;
            }
        }
        out.set(JAVA_LONG, off, r.fh());
        out.set(JAVA_INT, off + 8, flags);
        out.set(JAVA_INT, off + 12, backing);
        return Fuse.OPEN_OUT;
    }

    private int statfsOut(StatFs s) {
        long off = Fuse.OUT_HEADER;
        out.asSlice(off, Fuse.STATFS_OUT).fill((byte) 0);
        out.set(JAVA_LONG, off, s.blocks());
        out.set(JAVA_LONG, off + 8, s.bfree());
        out.set(JAVA_LONG, off + 16, s.bavail());
        out.set(JAVA_LONG, off + 24, s.files());
        out.set(JAVA_LONG, off + 32, s.ffree());
        out.set(JAVA_INT, off + 40, s.bsize());
        out.set(JAVA_INT, off + 44, s.namelen());
        out.set(JAVA_INT, off + 48, s.frsize());
        return Fuse.STATFS_OUT;
    }

    // ------------------------------------------------------------------ DirSink

    @Override
    public boolean plus() {
        return dirPlus;
    }

    private int direntSize(int nameLen) {
        int base = (dirPlus ? Fuse.ENTRY_OUT : 0) + 24 + nameLen;
        return (base + 7) & ~7;
    }

    @Override
    public boolean fits(String name) {
        return dirPos + direntSize(name.length()) <= dirLimit;
    }

    @Override
    public boolean add(String name, long ino, int mode, long nextOffset) {
        int size = direntSize(name.length());
        if (dirPos + size > dirLimit) {
            return false;
        }
        writeDirent(dirPos, name, ino, mode, nextOffset, size);
        dirPos += size;
        return true;
    }

    @Override
    public boolean addPlus(String name, Entry entry, long nextOffset) {
        int size = direntSize(name.length());
        if (dirPos + size > dirLimit) {
            return false;
        }
        writeEntry(out, dirPos, entry);
        Stat a = entry.attr();
        writeDirent(dirPos + Fuse.ENTRY_OUT, name, a == null ? 0 : a.ino(), a == null ? 0 : a.mode(), nextOffset,
                size - Fuse.ENTRY_OUT);
        dirPos += size;
        return true;
    }

    private void writeDirent(int pos, String name, long ino, int mode, long nextOffset, int size) {
        byte[] n = RawPath.bytes(name);
        out.set(JAVA_LONG, pos, ino);
        out.set(JAVA_LONG, pos + 8, nextOffset);
        out.set(JAVA_INT, pos + 16, n.length);
        out.set(JAVA_INT, pos + 20, (mode & Libc.S_IFMT) >>> 12);
        MemorySegment.copy(n, 0, out, JAVA_BYTE, pos + 24, n.length);
        for (int i = 24 + n.length; i < size; i++) {
            out.set(JAVA_BYTE, pos + i, (byte) 0);
        }
    }

    // ------------------------------------------------------------------ INIT and replies

    private boolean init(long unique, MemorySegment arg) {
        int major = arg.get(JAVA_INT, 0);
        int minor = arg.get(JAVA_INT, 4);
        int maxReadahead = arg.get(JAVA_INT, 8);
        long flags = Integer.toUnsignedLong(arg.get(JAVA_INT, 12));
        if ((flags & Fuse.INIT_EXT) != 0 && arg.byteSize() >= 20) {
            flags |= Integer.toUnsignedLong(arg.get(JAVA_INT, 16)) << 32;
        }
        out.asSlice(Fuse.OUT_HEADER, Fuse.INIT_OUT).fill((byte) 0);
        if (major > Fuse.KERNEL_VERSION) {
            // Tell the kernel our major; it sends a new INIT.
            out.set(JAVA_INT, Fuse.OUT_HEADER, Fuse.KERNEL_VERSION);
            out.set(JAVA_INT, Fuse.OUT_HEADER + 4, Fuse.KERNEL_MINOR_VERSION);
            replyOk(unique, Fuse.INIT_OUT);
            return true;
        }
        if (major < Fuse.KERNEL_VERSION || minor < 31) {
            replyError(unique, Errno.EPROTO);
            session.initFinished("the kernel's FUSE protocol " + major + "." + minor
                    + " is too old (7.31 or newer is needed)");
            return false;
        }
        MountOptions o = session.options();
        long want = Fuse.ASYNC_READ | Fuse.ATOMIC_O_TRUNC | Fuse.BIG_WRITES | Fuse.AUTO_INVAL_DATA
                | Fuse.DO_READDIRPLUS | Fuse.READDIRPLUS_AUTO | Fuse.ASYNC_DIO | Fuse.PARALLEL_DIROPS
                | Fuse.MAX_PAGES | Fuse.CACHE_SYMLINKS | Fuse.INIT_EXT;
        boolean passthrough = o.passthrough() && Libc.geteuid() == 0 && (flags & Fuse.PASSTHROUGH) != 0;
        if (passthrough) {
            want |= Fuse.PASSTHROUGH;
        }
        long granted = flags & want;
        int useMinor = Math.min(minor, Fuse.KERNEL_MINOR_VERSION);
        long off = Fuse.OUT_HEADER;
        out.set(JAVA_INT, off, Fuse.KERNEL_VERSION);
        out.set(JAVA_INT, off + 4, useMinor);
        out.set(JAVA_INT, off + 8, maxReadahead);
        out.set(JAVA_INT, off + 12, (int) granted);
        out.set(JAVA_SHORT, off + 16, (short) 64);
        out.set(JAVA_SHORT, off + 18, (short) 48);
        out.set(JAVA_INT, off + 20, o.maxWrite());
        out.set(JAVA_INT, off + 24, 1);
        out.set(JAVA_SHORT, off + 28, (short) (o.maxWrite() / 4096));
        out.set(JAVA_INT, off + 32, (int) (granted >>> 32));
        out.set(JAVA_INT, off + 36, passthrough ? 1 : 0);
        session.minor = useMinor;
        session.passthrough = passthrough;
        session.maxWrite = o.maxWrite();
        try {
            fs.init(session);
        } catch (RuntimeException e) {
            log.error("filesystem init failed", e);
            replyError(unique, Errno.EIO);
            session.initFinished("filesystem init failed: " + e);
            return false;
        }
        replyOk(unique, Fuse.INIT_OUT);
        log.debug("FUSE 7.{} (kernel 7.{}), flags {}, passthrough {}", useMinor, minor,
                Long.toHexString(granted), passthrough);
        session.initFinished(null);
        return true;
    }

    private void replyOk(long unique, int payload) {
        int len = Fuse.OUT_HEADER + payload;
        out.set(JAVA_INT, 0, len);
        out.set(JAVA_INT, 4, 0);
        out.set(JAVA_LONG, 8, unique);
        send(len);
    }

    private void replyError(long unique, int errno) {
        out.set(JAVA_INT, 0, Fuse.OUT_HEADER);
        out.set(JAVA_INT, 4, -errno);
        out.set(JAVA_LONG, 8, unique);
        send(Fuse.OUT_HEADER);
    }

    private void send(int len) {
        try {
            Libc.write(devFd, out, len);
        } catch (ErrnoException e) {
            // ENOENT: the request was interrupted and is gone; ENODEV: unmounted meanwhile.
            if (e.errno() != Errno.ENOENT && e.errno() != Errno.ENODEV) {
                log.warn("writing a FUSE reply failed: {}", e.getMessage());
            }
        }
    }
}
