package dev.cachefs.fuse;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.cachefs.nativeio.Errno;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Libc;
import dev.cachefs.nativeio.RawPath;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Gets a connected /dev/fuse descriptor for a mount point, and takes the mount away again.
 *
 * <p>Two ways: {@code fusermount3} (works for any user; with auto_unmount it stays behind and
 * unmounts when this process dies, so a killed daemon leaves no dead mount), or, as root,
 * {@code mount(2)} directly. fusermount3 is started with posix_spawnp through FFM because
 * ProcessBuilder closes every descriptor above 2 in the child, including the socket it needs.
 */
final class Mounter {
    private static final int AF_UNIX = 1;
    private static final int SOCK_STREAM = 1;
    private static final int SOL_SOCKET = 1;
    private static final int SCM_RIGHTS = 1;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final MethodHandle POSIX_SPAWNP = LINKER.downcallHandle(
            LINKER.defaultLookup().find("posix_spawnp").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
    private static final MethodHandle FA_INIT = LINKER.downcallHandle(
            LINKER.defaultLookup().find("posix_spawn_file_actions_init").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, ADDRESS));
    private static final MethodHandle FA_ADDDUP2 = LINKER.downcallHandle(
            LINKER.defaultLookup().find("posix_spawn_file_actions_adddup2").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
    private static final MethodHandle FA_DESTROY = LINKER.downcallHandle(
            LINKER.defaultLookup().find("posix_spawn_file_actions_destroy").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, ADDRESS));
    private static final MethodHandle PIPE2 = LINKER.downcallHandle(
            LINKER.defaultLookup().find("pipe2").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle WAITPID = LINKER.downcallHandle(
            LINKER.defaultLookup().find("waitpid").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));

    /** A connected device descriptor and how to undo the mount. */
    record Mounted(int devFd, boolean viaFusermount, int helperPid, int commFd) {}

    private Mounter() {}

    static Mounted mount(Path mountpoint, MountOptions options) throws IOException {
        boolean root = Libc.geteuid() == 0;
        String fusermount = findFusermount();
        if (options.autoUnmount() && fusermount != null) {
            return mountWithFusermount(fusermount, mountpoint, options);
        }
        if (root) {
            return mountDirect(mountpoint, options);
        }
        if (fusermount == null) {
            throw new IOException("fusermount3 not found (Debian package fuse3); it is needed to mount as a normal user");
        }
        return mountWithFusermount(fusermount, mountpoint, options);
    }

