package dev.cachefs.index;

import dev.cachefs.nativeio.Errno;
import dev.cachefs.nativeio.ErrnoException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The one place where cachefs's own failures become the errno a caller sees: a full cache disk is
 * ENOSPC (SQLite, or a write into the cache directory, said so, or the disk has under 1 MiB
 * left), anything else in the cache directory EIO. The lower's failures keep the lower's errno
 * (the lower layer passes them on as they are); a failure nobody mapped, a bug, is EIO at the
 * FUSE boundary ({@code fuse.Worker}), logged.
 */
public final class ErrnoMapping {
    private ErrnoMapping() {}

    /** Whether the disk holding {@code dir} is (nearly) out of space: SQLite does not always say so itself. */
    public static boolean diskFull(Path dir) {
        try {
            return dir != null && Files.getFileStore(dir).getUsableSpace() < 1 << 20;
        } catch (IOException e) {
            return false;
        }
    }

    /** The index failed: ENOSPC if the disk is full, else EIO. {@code cacheDir} may be null (no disk check). */
    public static ErrnoException of(IndexException e, Path cacheDir) {
        String m = e.getMessage() == null ? "" : e.getMessage();
        boolean full = m.contains("SQLITE_FULL") || m.contains("disk is full") || m.contains("ENOSPC") || diskFull(cacheDir);
        return new ErrnoException(full ? Errno.ENOSPC : Errno.EIO, m);
    }

    /** The index failed (no disk to check): ENOSPC if SQLite said the disk is full, else EIO. */
    public static ErrnoException of(IndexException e) {
        return of(e, (Path) null);
    }

    /** A file in the cache directory could not be {@code what} ("cannot make the local copy of x"): ENOSPC or EIO. */
    public static ErrnoException of(IOException e, String what, Path cacheDir) {
        String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        boolean full = m.contains("No space left") || m.contains("Disk quota exceeded") || diskFull(cacheDir);
        return new ErrnoException(full ? Errno.ENOSPC : Errno.EIO, what + ": " + m);
    }

    /** Like {@link #of(IOException, String, Path)} without a disk to check. */
    public static ErrnoException of(IOException e, String what) {
        return of(e, what, (Path) null);
    }
}
