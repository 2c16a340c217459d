package dev.cachefs.harness;

import dev.cachefs.fs.StackedFs;
import dev.cachefs.fuse.MountOptions;
import dev.cachefs.lower.LocalLowerFs;
import dev.cachefs.lower.LowerFs;
import dev.cachefs.nativeio.ErrnoException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;

/**
 * A cachefs mount over one directory of a lower, with a reference directory beside it on the same
 * lower: a test does the same calls in both and compares outcomes, so that "cachefs over X
 * behaves like X" is checked whatever X supports.
 */
public final class Stack implements AutoCloseable {
    private static final AtomicInteger SEQ = new AtomicInteger();

    public final Path ref;
    public final Path lower;
    public final Path mnt;
    public final StackedFs fs;
    public final Mounts.Live live;
    private final LowerFs lowerFs;

    private Stack(Path ref, Path lower, Path mnt, StackedFs.Options options, MountOptions mountOptions,
                  Function<LowerFs, LowerFs> wrap) throws IOException, ErrnoException {
        this.ref = ref;
        this.lower = lower;
        this.mnt = mnt;
        this.lowerFs = wrap.apply(new LocalLowerFs(Sys.raw(lower)));
        StackedFs made = null;
        Mounts.Live mounted = null;
        try {
            made = new StackedFs(lowerFs, options);
            mounted = Mounts.mount(mnt, made, mountOptions);
        } finally {
            if (mounted == null) {
                lowerFs.close();
            }
        }
        this.fs = made;
        this.live = mounted;
    }

    /** Reference and stacked directories in {@code tmp} (a local test directory). */
    public static Stack inDirectory(Path tmp, StackedFs.Options options, MountOptions mountOptions) throws IOException, ErrnoException {
        // Other uids must be able to reach the roots (JUnit makes temp dirs 0700).
        Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path ref = Files.createDirectory(tmp.resolve("ref"));
        Path lower = Files.createDirectory(tmp.resolve("lower"));
        Files.setPosixFilePermissions(ref, Files.getPosixFilePermissions(lower));
        return new Stack(ref, lower, Files.createDirectory(tmp.resolve("mnt")), options, mountOptions, l -> l);
    }

    public static Stack inDirectory(Path tmp) throws IOException, ErrnoException {
        return inDirectory(tmp, StackedFs.Options.defaults(), Mounts.testOptions());
    }

    /** Fresh reference and stacked directories on {@code l}; the mount point is local. */
    public static Stack onLower(Lower l, StackedFs.Options options, MountOptions mountOptions,
                                Function<LowerFs, LowerFs> wrap) throws IOException, ErrnoException {
        int n = SEQ.incrementAndGet();
        Path ref = Files.createDirectory(l.root().resolve("ref-" + n));
        Path lower = Files.createDirectory(l.root().resolve("low-" + n));
        Files.setPosixFilePermissions(ref, PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.setPosixFilePermissions(lower, PosixFilePermissions.fromString("rwxr-xr-x"));
        return new Stack(ref, lower, Harness.newDir("mnt"), options, mountOptions, wrap);
    }

    public static Stack onLower(Lower l) throws IOException, ErrnoException {
        return onLower(l, StackedFs.Options.defaults(), Mounts.testOptions(), x -> x);
    }

    /** The raw path of {@code rel} under the reference root, the mount, and the stacked lower dir. */
    public String inRef(String rel) {
        return join(ref, rel);
    }

    public String inMnt(String rel) {
        return join(mnt, rel);
    }

    public String inLower(String rel) {
        return join(lower, rel);
    }

    private static String join(Path root, String rel) {
        return rel.isEmpty() ? Sys.raw(root) : Sys.raw(root) + "/" + rel;
    }

    @Override
    public void close() {
        try {
            live.close();
        } finally {
            lowerFs.close();
        }
    }
}
