package dev.cachefs.resync;

import dev.cachefs.index.ErrnoMapping;
import dev.cachefs.index.CacheStore;
import dev.cachefs.lower.LowerFile;
import dev.cachefs.lower.LowerFs;
import dev.cachefs.nativeio.Errno;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Libc;
import dev.cachefs.nativeio.Stat;
import dev.cachefs.offline.Guard;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Replay's traffic with the lower's files: whether a name is there, whether it holds what a local
 * copy holds, bringing its version into the cache (a conflict's {@code remote}), and sending a
 * local version up whole under a temporary name renamed over the target.
 */
final class LowerCopies {
    private LowerCopies() {}

    /** The lower's attributes of {@code path}, or null where nothing is. */
    static Stat lstat(LowerFs lower, String path) throws ErrnoException {
        try {
            return lower.stat(path);
        } catch (ErrnoException e) {
            if (e.errno() == Errno.ENOENT) {
                return null;
            }
            throw e;
        }
    }

    /** Whether the lower's file at {@code path} holds exactly what {@code local} holds. */
    static boolean sameContent(LowerFs lower, String path, Stat now, Path local) throws ErrnoException {
        try {
            if (local == null || !now.isRegular() || Files.size(local) != now.size()) {
                return false;
            }
        } catch (IOException e) {
            return false;
        }
        LowerFile f = lower.open(path, Libc.O_RDONLY, 0);
        try (FileChannel in = FileChannel.open(local, StandardOpenOption.READ); Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(1 << 20);
            java.nio.ByteBuffer mine = java.nio.ByteBuffer.allocate(1 << 20);
            long off = 0;
            while (true) {
                int n = f.read(off, buf);
                mine.clear();
                int m = 0;
                while (m < Math.max(n, 0) && mine.hasRemaining()) {
                    int r = in.read(mine, off + m);
                    if (r <= 0) {
                        break;
                    }
                    m += r;
                }
                if (n <= 0) {
                    return m == 0;
                }
                if (m != n || !java.util.Arrays.equals(buf.asSlice(0, n).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE), 0, n,
                        mine.array(), 0, n)) {
                    return false;
                }
                off += n;
            }
        } catch (IOException e) {
            return false;
        } finally {
            f.close();
        }
    }

    /** Copies the lower's file at {@code path} into {@code dst} (a cache file). */
    static void fetch(LowerFs lower, String path, Path dst) throws ErrnoException {
        LowerFile f = lower.open(path, Libc.O_RDONLY, 0);
        try (FileChannel out = CacheStore.openPrivate(dst)) {
            f.copyTo(out);
        } catch (IOException e) {
            throw ErrnoMapping.of(e, "cannot keep the lower's version of " + path + " in the cache");
        } finally {
            f.close();
        }
    }


    /** Keeps a copy of a cache file (a variant of a conflict). */
    static void copy(Path from, Path to) throws ErrnoException {
        try {
            CacheStore.copyPrivate(from, to);
        } catch (IOException e) {
            throw ErrnoMapping.of(e, "cannot keep " + from + " as " + to);
        }
    }

    /** The content of {@code p} if it is small enough for a resolver, else null. */
    static byte[] readSmall(Path p) {
        try {
            return p != null && Files.size(p) <= ConflictResolver.MAX_BYTES ? Files.readAllBytes(p) : null;
        } catch (IOException e) {
            return null;
        }
    }

    /** {@code dir}, made private (0700) if it is not there yet. */
    static Path privateDir(Path dir) throws ErrnoException {
        try {
            return CacheStore.privateDirectories(dir);
        } catch (IOException e) {
            throw ErrnoMapping.of(e, "cannot make " + dir);
        }
    }

    /**
     * Sends {@code src} (a local copy, a merge; null: an empty file) to {@code target} on the
     * lower: written under a temporary name beside it (named by the journal entry {@code seq}: a
     * replay that resumes replaces what a cut-short one left), synced, and renamed over it.
     */
    static void upload(LowerFs lower, Path src, String target, int mode, long seq) throws ErrnoException {
        int slash = target.lastIndexOf('/');
        // Named by the journal entry: a replay that resumes replaces what a cut-short one left.
        String name = target.substring(slash + 1);
        String tmp = (slash < 0 ? "" : target.substring(0, slash + 1)) + dev.cachefs.offline.ModalLowerFs.UPLOAD_TEMP + seq + "-"
                + (name.length() > 180 ? name.substring(0, 180) : name);
        LowerFile f;
        try {
            f = lower.open(tmp, Libc.O_WRONLY | Libc.O_CREAT | Libc.O_EXCL, mode);
        } catch (ErrnoException e) {
            if (e.errno() != Errno.EEXIST || e instanceof Guard.Unreachable) {
                throw e; // ENOENT: the directory is gone (the caller may make it again)
            }
            lower.unlink(tmp); // left by an upload cut short
            f = lower.open(tmp, Libc.O_WRONLY | Libc.O_CREAT | Libc.O_EXCL, mode);
        }
        try {
            if (src != null) {
                try (FileChannel in = FileChannel.open(src, StandardOpenOption.READ); Arena arena = Arena.ofConfined()) {
                    MemorySegment buf = arena.allocate(1 << 20);
                    long off = 0;
                    java.nio.ByteBuffer bb = buf.asByteBuffer();
                    while (true) {
                        bb.clear();
                        int n = in.read(bb, off);
                        if (n <= 0) {
                            break;
                        }
                        long done = 0;
                        while (done < n) {
                            done += f.write(off + done, buf.asSlice(done, n - done));
                        }
                        off += n;
                    }
                } catch (IOException ex) {
                    throw ErrnoMapping.of(ex, "cannot read " + src);
                }
            }
            f.fsync(false);
        } catch (ErrnoException ex) {
            f.close();
            try {
                lower.unlink(tmp);
            } catch (ErrnoException ignored) {
                // the lower went away: an orphan upload file stays behind, named as one
            }
            throw ex;
        }
        f.close();
        lower.rename(tmp, target, 0);
    }
}
