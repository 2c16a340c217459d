package dev.cachefs.fs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import dev.cachefs.index.FileId;
import dev.cachefs.index.IdentityMode;
import dev.cachefs.index.LowerIdentity;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Libc;
import dev.cachefs.harness.Sys;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Identity detection on a real local filesystem and on a real FUSE lower (a cachefs mount). */
@Timeout(60)
class IdentityIT {
    @TempDir
    Path tmp;

    private static int openRoot(Path p) throws ErrnoException {
        return Libc.open(Sys.raw(p), Libc.O_PATH | Libc.O_DIRECTORY, 0);
    }

    @Test
    void aLocalFilesystemGivesHandlesThatSurviveRename() throws Exception {
        Path dir = Files.createDirectory(tmp.resolve("local"));
        Files.writeString(dir.resolve("a"), "x");
        int fd = openRoot(dir);
        try {
            LowerIdentity id = LowerIdentity.detect(fd, IdentityMode.AUTO);
            assertEquals(IdentityMode.HANDLE, id.mode(), id.reason());
            FileId before = id.idOf(fd, "a");
            Files.move(dir.resolve("a"), dir.resolve("b"));
            assertEquals(before, id.idOf(fd, "b"), "rename keeps the handle identity");
            Files.writeString(dir.resolve("c"), "y");
            assertNotEquals(before, id.idOf(fd, "c"));
            assertEquals(IdentityMode.PATH, LowerIdentity.detect(fd, IdentityMode.PATH).mode());
        } finally {
            Libc.close(fd);
        }
    }

    @Test
    void aFuseLowerFallsBackToPathIdentity() throws Exception {
        try (dev.cachefs.harness.Stack fx = dev.cachefs.harness.Stack.inDirectory(tmp).mount()) {
            Files.writeString(fx.mnt.resolve("a"), "x");
            int fd = openRoot(fx.mnt);
            try {
                LowerIdentity id = LowerIdentity.detect(fd, IdentityMode.AUTO);
                assertEquals(IdentityMode.PATH, id.mode(), id.reason());
                assertEquals(FileId.ofPath(id.fsid(), "a"), id.idOf(fd, "a"));
                // FUSE hands out node-id handles; forcing them is allowed, with the warning said.
                LowerIdentity forced = LowerIdentity.detect(fd, IdentityMode.HANDLE);
                assertEquals(IdentityMode.HANDLE, forced.mode());
                org.junit.jupiter.api.Assertions.assertTrue(forced.reason().contains("FUSE"), forced.reason());
            } finally {
                Libc.close(fd);
            }
        }
    }

    /**
     * Over the real network clients the fallback is path identity, and it must survive what those
     * clients do to inode numbers and st_dev: a remount of the client gives the same FileId.
     */
    @ParameterizedTest
    @ValueSource(strings = {"sftp", "nfs", "smb"})
    void networkLowersUsePathIdentityThatSurvivesARemount(String kind) throws Exception {
        try (dev.cachefs.harness.Lower l = dev.cachefs.harness.Lowers.start(kind)) {
            Files.writeString(l.root().resolve("a"), "x");
            FileId before;
            long inoBefore = Libc.lstat(Sys.raw(l.root().resolve("a"))).ino();
            int fd = openRoot(l.root());
            try {
                LowerIdentity id = LowerIdentity.detect(fd, IdentityMode.AUTO);
                assertEquals(IdentityMode.PATH, id.mode(), id.reason());
                before = id.idOf(fd, "a");
            } finally {
                Libc.close(fd);
            }
            ((dev.cachefs.harness.NetworkLower) l).remountClient();
            fd = openRoot(l.root());
            try {
                LowerIdentity id = LowerIdentity.detect(fd, IdentityMode.AUTO);
                assertEquals(before, id.idOf(fd, "a"), "same file, same identity after the client remounted (inode was "
                        + inoBefore + ", now " + Libc.lstat(Sys.raw(l.root().resolve("a"))).ino() + ")");
            } finally {
                Libc.close(fd);
            }
        }
    }
}
