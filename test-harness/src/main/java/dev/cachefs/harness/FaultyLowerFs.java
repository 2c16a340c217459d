package dev.cachefs.harness;

import dev.cachefs.lower.LowerDir;
import dev.cachefs.lower.LowerFile;
import dev.cachefs.lower.LowerFs;
import dev.cachefs.nativeio.Errno;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Stat;
import dev.cachefs.nativeio.StatVfs;
import java.lang.foreign.MemorySegment;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A {@link LowerFs} around a real one that fails on purpose, for conditions a real server cannot
 * produce on demand: EIO on the Nth call, ENOSPC once a write budget is spent, slow calls, calls
 * that never return (until {@link #releaseHangs}). Random faults come from a seeded generator, so
 * a failing run repeats with the same seed. Files it opens report no descriptor for passthrough,
 * so every read and write of a mount over it comes through here and can fail.
 */
public final class FaultyLowerFs implements LowerFs {
    /** Each call the lower takes, files' and directories' included. */
    public enum Op {
        STAT, READLINK, MKDIR, MKNOD, SYMLINK, UNLINK, RMDIR, RENAME, LINK, CHMOD, CHOWN, UTIMENS, TRUNCATE,
        ACCESS, STATFS, OPEN, OPENDIR, GETXATTR, LISTXATTR, SETXATTR, REMOVEXATTR,
        READ, WRITE, FSTAT, FTRUNCATE, FSYNC, FLUSH, FALLOCATE, LSEEK, FCHOWN, FCHMOD, READDIR, SEEKDIR, FSYNCDIR
    }

    /** A fault: which calls it hits and what it does to them. */
    public interface Fault {
        /** Called before the real call; throws to fail it, sleeps to slow it, blocks to hang it. */
        void apply(Op op, long nth, FaultyLowerFs fs) throws ErrnoException;
    }

    private final LowerFs inner;
    private final Random random;
    private final List<Fault> faults = new CopyOnWriteArrayList<>();
    private final Map<Op, AtomicLong> calls = new EnumMap<>(Op.class);
    private final AtomicLong written = new AtomicLong();
    private volatile CountDownLatch hangs = new CountDownLatch(1);

    public FaultyLowerFs(LowerFs inner, long seed) {
        this.inner = inner;
        this.random = new Random(seed);
        for (Op op : Op.values()) {
            calls.put(op, new AtomicLong());
        }
    }

    public FaultyLowerFs inject(Fault f) {
        faults.add(f);
        return this;
    }

    /** Removes every fault; calls already hanging stay until {@link #releaseHangs}. */
    public void heal() {
        faults.clear();
    }

    /** Lets every hanging call go on (to the real lower) and re-arms hangs for later calls. */
    public void releaseHangs() {
        CountDownLatch old = hangs;
        hangs = new CountDownLatch(1);
        old.countDown();
    }

    public long calls(Op op) {
        return calls.get(op).get();
    }

    // ---- faults ----

    /**
     * The {@code n}th call of {@code op} fails with {@code errno}, once. Calls are counted from the
     * lower's creation (1-based): to hit the next-but-one call, pass {@code calls(op) + 2}.
     */
    public static Fault failNth(Op op, long n, int errno) {
        return (o, nth, fs) -> {
            if (o == op && nth == n) {
                throw new ErrnoException(errno, "injected " + Errno.name(errno) + " on " + op + " #" + n);
            }
        };
    }

    /** Every call of {@code op} fails with {@code errno}. */
    public static Fault failAll(Op op, int errno) {
        return (o, nth, fs) -> {
            if (o == op) {
                throw new ErrnoException(errno, "injected " + Errno.name(errno) + " on " + op);
            }
        };
    }

    /** Each call of any of {@code ops} fails with probability {@code p}, drawn from the seeded generator. */
    public static Fault failRandomly(double p, int errno, Op... ops) {
        List<Op> which = List.of(ops);
        return (o, nth, fs) -> {
            if (which.contains(o) && fs.draw() < p) {
                throw new ErrnoException(errno, "injected random " + Errno.name(errno) + " on " + o + " #" + nth);
            }
        };
    }

    /** Writes fail with ENOSPC once {@code bytes} have been written through this lower. */
    public static Fault noSpaceAfter(long bytes) {
        return (o, nth, fs) -> {
            if ((o == Op.WRITE || o == Op.FALLOCATE) && fs.written.get() >= bytes) {
                throw new ErrnoException(Errno.ENOSPC, "injected ENOSPC after " + bytes + " bytes");
            }
        };
    }

    /** Every call of {@code op} (of all ops when null) takes {@code millis} longer. */
    public static Fault slow(Op op, long millis) {
        return (o, nth, fs) -> {
            if (op == null || o == op) {
                try {
                    Thread.sleep(millis);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new ErrnoException(Errno.EINTR, "interrupted in an injected delay");
                }
            }
        };
    }

    /** Calls of {@code op} never return until {@link #releaseHangs} (or interruption: EINTR). */
    public static Fault hang(Op op) {
        return (o, nth, fs) -> {
            if (o == op) {
                try {
                    fs.hangs.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new ErrnoException(Errno.EINTR, "interrupted in an injected hang");
                }
            }
        };
    }

    private synchronized double draw() {
        return random.nextDouble();
    }

    private void before(Op op) throws ErrnoException {
        long nth = calls.get(op).incrementAndGet();
        for (Fault f : faults) {
            f.apply(op, nth, this);
        }
    }

    // ---- LowerFs ----

    @Override
    public Stat stat(String path) throws ErrnoException {
        before(Op.STAT);
        return inner.stat(path);
    }

    @Override
    public String readlink(String path) throws ErrnoException {
        before(Op.READLINK);
        return inner.readlink(path);
    }

    @Override
    public void mkdir(String path, int mode) throws ErrnoException {
        before(Op.MKDIR);
        inner.mkdir(path, mode);
    }

    @Override
    public void mknod(String path, int mode, long dev) throws ErrnoException {
        before(Op.MKNOD);
        inner.mknod(path, mode, dev);
    }

    @Override
    public void symlink(String target, String path) throws ErrnoException {
        before(Op.SYMLINK);
        inner.symlink(target, path);
    }

    @Override
    public void unlink(String path) throws ErrnoException {
        before(Op.UNLINK);
        inner.unlink(path);
    }

    @Override
    public void rmdir(String path) throws ErrnoException {
        before(Op.RMDIR);
        inner.rmdir(path);
    }

    @Override
    public void rename(String from, String to, int flags) throws ErrnoException {
        before(Op.RENAME);
        inner.rename(from, to, flags);
    }

    @Override
    public void link(String existing, String newPath) throws ErrnoException {
        before(Op.LINK);
        inner.link(existing, newPath);
    }

    @Override
    public void chmod(String path, int mode) throws ErrnoException {
        before(Op.CHMOD);
        inner.chmod(path, mode);
    }

    @Override
    public void chown(String path, int uid, int gid) throws ErrnoException {
        before(Op.CHOWN);
        inner.chown(path, uid, gid);
    }

    @Override
    public void utimens(String path, long atimeSec, long atimeNsec, long mtimeSec, long mtimeNsec) throws ErrnoException {
        before(Op.UTIMENS);
        inner.utimens(path, atimeSec, atimeNsec, mtimeSec, mtimeNsec);
    }

    @Override
    public void truncate(String path, long size) throws ErrnoException {
        before(Op.TRUNCATE);
        inner.truncate(path, size);
    }

    @Override
    public void access(String path, int mask) throws ErrnoException {
        before(Op.ACCESS);
        inner.access(path, mask);
    }

    @Override
    public StatVfs statfs() throws ErrnoException {
        before(Op.STATFS);
        return inner.statfs();
    }

    @Override
    public LowerFile open(String path, int flags, int mode) throws ErrnoException {
        before(Op.OPEN);
        return new File(inner.open(path, flags, mode));
    }

    @Override
    public LowerDir openDir(String path) throws ErrnoException {
        before(Op.OPENDIR);
        return new Dir(inner.openDir(path));
    }

    @Override
    public int getxattr(String path, String name, MemorySegment dst) throws ErrnoException {
        before(Op.GETXATTR);
        return inner.getxattr(path, name, dst);
    }

    @Override
    public int listxattr(String path, MemorySegment dst) throws ErrnoException {
        before(Op.LISTXATTR);
        return inner.listxattr(path, dst);
    }

    @Override
    public void setxattr(String path, String name, MemorySegment value, int flags) throws ErrnoException {
        before(Op.SETXATTR);
        inner.setxattr(path, name, value, flags);
    }

    @Override
    public void removexattr(String path, String name) throws ErrnoException {
        before(Op.REMOVEXATTR);
        inner.removexattr(path, name);
    }

    @Override
    public void close() {
        releaseHangs();
        inner.close();
    }

    private final class File implements LowerFile {
        private final LowerFile f;

        File(LowerFile f) {
            this.f = f;
        }

        @Override
        public int read(long offset, MemorySegment dst) throws ErrnoException {
            before(Op.READ);
            return f.read(offset, dst);
        }

        @Override
        public int write(long offset, MemorySegment src) throws ErrnoException {
            before(Op.WRITE);
            int n = f.write(offset, src);
            written.addAndGet(n);
            return n;
        }

        @Override
        public Stat stat() throws ErrnoException {
            before(Op.FSTAT);
            return f.stat();
        }

        @Override
        public void truncate(long size) throws ErrnoException {
            before(Op.FTRUNCATE);
            f.truncate(size);
        }

        @Override
        public void fsync(boolean dataOnly) throws ErrnoException {
            before(Op.FSYNC);
            f.fsync(dataOnly);
        }

        @Override
        public void flush() throws ErrnoException {
            before(Op.FLUSH);
            f.flush();
        }

        @Override
        public void fallocate(int mode, long offset, long length) throws ErrnoException {
            before(Op.FALLOCATE);
            f.fallocate(mode, offset, length);
        }

        @Override
        public long lseek(long offset, int whence) throws ErrnoException {
            before(Op.LSEEK);
            return f.lseek(offset, whence);
        }

        @Override
        public void chown(int uid, int gid) throws ErrnoException {
            before(Op.FCHOWN);
            f.chown(uid, gid);
        }

        @Override
        public void chmod(int mode) throws ErrnoException {
            before(Op.FCHMOD);
            f.chmod(mode);
        }

        @Override
        public int fd() {
            return -1; // no passthrough: the kernel would go around the faults
        }

        @Override
        public void close() {
            f.close();
        }
    }

    private final class Dir implements LowerDir {
        private final LowerDir d;

        Dir(LowerDir d) {
            this.d = d;
        }

        @Override
        public List<DirEntry> next() throws ErrnoException {
            before(Op.READDIR);
            return d.next();
        }

        @Override
        public void seek(long offset) throws ErrnoException {
            before(Op.SEEKDIR);
            d.seek(offset);
        }

        @Override
        public void fsync(boolean dataOnly) throws ErrnoException {
            before(Op.FSYNCDIR);
            d.fsync(dataOnly);
        }

        @Override
        public void close() {
            d.close();
        }
    }
}
