package dev.cachefs.harness;

import dev.cachefs.fuse.FuseFilesystem;
import dev.cachefs.fuse.FuseSession;
import dev.cachefs.fuse.MountOptions;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Libc;
import dev.cachefs.nativeio.RawPath;
import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;

/**
 * Mounting for tests: a real FUSE mount served in this JVM, taken down under a timeout however the
 * test ended (lazy unmount as the last resort), so that a failed test never leaves a mount behind.
 */
public final class Mounts {
    private Mounts() {}

    /** Skips the test (with the reason) where a FUSE mount cannot be made. */
    public static void assumeFuse() {
        Assumptions.assumeTrue(java.nio.file.Files.exists(Path.of("/dev/fuse")), "no /dev/fuse on this machine");
        Assumptions.assumeTrue(Libc.geteuid() == 0 || java.nio.file.Files.isExecutable(Path.of("/usr/bin/fusermount3")),
                "needs root or fusermount3 (Debian package fuse3)");
    }

    public static MountOptions testOptions() {
        boolean root = Libc.geteuid() == 0;
        return MountOptions.defaults("cachefs-test").withAllowOther(root).withDevices(root).withSetuid(root);
    }

    /** A live mount; closing it unmounts within 20 s or detaches it lazily. */
    public static final class Live implements AutoCloseable {
        public final FuseSession session;
        public final Path mountpoint;

        Live(FuseSession session, Path mountpoint) {
            this.session = session;
            this.mountpoint = mountpoint;
        }

        @Override
        public void close() {
            ExecutorService ex = Executors.newSingleThreadExecutor();
            try {
                Future<?> f = ex.submit(() -> {
                    session.close();
                    return null;
                });
                f.get(20, TimeUnit.SECONDS);
            } catch (Exception e) {
                forceUnmount(mountpoint);
                throw new AssertionError("unmount did not complete cleanly: " + e, e);
            } finally {
                ex.shutdownNow();
            }
        }
    }

    public static Live mount(Path mountpoint, FuseFilesystem fs, MountOptions options) throws IOException {
        assumeFuse();
        Libc.umask(0);
        return new Live(FuseSession.mount(mountpoint, fs, options), mountpoint);
    }

    public static void forceUnmount(Path mountpoint) {
        try {
            Libc.umount2(RawPath.fromText(mountpoint.toAbsolutePath().toString()), Libc.MNT_DETACH);
        } catch (ErrnoException ignored) {
            // not mounted any more
        }
    }
}
