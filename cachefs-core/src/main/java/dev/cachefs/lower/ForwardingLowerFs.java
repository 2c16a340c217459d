package dev.cachefs.lower;

import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Stat;
import dev.cachefs.nativeio.StatVfs;
import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * A lower that passes every call on to another, with a hook before each ({@link #before}, named
 * by its {@link LowerOp}): the base of decorators that count, fail, slow or hang calls. Files and
 * directories it opens are wrapped alike, so their calls pass the same hook. A decorator writes
 * only what it adds; the delegation is here once.
 */
public abstract class ForwardingLowerFs implements LowerFs {
    protected final LowerFs inner;

    protected ForwardingLowerFs(LowerFs inner) {
        this.inner = inner;
    }

    /** Runs before {@code op} reaches the inner lower; throw to fail the call instead. */
    protected abstract void before(LowerOp op) throws ErrnoException;

    /** A write of {@code n} bytes reached the inner lower. */
    protected void written(int n) {}

    /**
     * The descriptor a file opened here reports (what the kernel may be handed for passthrough):
     * the inner file's by default; -1 keeps every read and write of it coming through here.
     */
    protected int fdOf(LowerFile f) {
        return f.fd();
    }

    @Override
    public Stat stat(String path) throws ErrnoException {
        before(LowerOp.STAT);
        return inner.stat(path);
    }

    @Override
    public boolean queued(String path) {
        return inner.queued(path);
    }

    /** One call of the inner lower, counted as the {@code paths.size()} stats it makes. */
    @Override
    public java.util.Map<String, Stat> statAll(java.util.List<String> paths) throws ErrnoException {
        for (int i = 0; i < paths.size(); i++) {
            before(LowerOp.STAT);
        }
        return inner.statAll(paths);
    }

    @Override
    public String readlink(String path) throws ErrnoException {
        before(LowerOp.READLINK);
        return inner.readlink(path);
    }

    @Override
    public void mkdir(String path, int mode) throws ErrnoException {
        before(LowerOp.MKDIR);
        inner.mkdir(path, mode);
    }

    @Override
    public void mknod(String path, int mode, long dev) throws ErrnoException {
        before(LowerOp.MKNOD);
        inner.mknod(path, mode, dev);
    }

    @Override
    public void symlink(String target, String path) throws ErrnoException {
        before(LowerOp.SYMLINK);
        inner.symlink(target, path);
    }

    @Override
    public void unlink(String path) throws ErrnoException {
        before(LowerOp.UNLINK);
        inner.unlink(path);
    }

    @Override
    public void rmdir(String path) throws ErrnoException {
        before(LowerOp.RMDIR);
        inner.rmdir(path);
    }

    @Override
    public void rename(String from, String to, int flags) throws ErrnoException {
        before(LowerOp.RENAME);
        inner.rename(from, to, flags);
    }

    @Override
    public void link(String existing, String newPath) throws ErrnoException {
        before(LowerOp.LINK);
        inner.link(existing, newPath);
    }

    @Override
    public void chmod(String path, int mode) throws ErrnoException {
        before(LowerOp.CHMOD);
        inner.chmod(path, mode);
    }

    @Override
    public void chown(String path, int uid, int gid) throws ErrnoException {
        before(LowerOp.CHOWN);
        inner.chown(path, uid, gid);
    }

    @Override
    public void utimens(String path, long atimeSec, long atimeNsec, long mtimeSec, long mtimeNsec) throws ErrnoException {
        before(LowerOp.UTIMENS);
        inner.utimens(path, atimeSec, atimeNsec, mtimeSec, mtimeNsec);
    }

    @Override
    public void truncate(String path, long size) throws ErrnoException {
        before(LowerOp.TRUNCATE);
        inner.truncate(path, size);
    }

    @Override
    public void access(String path, int mask) throws ErrnoException {
        before(LowerOp.ACCESS);
        inner.access(path, mask);
    }

    @Override
    public StatVfs statfs() throws ErrnoException {
        before(LowerOp.STATFS);
        return inner.statfs();
    }

    @Override
    public LowerFile open(String path, int flags, int mode) throws ErrnoException {
        before(LowerOp.OPEN);
        return new File(inner.open(path, flags, mode));
    }

    @Override
    public LowerDir openDir(String path) throws ErrnoException {
        before(LowerOp.OPENDIR);
        return new Dir(inner.openDir(path));
    }

    @Override
    public int getxattr(String path, String name, MemorySegment dst) throws ErrnoException {
        before(LowerOp.GETXATTR);
        return inner.getxattr(path, name, dst);
    }

    @Override
    public int listxattr(String path, MemorySegment dst) throws ErrnoException {
        before(LowerOp.LISTXATTR);
        return inner.listxattr(path, dst);
    }

    @Override
    public void setxattr(String path, String name, MemorySegment value, int flags) throws ErrnoException {
        before(LowerOp.SETXATTR);
        inner.setxattr(path, name, value, flags);
    }

    @Override
    public void removexattr(String path, String name) throws ErrnoException {
        before(LowerOp.REMOVEXATTR);
        inner.removexattr(path, name);
    }

    @Override
    public void close() {
        inner.close();
    }

    /** An open file of the inner lower, its calls through the hook. */
    private final class File implements LowerFile {
        private final LowerFile f;

        File(LowerFile f) {
            this.f = f;
        }

        @Override
        public int read(long offset, MemorySegment dst) throws ErrnoException {
            before(LowerOp.READ);
            return f.read(offset, dst);
        }

        @Override
        public int write(long offset, MemorySegment src) throws ErrnoException {
            before(LowerOp.WRITE);
            int n = f.write(offset, src);
            written(n);
            return n;
        }

        @Override
        public Stat stat() throws ErrnoException {
            before(LowerOp.FSTAT);
            return f.stat();
        }

        @Override
        public void truncate(long size) throws ErrnoException {
            before(LowerOp.FTRUNCATE);
            f.truncate(size);
        }

        @Override
        public void fsync(boolean dataOnly) throws ErrnoException {
            before(LowerOp.FSYNC);
            f.fsync(dataOnly);
        }

        @Override
        public void flush() throws ErrnoException {
            before(LowerOp.FLUSH);
            f.flush();
        }

        @Override
        public void fallocate(int mode, long offset, long length) throws ErrnoException {
            before(LowerOp.FALLOCATE);
            f.fallocate(mode, offset, length);
        }

        @Override
        public long lseek(long offset, int whence) throws ErrnoException {
            before(LowerOp.LSEEK);
            return f.lseek(offset, whence);
        }

        @Override
        public void chown(int uid, int gid) throws ErrnoException {
            before(LowerOp.FCHOWN);
            f.chown(uid, gid);
        }

        @Override
        public void chmod(int mode) throws ErrnoException {
            before(LowerOp.FCHMOD);
            f.chmod(mode);
        }

        @Override
        public int fd() {
            return fdOf(f);
        }

        @Override
        public void close() {
            f.close();
        }

        @Override
        public String toString() {
            return f.toString();
        }
    }

    /** An open directory of the inner lower, its calls through the hook. */
    private final class Dir implements LowerDir {
        private final LowerDir d;

        Dir(LowerDir d) {
            this.d = d;
        }

        @Override
        public List<DirEntry> next() throws ErrnoException {
            before(LowerOp.READDIR);
            return d.next();
        }

        @Override
        public void seek(long offset) throws ErrnoException {
            before(LowerOp.SEEKDIR);
            d.seek(offset);
        }

        @Override
        public void fsync(boolean dataOnly) throws ErrnoException {
            before(LowerOp.FSYNCDIR);
            d.fsync(dataOnly);
        }

        @Override
        public void close() {
            d.close();
        }
    }
}
