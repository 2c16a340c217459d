package dev.cachefs.nativeio;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

/**
 * What identifies a file and its filesystem to the kernel: file handles (name_to_handle_at(2)),
 * the filesystem's UUID (FS_IOC_GETFSUUID) or fsid, and its type magic (statfs(2)).
 */
public final class FileHandles {
    /** statfs f_type of every FUSE filesystem. */
    public static final long FUSE_SUPER_MAGIC = 0x65735546L;
    public static final int MAX_HANDLE_SZ = 128;
    private static final long FS_IOC_GETFSUUID = 0x80111500L;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CAPTURE_LAYOUT = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CAPTURE_LAYOUT.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final MethodHandle NAME_TO_HANDLE_AT = LINKER.downcallHandle(
            LINKER.defaultLookup().find("name_to_handle_at").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_INT),
            Linker.Option.captureCallState("errno"));
    private static final MethodHandle OPEN_BY_HANDLE_AT = LINKER.downcallHandle(
            LINKER.defaultLookup().find("open_by_handle_at").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT),
            Linker.Option.captureCallState("errno"));
    private static final MethodHandle FSTATFS = LINKER.downcallHandle(
            LINKER.defaultLookup().find("fstatfs64").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS),
            Linker.Option.captureCallState("errno"));

    private FileHandles() {}

    /** A file handle: the filesystem's opaque type and bytes, and the mount it came from. */
    public record Handle(int type, byte[] bytes, int mountId) {}

    /** The statfs facts that say what filesystem this is. */
    public record FsInfo(long type, byte[] fsid) {}

    /** name_to_handle_at(2) of {@code path} relative to {@code dirfd}, not following a final symlink. */
    public static Handle nameToHandle(int dirfd, String path) throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment cap = a.allocate(CAPTURE_LAYOUT);
            MemorySegment h = a.allocate(8 + MAX_HANDLE_SZ, 8);
            h.set(JAVA_INT, 0, MAX_HANDLE_SZ);
            MemorySegment mountId = a.allocate(JAVA_INT);
            int flags = path.isEmpty() ? Libc.AT_EMPTY_PATH : 0;
            int r = (int) NAME_TO_HANDLE_AT.invokeExact(cap, dirfd, Libc.cstr(a, path), h, mountId, flags);
            if (r != 0) {
                throw new ErrnoException((int) ERRNO.get(cap, 0L), "name_to_handle_at");
            }
            int len = h.get(JAVA_INT, 0);
            byte[] bytes = new byte[len];
            MemorySegment.copy(h, JAVA_BYTE, 8, bytes, 0, len);
            return new Handle(h.get(JAVA_INT, 4), bytes, mountId.get(JAVA_INT, 0));
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** open_by_handle_at(2); needs CAP_DAC_READ_SEARCH. */
    public static int openByHandle(int mountFd, int type, byte[] bytes, int flags) throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment cap = a.allocate(CAPTURE_LAYOUT);
            MemorySegment h = a.allocate(8L + bytes.length, 8);
            h.set(JAVA_INT, 0, bytes.length);
            h.set(JAVA_INT, 4, type);
            MemorySegment.copy(bytes, 0, h, JAVA_BYTE, 8, bytes.length);
            int r = (int) OPEN_BY_HANDLE_AT.invokeExact(cap, mountFd, h, flags);
            if (r < 0) {
                throw new ErrnoException((int) ERRNO.get(cap, 0L), "open_by_handle_at");
            }
            return r;
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /**
     * The filesystem of {@code fd}: its statfs type and a stable id, the UUID where the filesystem
     * reports one (ext4, xfs, btrfs; FS_IOC_GETFSUUID), else statfs's f_fsid.
     */
    public static FsInfo fsInfo(int fd) throws ErrnoException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment cap = a.allocate(CAPTURE_LAYOUT);
            MemorySegment st = a.allocate(120, 8);
            int r = (int) FSTATFS.invokeExact(cap, fd, st);
            if (r != 0) {
                throw new ErrnoException((int) ERRNO.get(cap, 0L), "fstatfs");
            }
            long type = st.get(JAVA_LONG, 0);
            byte[] fsid = new byte[8];
            MemorySegment.copy(st, JAVA_BYTE, 56, fsid, 0, 8);
            MemorySegment uuid = a.allocate(17);
            try {
                Libc.ioctl(fd, FS_IOC_GETFSUUID, uuid);
                int len = Byte.toUnsignedInt(uuid.get(JAVA_BYTE, 0));
                if (len > 0 && len <= 16) {
                    byte[] u = new byte[len];
                    MemorySegment.copy(uuid, JAVA_BYTE, 1, u, 0, len);
                    fsid = u;
                }
            } catch (ErrnoException notSupported) {
                // keep f_fsid
            }
            return new FsInfo(type, fsid);
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }
}
