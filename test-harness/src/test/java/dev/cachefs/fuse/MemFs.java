package dev.cachefs.fuse;

import dev.cachefs.nativeio.Errno;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Libc;
import dev.cachefs.nativeio.Stat;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A small in-memory filesystem, to test the FUSE layer on its own. Coarse locking (every method
 * synchronized): simple beats fast here. Timeouts are settable to test the kernel's caching.
 */
class MemFs implements FuseFilesystem {
    static final class Node {
        final long id;
        int mode;
        byte[] data = new byte[0];
        final TreeMap<String, Long> children = new TreeMap<>();
        final Map<String, byte[]> xattrs = new TreeMap<>();
        long mtime = System.currentTimeMillis() / 1000;

        Node(long id, int mode) {
            this.id = id;
            this.mode = mode;
        }
    }

    final Map<Long, Node> nodes = new ConcurrentHashMap<>();
    private final AtomicLong ids = new AtomicLong(2);
    volatile long entryTimeoutNs = 0;
    volatile long attrTimeoutNs = 0;
    volatile long negativeTimeoutNs = 0;
    volatile int openFlags = 0;
    volatile FuseConnection connection;
    final AtomicLong reads = new AtomicLong();
    final AtomicLong lookups = new AtomicLong();

    MemFs() {
        nodes.put(Fuse.ROOT_ID, new Node(Fuse.ROOT_ID, Libc.S_IFDIR | 0755));
    }

    @Override
    public void init(FuseConnection connection) {
        this.connection = connection;
    }

    private Node node(long id) throws ErrnoException {
        Node n = nodes.get(id);
        if (n == null) {
            throw new ErrnoException(Errno.ESTALE);
        }
        return n;
    }

    private Node dir(long id) throws ErrnoException {
        Node n = node(id);
        if ((n.mode & Libc.S_IFMT) != Libc.S_IFDIR) {
            throw new ErrnoException(Errno.ENOTDIR);
        }
        return n;
    }

    Stat stat(Node n) {
        int nlink = (n.mode & Libc.S_IFMT) == Libc.S_IFDIR ? 2 : 1;
        return new Stat(n.id, n.data.length, (n.data.length + 511) / 512, n.mode, nlink, 0, 0, 0, 0, 4096,
                n.mtime, 0, n.mtime, 0, n.mtime, 0, 0);
    }

    private Entry entry(Node n) {
        return new Entry(n.id, 0, stat(n), entryTimeoutNs, attrTimeoutNs);
    }

    /** Adds a file behind the kernel's back (as a remote change would). */
    synchronized Node addFile(long parent, String name, byte[] content) {
        Node n = new Node(ids.getAndIncrement(), Libc.S_IFREG | 0644);
        n.data = content;
        nodes.put(n.id, n);
        nodes.get(parent).children.put(name, n.id);
        return n;
    }

    @Override
    public synchronized Entry lookup(Ctx ctx, long parent, String name) throws ErrnoException {
        lookups.incrementAndGet();
        Long id = dir(parent).children.get(name);
        if (id == null) {
            if (negativeTimeoutNs > 0) {
                return Entry.negative(negativeTimeoutNs);
            }
            throw new ErrnoException(Errno.ENOENT);
        }
        return entry(node(id));
    }

    @Override
    public synchronized Attributes getattr(Ctx ctx, long nodeid, long fh) throws ErrnoException {
        return new Attributes(stat(node(nodeid)), attrTimeoutNs);
    }

    @Override
    public synchronized Attributes setattr(Ctx ctx, long nodeid, SetAttr c) throws ErrnoException {
        Node n = node(nodeid);
        if (c.has(Fuse.FATTR_SIZE)) {
            n.data = Arrays.copyOf(n.data, (int) c.size());
        }
        if (c.has(Fuse.FATTR_MODE)) {
            n.mode = (n.mode & Libc.S_IFMT) | (c.mode() & 07777);
        }
        if (c.has(Fuse.FATTR_MTIME)) {
            n.mtime = c.mtimeSec();
        }
        return new Attributes(stat(n), attrTimeoutNs);
    }

    @Override
    public synchronized Entry mkdir(Ctx ctx, long parent, String name, int mode) throws ErrnoException {
        Node p = dir(parent);
        if (p.children.containsKey(name)) {
            throw new ErrnoException(Errno.EEXIST);
        }
        Node n = new Node(ids.getAndIncrement(), Libc.S_IFDIR | (mode & 07777));
        nodes.put(n.id, n);
        p.children.put(name, n.id);
        return entry(n);
    }

    @Override
    public synchronized Created create(Ctx ctx, long parent, String name, int flags, int mode) throws ErrnoException {
        Node p = dir(parent);
        if (p.children.containsKey(name)) {
            throw new ErrnoException(Errno.EEXIST);
        }
        Node n = new Node(ids.getAndIncrement(), Libc.S_IFREG | (mode & 07777));
        nodes.put(n.id, n);
        p.children.put(name, n.id);
        return new Created(entry(n), new OpenResult(n.id, openFlags));
    }

