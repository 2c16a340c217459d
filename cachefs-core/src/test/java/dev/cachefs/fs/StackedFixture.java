package dev.cachefs.fs;

import dev.cachefs.fuse.MountOptions;
import dev.cachefs.lower.LocalLowerFs;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.testutil.Mounts;
import dev.cachefs.testutil.Sys;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A reference directory and a cachefs mount over another directory, side by side: every
 * operation is done in both and must give the same outcome.
 */
final class StackedFixture implements AutoCloseable {
    final Path ref;
    final Path lower;
    final Path mnt;
    final StackedFs fs;
    final Mounts.Live live;
    private final LocalLowerFs lowerFs;

    StackedFixture(Path tmp, StackedFs.Options options, MountOptions mountOptions) throws IOException, ErrnoException {
        // Other uids must be able to reach the roots (JUnit makes temp dirs 0700).
        Files.setPosixFilePermissions(tmp, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
        ref = Files.createDirectory(tmp.resolve("ref"));
        lower = Files.createDirectory(tmp.resolve("lower"));
        mnt = Files.createDirectory(tmp.resolve("mnt"));
        // Both roots must look alike: same mode and owner.
        Files.setPosixFilePermissions(ref, Files.getPosixFilePermissions(lower));
        lowerFs = new LocalLowerFs(Sys.raw(lower));
        fs = new StackedFs(lowerFs, options);
        live = Mounts.mount(mnt, fs, mountOptions);
    }

    StackedFixture(Path tmp) throws IOException, ErrnoException {
        this(tmp, StackedFs.Options.defaults(), Mounts.testOptions());
    }

    /** The raw path of {@code rel} under the reference root and under the mount. */
    String inRef(String rel) {
        return rel.isEmpty() ? Sys.raw(ref) : Sys.raw(ref) + "/" + rel;
    }

    String inMnt(String rel) {
        return rel.isEmpty() ? Sys.raw(mnt) : Sys.raw(mnt) + "/" + rel;
    }

    String inLower(String rel) {
        return rel.isEmpty() ? Sys.raw(lower) : Sys.raw(lower) + "/" + rel;
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