    static String findFusermount() {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(":")) {
            Path p = Path.of(dir.isEmpty() ? "." : dir, "fusermount3");
            if (Files.isExecutable(p)) {
                return p.toString();
            }
        }
        for (String p : List.of("/usr/bin/fusermount3", "/bin/fusermount3")) {
            if (Files.isExecutable(Path.of(p))) {
                return p;
            }
        }
        return null;
    }

    private static Mounted mountDirect(Path mountpoint, MountOptions options) throws IOException {
        int fd;
        try {
            fd = Libc.open("/dev/fuse", Libc.O_RDWR | Libc.O_CLOEXEC, 0);
        } catch (ErrnoException e) {
            throw new IOException("cannot open /dev/fuse (" + Errno.name(e.errno()) + "): is the fuse module loaded?");
        }
        StringBuilder data = new StringBuilder()
                .append("fd=").append(fd)
                .append(",rootmode=40000,user_id=").append(Libc.geteuid())
                .append(",group_id=").append(Libc.getegid())
                .append(",default_permissions");
        if (options.allowOther()) {
            data.append(",allow_other");
        }
        long flags = (options.setuid() ? 0 : Libc.MS_NOSUID) | (options.devices() ? 0 : Libc.MS_NODEV)
                | (options.readOnly() ? 1 : 0);
        try {
            Libc.mount(options.fsName(), RawPath.fromText(mountpoint.toString()), "fuse." + options.subtype(),
                    flags, data.toString());
        } catch (ErrnoException e) {
            Libc.close(fd);
            throw new IOException("mount(2) of " + mountpoint + " failed: " + Errno.name(e.errno()));
        }
        return new Mounted(fd, false, -1, -1);
    }

    private static Mounted mountWithFusermount(String fusermount, Path mountpoint, MountOptions options)
            throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment fds = arena.allocate(8, 4);
            Libc.socketpair(AF_UNIX, SOCK_STREAM, 0, fds);
            int ours = fds.get(JAVA_INT, 0);
            int theirs = fds.get(JAVA_INT, 4);
            // Our end must not leak into the helper; theirs must be inherited (socketpair fds are not CLOEXEC).
            Libc.fcntl(ours, 2 /* F_SETFD */, 1 /* FD_CLOEXEC */);
            StringBuilder opts = new StringBuilder("default_permissions")
                    .append(options.setuid() ? ",suid" : ",nosuid")
                    .append(options.devices() ? ",dev" : ",nodev")
                    .append(",fsname=").append(options.fsName())
                    .append(",subtype=").append(options.subtype());
            if (options.allowOther()) {
                opts.append(",allow_other");
            }
            if (options.autoUnmount()) {
                opts.append(",auto_unmount");
            }
            if (options.readOnly()) {
                opts.append(",ro");
            }
            List<String> argv = List.of(fusermount, "-o", opts.toString(), "--", mountpoint.toString());
            List<String> env = new ArrayList<>();
            for (Map.Entry<String, String> e : System.getenv().entrySet()) {
                if (!e.getKey().startsWith("_FUSE_")) {
                    env.add(e.getKey() + "=" + e.getValue());
                }
            }
            env.add("_FUSE_COMMFD=" + theirs);
            HelperOutput output = new HelperOutput();
            int pid = spawn(arena, fusermount, argv, env, output);
            Libc.close(theirs);
            int devFd;
            try {
                devFd = receiveFd(arena, ours);
            } finally {
                if (!options.autoUnmount()) {
                    waitFor(pid);
                    Libc.close(ours);
                }
                // With auto_unmount the helper keeps running and watches "ours": it unmounts when the
                // socket closes, which happens when this process exits in any way.
            }
            if (devFd < 0) {
                waitFor(pid);
                Libc.close(ours);
                String why = output.awaitText(2000);
                throw new IOException("fusermount3 could not mount " + mountpoint
                        + (why.isEmpty() ? "" : ": " + why));
            }
            output.mounted();
            Libc.fcntl(devFd, 2, 1);
            return new Mounted(devFd, true, options.autoUnmount() ? pid : -1, options.autoUnmount() ? ours : -1);
        } catch (ErrnoException e) {
            throw new IOException("mounting with fusermount3 failed: " + e.getMessage());
        }
    }

    /**
     * What fusermount3 writes to its stderr: kept as the reason while mounting, logged at debug
     * level afterwards (the auto_unmount helper reports "not mounted" after a normal unmount).
     */
    static final class HelperOutput {
        private final StringBuilder text = new StringBuilder();
        private volatile boolean mounted;
        private final java.util.concurrent.CountDownLatch eof = new java.util.concurrent.CountDownLatch(1);

        void start(int fd) {
            Thread.ofPlatform().daemon(true).name("fusermount3-stderr").start(() -> {
                try (Arena a = Arena.ofConfined()) {
                    MemorySegment buf = a.allocate(4096);
                    while (true) {
                        long n;
                        try {
                            n = Libc.read(fd, buf, buf.byteSize());
                        } catch (ErrnoException e) {
                            if (e.errno() == Errno.EINTR) {
                                continue;
                            }
                            break;
                        }
                        if (n <= 0) {
                            break;
                        }
                        String chunk = new String(buf.asSlice(0, n).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE),
                                java.nio.charset.StandardCharsets.UTF_8);
                        if (mounted) {
                            org.slf4j.LoggerFactory.getLogger(Mounter.class).debug("fusermount3: {}", chunk.strip());
                        } else {
                            synchronized (text) {
                                text.append(chunk);
                            }
                        }
                    }
                } finally {
                    Libc.close(fd);
                    eof.countDown();
                }
            });
        }

        void mounted() {
            mounted = true;
        }

        String awaitText(long millis) {
            try {
                eof.await(millis, java.util.concurrent.TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            synchronized (text) {
                return text.toString().replace("/usr/bin/fusermount3: ", "").strip();
            }
        }
    }

    private static int spawn(Arena arena, String file, List<String> argv, List<String> env, HelperOutput output)
            throws IOException {
        MemorySegment pipe = arena.allocate(8, 4);
        MemorySegment actions = arena.allocate(256, 16);
        try {
            if ((int) PIPE2.invokeExact(pipe, Libc.O_CLOEXEC) != 0) {
                throw new IOException("pipe2 failed");
            }
            int init = (int) FA_INIT.invokeExact(actions);
            if (init != 0) {
                throw new IOException("posix_spawn_file_actions_init failed");
            }
            int dup = (int) FA_ADDDUP2.invokeExact(actions, pipe.get(JAVA_INT, 4), 2);
        } catch (IOException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
        MemorySegment argvSeg = arena.allocate(ADDRESS, argv.size() + 1L);
        for (int i = 0; i < argv.size(); i++) {
            argvSeg.setAtIndex(ADDRESS, i, arena.allocateFrom(argv.get(i)));
        }
        argvSeg.setAtIndex(ADDRESS, argv.size(), MemorySegment.NULL);
        MemorySegment envSeg = arena.allocate(ADDRESS, env.size() + 1L);
        for (int i = 0; i < env.size(); i++) {
            envSeg.setAtIndex(ADDRESS, i, arena.allocateFrom(env.get(i)));
        }
        envSeg.setAtIndex(ADDRESS, env.size(), MemorySegment.NULL);
        MemorySegment pid = arena.allocate(JAVA_INT);
        int r;
        try {
            r = (int) POSIX_SPAWNP.invokeExact(pid, arena.allocateFrom(file), actions,
                    MemorySegment.NULL, argvSeg, envSeg);
            int destroyed = (int) FA_DESTROY.invokeExact(actions);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
        Libc.close(pipe.get(JAVA_INT, 4));
        output.start(pipe.get(JAVA_INT, 0));
        if (r != 0) {
            throw new IOException("cannot start " + file + ": " + Errno.name(r));
        }
        return pid.get(JAVA_INT, 0);
    }

    /** Receives one descriptor over a unix socket (SCM_RIGHTS); -1 if the peer closed without one. */
    private static int receiveFd(Arena arena, int sock) throws ErrnoException {
        MemorySegment data = arena.allocate(1);
        MemorySegment iov = arena.allocate(16, 8);
        iov.set(ADDRESS, 0, data);
        iov.set(JAVA_LONG, 8, 1);
        MemorySegment control = arena.allocate(24, 8);
        MemorySegment msg = arena.allocate(56, 8);
        msg.set(ADDRESS, 16, iov);
        msg.set(JAVA_LONG, 24, 1);
        msg.set(ADDRESS, 32, control);
        msg.set(JAVA_LONG, 40, 24);
        long n;
        while (true) {
            try {
                n = Libc.recvmsg(sock, msg, 0);
                break;
            } catch (ErrnoException e) {
                if (e.errno() != Errno.EINTR) {
                    throw e;
                }
            }
        }
        if (n <= 0 || msg.get(JAVA_LONG, 40) < 20) {
            return -1;
        }
        if (control.get(JAVA_INT, 8) != SOL_SOCKET || control.get(JAVA_INT, 12) != SCM_RIGHTS) {
            return -1;
        }
        return control.get(JAVA_INT, 16);
    }

    static int waitFor(int pid) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment status = arena.allocate(JAVA_INT);
            int r = (int) WAITPID.invokeExact(pid, status, 0);
            return r < 0 ? -1 : status.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** Waits up to {@code millis} for {@code pid} to exit and reaps it; true if it did. */
    static boolean waitFor(int pid, long millis) {
        long deadline = System.nanoTime() + millis * 1_000_000L;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment status = arena.allocate(JAVA_INT);
            while (true) {
                int r = (int) WAITPID.invokeExact(pid, status, 1 /* WNOHANG */);
                if (r != 0 || System.nanoTime() > deadline) {
                    return r != 0;
                }
                Thread.sleep(10);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /**
     * Takes the mount away. Lazy: the kernel detaches it at once and the session ends when the last
     * open file on it closes.
     */
    static void unmount(Path mountpoint, boolean lazy) throws IOException {
        String mp = mountpoint.toString();
        if (Libc.geteuid() == 0) {
            try {
                Libc.umount2(RawPath.fromText(mp), lazy ? Libc.MNT_DETACH : 0);
                return;
            } catch (ErrnoException e) {
                if (e.errno() == Errno.EINVAL) {
                    throw new IOException(mp + " is not a mount point");
                }
                if (e.errno() == Errno.EBUSY) {
                    throw new IOException(mp + " is busy (a process uses it); use --lazy to detach it now");
                }
                throw new IOException("umount of " + mp + " failed: " + Errno.name(e.errno()));
            }
        }
        String fusermount = findFusermount();
        if (fusermount == null) {
            throw new IOException("fusermount3 not found (Debian package fuse3)");
        }
        List<String> cmd = lazy ? List.of(fusermount, "-u", "-z", mp) : List.of(fusermount, "-u", mp);
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes()).trim();
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException("fusermount3 -u " + mp + " did not finish in 30 s");
            }
            if (p.exitValue() != 0) {
                throw new IOException("unmount of " + mp + " failed: " + out);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while unmounting " + mp);
        }
    }
}