    @Override
    public synchronized void unlink(Ctx ctx, long parent, String name) throws ErrnoException {
        Node p = dir(parent);
        Long id = p.children.get(name);
        if (id == null) {
            throw new ErrnoException(Errno.ENOENT);
        }
        if ((node(id).mode & Libc.S_IFMT) == Libc.S_IFDIR) {
            throw new ErrnoException(Errno.EISDIR);
        }
        p.children.remove(name);
    }

    @Override
    public synchronized void rmdir(Ctx ctx, long parent, String name) throws ErrnoException {
        Node p = dir(parent);
        Long id = p.children.get(name);
        if (id == null) {
            throw new ErrnoException(Errno.ENOENT);
        }
        if (!dir(id).children.isEmpty()) {
            throw new ErrnoException(Errno.ENOTEMPTY);
        }
        p.children.remove(name);
    }

    @Override
    public synchronized void rename(Ctx ctx, long parent, String name, long newParent, String newName, int flags)
            throws ErrnoException {
        Long id = dir(parent).children.remove(name);
        if (id == null) {
            throw new ErrnoException(Errno.ENOENT);
        }
        dir(newParent).children.put(newName, id);
    }

    @Override
    public OpenResult open(Ctx ctx, long nodeid, int flags) throws ErrnoException {
        Node n = node(nodeid);
        if ((flags & Libc.O_TRUNC) != 0) {
            synchronized (this) {
                n.data = new byte[0];
            }
        }
        return new OpenResult(nodeid, openFlags);
    }

    @Override
    public synchronized int read(Ctx ctx, long nodeid, long fh, long offset, MemorySegment dst) throws ErrnoException {
        reads.incrementAndGet();
        Node n = node(nodeid);
        if (offset >= n.data.length) {
            return 0;
        }
        int len = (int) Math.min(dst.byteSize(), n.data.length - offset);
        MemorySegment.copy(n.data, (int) offset, dst, ValueLayout.JAVA_BYTE, 0, len);
        return len;
    }

    @Override
    public synchronized int write(Ctx ctx, long nodeid, long fh, long offset, MemorySegment src, int writeFlags)
            throws ErrnoException {
        Node n = node(nodeid);
        int len = (int) src.byteSize();
        if (offset + len > n.data.length) {
            n.data = Arrays.copyOf(n.data, (int) (offset + len));
        }
        MemorySegment.copy(src, ValueLayout.JAVA_BYTE, 0, n.data, (int) offset, len);
        return len;
    }

    @Override
    public StatFs statfs(Ctx ctx, long nodeid) {
        return new StatFs(1000, 500, 500, 100, 50, 4096, 255, 4096);
    }

    @Override
    public synchronized void readdir(Ctx ctx, long nodeid, long fh, long offset, DirSink sink) throws ErrnoException {
        Node d = dir(nodeid);
        List<Map.Entry<String, Long>> all = new ArrayList<>();
        all.add(Map.entry(".", d.id));
        all.add(Map.entry("..", Fuse.ROOT_ID));
        all.addAll(d.children.entrySet());
        for (int i = (int) offset; i < all.size(); i++) {
            var e = all.get(i);
            Node n = node(e.getValue());
            boolean ok;
            if (sink.plus()) {
                boolean dot = e.getKey().equals(".") || e.getKey().equals("..");
                ok = sink.addPlus(e.getKey(), dot ? new Entry(0, 0, stat(n), 0, 0) : entry(n), i + 1);
            } else {
                ok = sink.add(e.getKey(), n.id, n.mode, i + 1);
            }
            if (!ok) {
                return;
            }
        }
    }

    @Override
    public synchronized void setxattr(Ctx ctx, long nodeid, String name, MemorySegment value, int flags)
            throws ErrnoException {
        Node n = node(nodeid);
        if ((flags & Libc.XATTR_CREATE) != 0 && n.xattrs.containsKey(name)) {
            throw new ErrnoException(Errno.EEXIST);
        }
        n.xattrs.put(name, value.toArray(ValueLayout.JAVA_BYTE));
    }

    @Override
    public synchronized int getxattr(Ctx ctx, long nodeid, String name, MemorySegment dst) throws ErrnoException {
        byte[] v = node(nodeid).xattrs.get(name);
        if (v == null) {
            throw new ErrnoException(Errno.ENODATA);
        }
        if (dst.byteSize() == 0) {
            return v.length;
        }
        if (dst.byteSize() < v.length) {
            throw new ErrnoException(Errno.ERANGE);
        }
        MemorySegment.copy(v, 0, dst, ValueLayout.JAVA_BYTE, 0, v.length);
        return v.length;
    }

    @Override
    public synchronized int listxattr(Ctx ctx, long nodeid, MemorySegment dst) throws ErrnoException {
        StringBuilder sb = new StringBuilder();
        for (String k : node(nodeid).xattrs.keySet()) {
            sb.append(k).append('\0');
        }
        byte[] b = dev.cachefs.nativeio.RawPath.bytes(sb.toString());
        if (dst.byteSize() == 0) {
            return b.length;
        }
        if (dst.byteSize() < b.length) {
            throw new ErrnoException(Errno.ERANGE);
        }
        MemorySegment.copy(b, 0, dst, ValueLayout.JAVA_BYTE, 0, b.length);
        return b.length;
    }
}
