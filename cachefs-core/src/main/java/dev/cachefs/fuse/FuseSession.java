package dev.cachefs.fuse;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.cachefs.nativeio.Errno;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Libc;
import dev.cachefs.nativeio.RawPath;
import dev.cachefs.nativeio.Stat;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One mounted FUSE filesystem: the kernel connection, its worker threads and its lifecycle.
 *
 * <pre>
 *   FuseSession s = FuseSession.mount(mountpoint, fs, MountOptions.defaults("src"));
 *   ...                       // the mount is live and served
 *   s.unmount();              // or an external umount / fusermount3 -u
 *   s.awaitExit(timeout);
 * </pre>
 *
 * <p>Threads: {@code workers} platform threads each block in read(2) on the device and serve the
 * request they get to the end; the kernel hands each request to exactly one reader. Notifications
 * are written under {@link #notifyLock}. The session ends when the device reports ENODEV
 * (unmounted) or on DESTROY.
 */
public final class FuseSession implements FuseConnection, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(FuseSession.class);

    private final Path mountpoint;
    private final FuseFilesystem fs;
    private final MountOptions options;
    private final Mounter.Mounted mounted;
    private final List<Thread> threads = new ArrayList<>();
    private final List<Worker> workers = new ArrayList<>();
    private final CountDownLatch initDone = new CountDownLatch(1);
    private final CountDownLatch exited;
    /**
     * Passthrough backing files by node id. The kernel allows one backing file per inode
     * (a second, different one makes the open fail with EIO), so every passthrough open of a node
     * shares the first one's backing id; the id is closed when the last of them is released.
     * Guarded by itself.
     */
    private final Map<Long, Backing> backings = new java.util.HashMap<>();
    /** Open file handles that hold a reference to their node's backing. Guarded by {@link #backings}. */
    private final Map<Long, Long> backedHandles = new java.util.HashMap<>();

    private static final class Backing {
        final int id;
        /** The file registered (device and inode), which a sharing open must also name. */
        final long dev;
        final long ino;
        int refs;

        Backing(int id, long dev, long ino) {
            this.id = id;
            this.dev = dev;
            this.ino = ino;
        }
    }
    private final Object notifyLock = new Object();
    private volatile boolean closing;
    private volatile String initFailure;

    volatile int minor;
    volatile boolean passthrough;
    volatile int maxWrite;

    private FuseSession(Path mountpoint, FuseFilesystem fs, MountOptions options, Mounter.Mounted mounted) {
        this.mountpoint = mountpoint;
        this.fs = fs;
        this.options = options;
        this.mounted = mounted;
        this.exited = new CountDownLatch(options.workers());
    }

    /**
     * Mounts {@code fs} on {@code mountpoint} and returns once the kernel finished INIT, so the
     * mount is usable when this returns.
     *
     * @throws IOException with a message fit for a person when mounting fails
     */
    public static FuseSession mount(Path mountpoint, FuseFilesystem fs, MountOptions options) throws IOException {
        Mounter.Mounted m = Mounter.mount(mountpoint.toAbsolutePath(), options);
        FuseSession s = new FuseSession(mountpoint.toAbsolutePath(), fs, options, m);
        s.start();
        try {
            if (!s.initDone.await(30, TimeUnit.SECONDS)) {
                s.abort();
                throw new IOException("the kernel did not send INIT within 30 s");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            s.abort();
            throw new IOException("interrupted while mounting");
        }
        if (s.initFailure != null) {
            s.abort();
            throw new IOException(s.initFailure);
        }
        try {
            s.connectionId = Stat.minorOf(Libc.lstat(RawPath.fromText(s.mountpoint.toString())).dev());
        } catch (ErrnoException e) {
            s.connectionId = -1;
        }
        s.exitHook = Thread.ofPlatform().name("fuse-shutdown").unstarted(s::shutdown);
        Runtime.getRuntime().addShutdownHook(s.exitHook);
        return s;
    }

    /**
     * Sets the kernel's readahead for this mount (its backing device's {@code read_ahead_kb}; the
     * kernel starts every FUSE mount at 128 KiB and INIT cannot raise it). Root only; false if the
     * kernel refused, which costs only speed.
     */
    public boolean setReadahead(int kib) {
        try {
            Stat st = Libc.lstat(RawPath.fromText(mountpoint.toString()));
            Path knob = Path.of("/sys/class/bdi", Stat.majorOf(st.dev()) + ":" + Stat.minorOf(st.dev()), "read_ahead_kb");
            java.nio.file.Files.writeString(knob, Integer.toString(kib));
            return true;
        } catch (ErrnoException | IOException e) {
            log.debug("kernel readahead of {} left as it is: {}", mountpoint, e.getMessage());
            return false;
        }
    }

    /** The fusectl connection number (the minor of the mount's device), -1 if unknown. */
    private volatile long connectionId = -1;
    /** Unmounts at JVM exit; removed when the session finishes, or it would keep the filesystem alive. */
    private volatile Thread exitHook;

    /**
     * At JVM exit: unmount, and if requests are still outstanding (a process, maybe this one,
     * still has files open on the mount), abort the connection. Without that, this process
     * exiting would close its own descriptors on a mount whose workers are gone, and hang.
     */
    private void shutdown() {
        if (exited.getCount() == 0) {
            finish();
            return;
        }
        try {
            unmount();
        } catch (IOException e) {
            log.debug("unmount at exit: {}", e.getMessage());
        }
        try {
            if (!awaitExit(Duration.ofSeconds(3))) {
                abortConnection();
                awaitExit(Duration.ofSeconds(2));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Aborts the kernel connection through fusectl: every pending and later request fails with ENOTCONN. */
    void abortConnection() {
        if (connectionId < 0) {
            return;
        }
        Path ctl = Path.of("/sys/fs/fuse/connections");
        try {
            if (!java.nio.file.Files.exists(ctl.resolve(Long.toString(connectionId))) && Libc.geteuid() == 0) {
                Libc.mount("fusectl", ctl.toString(), "fusectl", 0, "");
            }
            java.nio.file.Files.writeString(ctl.resolve(Long.toString(connectionId)).resolve("abort"), "1");
            log.warn("aborted FUSE connection {} of {}: files were still open on it at exit", connectionId, mountpoint);
        } catch (IOException | ErrnoException e) {
            log.warn("could not abort FUSE connection {}: {}", connectionId, e.getMessage());
        }
    }

    private void start() {
        for (int i = 0; i < options.workers(); i++) {
            Worker w = new Worker(this, fs, mounted.devFd());
            workers.add(w);
            Thread t = Thread.ofPlatform().name("fuse-" + i).daemon(true).unstarted(() -> {
                try {
                    w.run();
                } finally {
                    exited.countDown();
                }
            });
            threads.add(t);
        }
        threads.forEach(Thread::start);
    }

    /**
     * Unmounts whatever FUSE filesystem is mounted on {@code mountpoint} (root: umount2; others:
     * fusermount3 -u). Lazy detaches it even while files are open.
     */
    public static void unmount(Path mountpoint, boolean lazy) throws IOException {
        Mounter.unmount(mountpoint.toAbsolutePath(), lazy);
    }

    public Path mountpoint() {
        return mountpoint;
    }

    /** Detaches the mount; the session ends when the last open file on it is closed. */
    public void unmount() throws IOException {
        closing = true;
        Mounter.unmount(mountpoint, true);
    }

    private boolean helperSocketClosed;

    /** Closes the socket the auto_unmount helper watches; false if there is none (left). */
    private synchronized boolean closeHelperSocket() {
        if (mounted.commFd() < 0 || helperSocketClosed) {
            return false;
        }
        helperSocketClosed = true;
        Libc.close(mounted.commFd());
        return true;
    }

    /** Waits until every worker has stopped; true if they did within the timeout. */
    public boolean awaitExit(Duration timeout) throws InterruptedException {
        boolean done = exited.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
        if (done) {
            finish();
        }
        return done;
    }

    public void awaitExit() throws InterruptedException {
        exited.await();
        finish();
    }

    private final Object finishLock = new Object();
    private boolean finished;

    private void finish() {
        synchronized (finishLock) {
            if (finished) {
                return;
            }
            finished = true;
        }
        try {
            fs.destroy();
        } catch (RuntimeException e) {
            log.warn("filesystem destroy failed", e);
        }
        Libc.close(mounted.devFd());
        Thread hook = exitHook;
        if (hook != null && hook != Thread.currentThread()) {
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException exiting) {
                // the JVM is exiting: the hook runs, and finds the session finished
            }
        }
        if (mounted.commFd() >= 0) {
            // The auto_unmount helper watches this socket: closing it lets the helper exit now.
            closeHelperSocket();
            Mounter.waitFor(mounted.helperPid(), 5000);
        }
    }

    private void abort() {
        try {
            Mounter.unmount(mountpoint, true);
        } catch (IOException e) {
            log.debug("unmount during abort: {}", e.getMessage());
        }
    }

    /** Unmounts (lazily) if still mounted and waits up to 10 s for the workers. */
    @Override
    public void close() throws IOException {
        if (exited.getCount() > 0) {
            try {
                unmount();
            } catch (IOException e) {
                log.debug("unmount on close: {}", e.getMessage());
            }
            try {
                if (!awaitExit(Duration.ofSeconds(10))) {
                    StringBuilder where = new StringBuilder();
                    Thread.getAllStackTraces().forEach((t, st) -> {
                        if (t.getName().startsWith("fuse")) {
                            where.append("\n  ").append(t.getName()).append(" in ")
                                    .append(java.util.Arrays.stream(st).limit(12).map(String::valueOf)
                                            .collect(java.util.stream.Collectors.joining(" < ")));
                        }
                    });
                    throw new IOException("FUSE workers did not stop within 10 s after unmount:" + where);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        } else {
            finish();
        }
    }

    boolean isClosing() {
        return closing;
    }

    void initFinished(String failure) {
        this.initFailure = failure;
        initDone.countDown();
    }

    MountOptions options() {
        return options;
    }

    boolean isInterrupted(long unique) {
        for (Worker w : workers) {
            if (w.currentUnique == unique) {
                return w.interrupted;
            }
        }
        return false;
    }

    void interrupt(long unique) {
        for (Worker w : workers) {
            if (w.currentUnique == unique) {
                w.interrupted = true;
            }
        }
    }

    // ------------------------------------------------------------------ FuseConnection

    @Override
    public int protocolMinor() {
        return minor;
    }

    @Override
    public boolean passthroughAvailable() {
        return passthrough;
    }

    @Override
    public void invalidateInode(long nodeid, long offset, long length) {
        synchronized (notifyLock) {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment m = a.allocate(Fuse.OUT_HEADER + 24, 8);
                m.set(JAVA_INT, 0, Fuse.OUT_HEADER + 24);
                m.set(JAVA_INT, 4, Fuse.NOTIFY_INVAL_INODE);
                m.set(JAVA_LONG, 8, 0);
                m.set(JAVA_LONG, 16, nodeid);
                m.set(JAVA_LONG, 24, offset);
                m.set(JAVA_LONG, 32, length);
                sendNotify(m);
            }
        }
    }

    @Override
    public void invalidateEntry(long parent, String name) {
        byte[] n = RawPath.bytes(name);
        synchronized (notifyLock) {
            try (Arena a = Arena.ofConfined()) {
                int len = Fuse.OUT_HEADER + 16 + n.length + 1;
                MemorySegment m = a.allocate(len, 8);
                m.set(JAVA_INT, 0, len);
                m.set(JAVA_INT, 4, Fuse.NOTIFY_INVAL_ENTRY);
                m.set(JAVA_LONG, 16, parent);
                m.set(JAVA_INT, 24, n.length);
                MemorySegment.copy(n, 0, m, java.lang.foreign.ValueLayout.JAVA_BYTE, 32, n.length);
                sendNotify(m);
            }
        }
    }

    @Override
    public void notifyDelete(long parent, long child, String name) {
        byte[] n = RawPath.bytes(name);
        synchronized (notifyLock) {
            try (Arena a = Arena.ofConfined()) {
                int len = Fuse.OUT_HEADER + 24 + n.length + 1;
                MemorySegment m = a.allocate(len, 8);
                m.set(JAVA_INT, 0, len);
                m.set(JAVA_INT, 4, Fuse.NOTIFY_DELETE);
                m.set(JAVA_LONG, 16, parent);
                m.set(JAVA_LONG, 24, child);
                m.set(JAVA_INT, 32, n.length);
                MemorySegment.copy(n, 0, m, java.lang.foreign.ValueLayout.JAVA_BYTE, 40, n.length);
                sendNotify(m);
            }
        }
    }

    private void sendNotify(MemorySegment m) {
        try {
            Libc.write(mounted.devFd(), m, m.byteSize());
        } catch (ErrnoException e) {
            // ENOENT: the kernel has no such inode or entry cached; nothing to drop.
            if (e.errno() != Errno.ENOENT && e.errno() != Errno.ENODEV) {
                log.debug("notification failed: {}", e.getMessage());
            }
        }
    }

    /**
     * The backing id for a passthrough open of {@code nodeid} with handle {@code fh}: the node's
     * existing one, or {@code fd} registered now. -1 if the kernel refused (passthrough is then
     * switched off for the session).
     */
    int acquireBacking(long nodeid, long fh, int fd) {
        Stat st;
        try {
            st = Libc.fstat(fd);
        } catch (ErrnoException e) {
            return -1;
        }
        synchronized (backings) {
            Backing b = backings.get(nodeid);
            if (b == null) {
                int id = registerBacking(fd);
                if (id < 0) {
                    return -1;
                }
                b = new Backing(id, st.dev(), st.ino());
                backings.put(nodeid, b);
            } else if (b.dev != st.dev() || b.ino != st.ino()) {
                // The filesystem should never ask this: serving the other file's data would be wrong.
                log.warn("node {}: a passthrough open onto another file than its open ones; served by the daemon", nodeid);
                return -1;
            }
            b.refs++;
            backedHandles.put(fh, nodeid);
            return b.id;
        }
    }

    /** The open file {@code fh} was released: drop its reference to the node's backing. */
    void releaseBacking(long fh) {
        synchronized (backings) {
            Long nodeid = backedHandles.remove(fh);
            if (nodeid == null) {
                return;
            }
            Backing b = backings.get(nodeid);
            if (b != null && --b.refs == 0) {
                backings.remove(nodeid);
                closeBacking(b.id);
            }
        }
    }

    private int registerBacking(int fd) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment map = a.allocate(16, 8);
            map.set(JAVA_INT, 0, fd);
            return Libc.ioctl(mounted.devFd(), Fuse.DEV_IOC_BACKING_OPEN, map);
        } catch (ErrnoException e) {
            log.warn("FUSE passthrough refused by the kernel ({}); serving reads through the daemon", e.getMessage());
            passthrough = false;
            return -1;
        }
    }

    private void closeBacking(int id) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment idSeg = a.allocate(JAVA_INT);
            idSeg.set(JAVA_INT, 0, id);
            Libc.ioctl(mounted.devFd(), Fuse.DEV_IOC_BACKING_CLOSE, idSeg);
        } catch (ErrnoException e) {
            log.debug("backing close {}: {}", id, e.getMessage());
        }
    }
}
