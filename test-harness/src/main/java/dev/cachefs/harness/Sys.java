package dev.cachefs.harness;

import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Libc;
import dev.cachefs.nativeio.RawPath;
import dev.cachefs.nativeio.Stat;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;

/** System calls for tests, by absolute raw path, so that results and errno can be compared. */
public final class Sys {
    private Sys() {}

    /** Something that may fail with an errno. */
    public interface Call<T> {
        T call() throws ErrnoException;
    }

    /** "ok:RESULT" or "errno:NAME", for comparing outcomes of the same call in two places. */
    public static <T> String outcome(Call<T> c) {
        try {
            T r = c.call();
            return "ok:" + r;
        } catch (ErrnoException e) {
            return "errno:" + dev.cachefs.nativeio.Errno.name(e.errno());
        }
    }

    public static String raw(Path p) {
        return RawPath.fromText(p.toString());
    }

    public static int open(String path, int flags, int mode) throws ErrnoException {
        return Libc.open(path, flags, mode);
    }

    public static void writeAll(String path, byte[] data) throws ErrnoException {
        int fd = Libc.open(path, Libc.O_WRONLY | Libc.O_CREAT | Libc.O_TRUNC, 0644);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(Math.max(1, data.length));
            MemorySegment.copy(data, 0, s, ValueLayout.JAVA_BYTE, 0, data.length);
            long done = 0;
            while (done < data.length) {
                done += Libc.pwrite(fd, s.asSlice(done), data.length - done, done);
            }
        } finally {
            Libc.close(fd);
        }
    }

    public static byte[] readAll(String path) throws ErrnoException {
        int fd = Libc.open(path, Libc.O_RDONLY, 0);
        try (Arena a = Arena.ofConfined()) {
            long size = Libc.fstat(fd).size();
            MemorySegment s = a.allocate(Math.max(1, size));
            long done = 0;
            while (done < size) {
                long n = Libc.pread(fd, s.asSlice(done), size - done, done);
                if (n == 0) {
                    break;
                }
                done += n;
            }
            byte[] out = new byte[(int) done];
            MemorySegment.copy(s, ValueLayout.JAVA_BYTE, 0, out, 0, (int) done);
            return out;
        } finally {
            Libc.close(fd);
        }
    }

    /** The stat fields that two copies of the same tree share (no inode, device or times). */
    public static String shape(Stat s) {
        String type = switch (s.fileType()) {
            case Libc.S_IFDIR -> "dir";
            case Libc.S_IFREG -> "file";
            case Libc.S_IFLNK -> "link";
            case Libc.S_IFIFO -> "fifo";
            case Libc.S_IFCHR -> "chr";
            case Libc.S_IFBLK -> "blk";
            case Libc.S_IFSOCK -> "sock";
            default -> "?";
        };
        String size = s.isDirectory() ? "" : " size=" + s.size() + " blocks=" + s.blocks();
        return type + " mode=" + Integer.toOctalString(s.mode() & 07777) + " nlink=" + s.nlink()
                + " uid=" + s.uid() + " gid=" + s.gid() + size
                + " rdev=" + s.rdevMajor() + ":" + s.rdevMinor();
    }

    /** Every stat field, for comparing the mount with its own lower. */
    public static String full(Stat s) {
        return shape(s) + " ino=" + s.ino() + " size=" + s.size() + " blocks=" + s.blocks()
                + " atime=" + s.atimeSec() + "." + s.atimeNsec()
                + " mtime=" + s.mtimeSec() + "." + s.mtimeNsec() + " ctime=" + s.ctimeSec() + "." + s.ctimeNsec();
    }
}
