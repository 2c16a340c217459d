package dev.cachefs.harness.conformance;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cachefs.nativeio.Errno;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Libc;
import dev.cachefs.nativeio.Stat;
import dev.cachefs.harness.Lower;
import dev.cachefs.harness.Lower.Capability;
import dev.cachefs.harness.Lowers;
import dev.cachefs.harness.Stack;
import dev.cachefs.harness.Sys;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;
import java.util.function.Function;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;

/**
 * The conformance suite: POSIX behaviour through a cachefs mount equals the lower's own. Each test
 * does the same system calls in a reference directory on the lower and through a cachefs mount
 * over a sibling directory, and compares every outcome (result or errno). Where the lower supports
 * a feature ({@link Capability}) the outcome is also checked against what POSIX says. A subclass
 * names the lower; the condition (online now, offline with disconnected operation) is a matrix
 * the later issues extend.
 */
@Timeout(180)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
public abstract class ConformanceSuite {
    private Lower lowerFs;
    protected Stack fx;

    /** Which lower: one of {@link Lowers#ALL}. */
    protected abstract String kind();

    @BeforeAll
    public void startLower() {
        lowerFs = Lowers.start(kind());
    }

    @AfterAll
    public void stopLower() {
        if (lowerFs != null) {
            lowerFs.close();
        }
    }

    @BeforeEach
    public void setUp() throws Exception {
        fx = Stack.onLower(lowerFs);
    }

    @AfterEach
    public void tearDown() {
        if (fx != null) {
            fx.close();
        }
    }

    protected Lower lower() {
        return lowerFs;
    }

    private boolean can(Capability c) {
        return lowerFs.can(c);
    }

    /** Asserts the POSIX outcome where the lower has the feature (the comparison is made anyway). */
    private void posix(Capability c, String expected, String actual) {
        if (can(c)) {
            assertEquals(expected, actual);
        }
    }

    interface RootCall<T> {
        T call(String root) throws ErrnoException;
    }

    /** Runs {@code c} with the reference root and with the mount's root; asserts equal outcomes. */
    private <T> String same(String what, RootCall<T> c) {
        String a = Sys.outcome(() -> c.call(fx.inRef("")));
        String b = Sys.outcome(() -> c.call(fx.inMnt("")));
        assertEquals(a, b, what + ": reference vs mount");
        return a;
    }

    private static int create(String path, int mode) throws ErrnoException {
        int fd = Libc.open(path, Libc.O_WRONLY | Libc.O_CREAT | Libc.O_EXCL, mode);
        Libc.close(fd);
        return 0;
    }

    private static String stat(String path) throws ErrnoException {
        return Sys.shape(Libc.lstat(path));
    }

    private static long write(String path, int flags, long offset, String text) throws ErrnoException {
        int fd = Libc.open(path, flags, 0644);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocateFrom(text);
            return offset < 0 ? Libc.write(fd, s, text.length()) : Libc.pwrite(fd, s, text.length(), offset);
        } finally {
            Libc.close(fd);
        }
    }

    private static String read(String path) throws ErrnoException {
        return new String(Sys.readAll(path), StandardCharsets.ISO_8859_1);
    }

    @Test
    public void errnoOfCommonMistakes() {
        same("setup", r -> {
            Libc.mkdirat(Libc.AT_FDCWD, r + "/d", 0755);
            create(r + "/d/f", 0644);
            create(r + "/file", 0644);
            Libc.mkdirat(Libc.AT_FDCWD, r + "/empty", 0755);
            Libc.symlinkat("loop2", Libc.AT_FDCWD, r + "/loop1");
            Libc.symlinkat("loop1", Libc.AT_FDCWD, r + "/loop2");
            return 0;
        });
        posix(Capability.POSIX_ERRNO, "errno:ENOENT", same("open missing", r -> Libc.open(r + "/missing", Libc.O_RDONLY, 0)));
        posix(Capability.POSIX_ERRNO, "errno:EEXIST", same("mkdir existing", r -> { Libc.mkdirat(Libc.AT_FDCWD, r + "/d", 0755); return 0; }));
        posix(Capability.POSIX_ERRNO, "errno:EEXIST", same("O_EXCL existing", r -> create(r + "/file", 0644)));
        posix(Capability.POSIX_ERRNO, "errno:ENOTEMPTY", same("rmdir non-empty", r -> { Libc.unlinkat(Libc.AT_FDCWD, r + "/d", Libc.AT_REMOVEDIR); return 0; }));
        posix(Capability.POSIX_ERRNO, "errno:EISDIR", same("open dir for writing", r -> Libc.open(r + "/d", Libc.O_WRONLY, 0)));
        posix(Capability.POSIX_ERRNO, "errno:EISDIR", same("unlink dir", r -> { Libc.unlinkat(Libc.AT_FDCWD, r + "/d", 0); return 0; }));
        posix(Capability.POSIX_ERRNO, "errno:ENOTDIR", same("path through a file", r -> Libc.open(r + "/file/x", Libc.O_RDONLY, 0)));
        posix(Capability.POSIX_ERRNO, "errno:ENOTDIR", same("rmdir a file", r -> { Libc.unlinkat(Libc.AT_FDCWD, r + "/file", Libc.AT_REMOVEDIR); return 0; }));
        posix(Capability.POSIX_ERRNO, "errno:ELOOP", same("symlink loop", r -> Libc.open(r + "/loop1", Libc.O_RDONLY, 0)));
        if (can(Capability.LONG_NAMES)) {
            // 256 bytes: see overlongNamesAreRefusedWithoutBreakingTheLower (cachefs answers itself).
            posix(Capability.POSIX_ERRNO, "ok:0", same("255-byte name", r -> create(r + "/" + "n".repeat(255), 0644)));
        }
        posix(Capability.POSIX_ERRNO, "errno:ENOTEMPTY", same("rename onto non-empty dir", r -> {
            Libc.renameat2(Libc.AT_FDCWD, r + "/empty", Libc.AT_FDCWD, r + "/d", 0); return 0; }));
        posix(Capability.POSIX_ERRNO, "errno:EEXIST", same("RENAME_NOREPLACE", r -> {
            Libc.renameat2(Libc.AT_FDCWD, r + "/file", Libc.AT_FDCWD, r + "/d/f", Libc.RENAME_NOREPLACE); return 0; }));
        posix(Capability.POSIX_ERRNO, "errno:EPERM", same("hard link to a dir", r -> {
            Libc.linkat(Libc.AT_FDCWD, r + "/d", Libc.AT_FDCWD, r + "/dl", 0); return 0; }));
        posix(Capability.POSIX_ERRNO, "errno:EINVAL", same("readlink of a file", r -> Libc.readlinkat(Libc.AT_FDCWD, r + "/file")));
        posix(Capability.POSIX_ERRNO, "errno:EINVAL", same("rename dir into itself", r -> {
            Libc.renameat2(Libc.AT_FDCWD, r + "/d", Libc.AT_FDCWD, r + "/d/sub", 0); return 0; }));
        posix(Capability.POSIX_ERRNO, "errno:ENODATA", same("missing xattr", r -> Libc.lgetxattr(r + "/file", "user.none", MemorySegment.NULL)));
    }

    /** Through the mount only: the raw smbnetfs breaks for good on such a name, cachefs must not pass it on. */
    @Test
    public void overlongNamesAreRefusedWithoutBreakingTheLower() {
        String mnt = fx.inMnt("");
        assertEquals("errno:ENAMETOOLONG", Sys.outcome(() -> create(mnt + "/" + "n".repeat(256), 0644)));
        assertEquals("errno:ENAMETOOLONG", Sys.outcome(() -> Libc.lstat(mnt + "/" + "n".repeat(300))));
        assertEquals("ok:0", Sys.outcome(() -> create(mnt + "/after", 0644)), "the lower still works");
    }

    @Test
    public void openFlagsCreateExclTruncAppend() {
        same("create", r -> create(r + "/f", 0640));
        same("stat after create", r -> stat(r + "/f"));
        same("write", r -> write(r + "/f", Libc.O_WRONLY, 0, "hello world"));
        if (can(Capability.APPEND)) { // smbnetfs fails it with EIO and then fails everything
            same("O_APPEND", r -> write(r + "/f", Libc.O_WRONLY | Libc.O_APPEND, 0, "!!"));
            assertEquals("ok:hello world!!", same("read", r -> read(r + "/f")));
        }
        same("O_TRUNC", r -> write(r + "/f", Libc.O_WRONLY | Libc.O_TRUNC, -1, "new"));
        assertEquals("ok:new", same("read after trunc", r -> read(r + "/f")));
        same("O_CREAT without O_EXCL on existing", r -> write(r + "/f", Libc.O_WRONLY | Libc.O_CREAT, 1, "EE"));
        posix(Capability.WRITE_IN_PLACE, "ok:nEE", same("read", r -> read(r + "/f")));
        same("stat", r -> stat(r + "/f"));
    }

    @Test
    public void renameFlagsAndSubtrees() {
        same("setup", r -> {
            Libc.mkdirat(Libc.AT_FDCWD, r + "/a", 0755);
            Libc.mkdirat(Libc.AT_FDCWD, r + "/a/b", 0700);
            write(r + "/a/b/c", Libc.O_WRONLY | Libc.O_CREAT, 0, "deep");
            write(r + "/x", Libc.O_WRONLY | Libc.O_CREAT, 0, "x-content");
            write(r + "/y", Libc.O_WRONLY | Libc.O_CREAT, 0, "y-content");
            return 0;
        });
        same("rename dir", r -> { Libc.renameat2(Libc.AT_FDCWD, r + "/a", Libc.AT_FDCWD, r + "/z", 0); return 0; });
        assertEquals("ok:deep", same("read inside renamed dir", r -> read(r + "/z/b/c")));
        assertEquals("errno:ENOENT", same("old path gone", r -> read(r + "/a/b/c")));
        same("exchange", r -> { Libc.renameat2(Libc.AT_FDCWD, r + "/x", Libc.AT_FDCWD, r + "/y", Libc.RENAME_EXCHANGE); return 0; });
        posix(Capability.RENAME_FLAGS, "ok:y-content", same("x after exchange", r -> read(r + "/x")));
        posix(Capability.RENAME_FLAGS, "ok:x-content", same("y after exchange", r -> read(r + "/y")));
        same("rename over file", r -> { Libc.renameat2(Libc.AT_FDCWD, r + "/x", Libc.AT_FDCWD, r + "/z/b/c", 0); return 0; });
        posix(Capability.RENAME_FLAGS, "ok:y-content", same("replaced", r -> read(r + "/z/b/c")));
    }

    @Test
    public void statFieldsThroughTheMountEqualTheLowers() throws Exception {
        String l = fx.inMnt(""); // made through the mount, compared with the lower below
        List<String> names = new ArrayList<>(List.of("", "f", "d"));
        write(l + "/f", Libc.O_WRONLY | Libc.O_CREAT, 0, "some data");
        Libc.mkdirat(Libc.AT_FDCWD, l + "/d", 0751);
        if (can(Capability.SYMLINKS)) {
            Libc.symlinkat("f", Libc.AT_FDCWD, l + "/s");
            names.add("s");
        }
        if (can(Capability.SPECIAL_FILES)) {
            Libc.mknodat(Libc.AT_FDCWD, l + "/fifo", Libc.S_IFIFO | 0600, 0);
            names.add("fifo");
            if (Libc.geteuid() == 0) {
                Libc.mknodat(Libc.AT_FDCWD, l + "/chr", Libc.S_IFCHR | 0600, Stat.makedev(1, 3));
                names.add("chr");
            }
        }
        if (can(Capability.HARD_LINKS)) {
            Libc.linkat(Libc.AT_FDCWD, l + "/f", Libc.AT_FDCWD, l + "/hard", 0);
            names.add("hard");
        }
        Libc.utimensat(Libc.AT_FDCWD, l + "/f", 1_000_000_000L, 123_456_789, 1_500_000_000L, 987_654_321, 0);
        for (String name : names) {
            Stat lower = Libc.lstat(fx.inLower(name));
            Stat mount = Libc.lstat(fx.inMnt(name));
            assertEquals(Sys.full(lower), Sys.full(mount), "stat of '" + name + "'");
        }
        if (can(Capability.HARD_LINKS)) {
            if (can(Capability.STABLE_INODES)) {
                assertEquals(Libc.lstat(fx.inMnt("f")).ino(), Libc.lstat(fx.inMnt("hard")).ino(), "hard links share an inode");
                assertEquals(2, Libc.lstat(fx.inMnt("hard")).nlink());
            }
        }
        if (names.contains("chr")) {
            Stat chr = Libc.lstat(fx.inMnt("chr"));
            assertEquals(1, chr.rdevMajor());
            assertEquals(3, chr.rdevMinor());
        }
        if (can(Capability.SYMLINKS)) {
            assertEquals("f", Libc.readlinkat(Libc.AT_FDCWD, fx.inMnt("s")));
        }
        if (can(Capability.NANOSECOND_TIMES)) {
            assertEquals(987_654_321, Libc.lstat(fx.inMnt("f")).mtimeNsec());
        }
    }

    @Test
    public void inodeNumbersStayStableForTheMountsLife() throws Exception {
        Files.writeString(fx.mnt.resolve("f"), "x");
        long first = Libc.lstat(fx.inMnt("f")).ino();
        Files.move(fx.mnt.resolve("f"), fx.mnt.resolve("g"));
        Files.writeString(fx.mnt.resolve("g"), "changed");
        assertEquals(first, Libc.lstat(fx.inMnt("g")).ino());
    }

    @Test
    public void sparseFilesAndOffsetsBeyond4GiB() {
        long big = 5L * 1024 * 1024 * 1024 + 7;
        same("write at 5 GiB", r -> write(r + "/sparse", Libc.O_WRONLY | Libc.O_CREAT, big, "tail"));
        same("stat sparse", r -> stat(r + "/sparse"));
        same("read at 5 GiB", r -> {
            int fd = Libc.open(r + "/sparse", Libc.O_RDONLY, 0);
            try (Arena a = Arena.ofConfined()) {
                MemorySegment s = a.allocate(16);
                long n = Libc.pread(fd, s, 16, big - 2);
                byte[] b = new byte[(int) n];
                MemorySegment.copy(s, ValueLayout.JAVA_BYTE, 0, b, 0, (int) n);
                return n + ":" + java.util.Arrays.toString(b);
            } finally {
                Libc.close(fd);
            }
        });
        posix(Capability.SPARSE_SEEK, "ok:" + (big & ~4095L), same("SEEK_DATA", r -> seek(r + "/sparse", Libc.SEEK_DATA)));
        same("SEEK_HOLE", r -> seek(r + "/sparse", Libc.SEEK_HOLE));
        same("ftruncate down", r -> {
            int fd = Libc.open(r + "/sparse", Libc.O_WRONLY, 0);
            try {
                Libc.ftruncate(fd, 4096);
                return Libc.fstat(fd).size();
            } finally {
                Libc.close(fd);
            }
        });
        same("truncate by path", r -> { Libc.truncate(r + "/sparse", 100); return stat(r + "/sparse"); });
    }

    private static long seek(String path, int whence) throws ErrnoException {
        int fd = Libc.open(path, Libc.O_RDONLY, 0);
        try {
            return Libc.lseek(fd, 0, whence);
        } finally {
            Libc.close(fd);
        }
    }

    @Test
    public void fallocateModes() {
        same("setup", r -> write(r + "/f", Libc.O_WRONLY | Libc.O_CREAT, 0, "x".repeat(20000)));
        same("fallocate extend", r -> {
            int fd = Libc.open(r + "/f", Libc.O_RDWR, 0);
            try {
                Libc.fallocate(fd, 0, 0, 65536);
                return Libc.fstat(fd).size();
            } finally {
                Libc.close(fd);
            }
        });
        same("punch hole", r -> {
            int fd = Libc.open(r + "/f", Libc.O_RDWR, 0);
            try {
                Libc.fallocate(fd, 0x01 | 0x02 /* KEEP_SIZE | PUNCH_HOLE */, 4096, 8192);
                return Libc.fstat(fd).size() + " " + Libc.lseek(fd, 4096, Libc.SEEK_HOLE);
            } finally {
                Libc.close(fd);
            }
        });
        posix(Capability.FALLOCATE, "ok:65536", same("read", r -> read(r + "/f").length()));
    }

    @Test
    public void chmodChownUtimens() {
        same("setup", r -> {
            create(r + "/f", 0600);
            Libc.symlinkat("f", Libc.AT_FDCWD, r + "/s");
            return 0;
        });
        same("chmod", r -> { Libc.fchmodat(Libc.AT_FDCWD, r + "/f", 04751, 0); return stat(r + "/f"); });
        if (Libc.geteuid() == 0) {
            same("chown", r -> { Libc.fchownat(Libc.AT_FDCWD, r + "/f", 1234, 5678, 0); return stat(r + "/f"); });
            same("lchown symlink", r -> {
                Libc.fchownat(Libc.AT_FDCWD, r + "/s", 42, 43, Libc.AT_SYMLINK_NOFOLLOW);
                return stat(r + "/s");
            });
        }
        same("utimens exact ns", r -> {
            Libc.utimensat(Libc.AT_FDCWD, r + "/f", 1_234_567_890L, 111_222_333, 1_334_567_890L, 444_555_666, 0);
            Stat s = Libc.lstat(r + "/f");
            return s.atimeSec() + "." + s.atimeNsec() + " " + s.mtimeSec() + "." + s.mtimeNsec();
        });
        same("utimens omit atime", r -> {
            Libc.utimensat(Libc.AT_FDCWD, r + "/f", 0, Libc.UTIME_OMIT, 1_400_000_000L, 5, 0);
            Stat s = Libc.lstat(r + "/f");
            return s.atimeSec() + "." + s.atimeNsec() + " " + s.mtimeSec() + "." + s.mtimeNsec();
        });
        same("utimens on a symlink itself", r -> {
            Libc.utimensat(Libc.AT_FDCWD, r + "/s", 1_000_000_000L, 1, 1_000_000_000L, 2, Libc.AT_SYMLINK_NOFOLLOW);
            Stat s = Libc.lstat(r + "/s");
            // A lower that cannot set a symlink's own times (sshfs) leaves the time it was made,
            // which differs between the reference and the mount when a second passed between
            // their setups: what is compared is whether the times were set, and to what.
            String link = s.mtimeSec() == 1_000_000_000L ? s.mtimeSec() + "." + s.mtimeNsec() : "its own time kept";
            return link + " target " + Libc.lstat(r + "/f").mtimeSec();
        });
        long before = System.currentTimeMillis() / 1000 - 2;
        same("UTIME_NOW", r -> {
            Libc.utimensat(Libc.AT_FDCWD, r + "/f", 0, Libc.UTIME_NOW, 0, Libc.UTIME_NOW, 0);
            return Libc.lstat(r + "/f").mtimeSec() >= before;
        });
    }

    @Test
    public void xattrsCreateReplaceListRemove() {
        same("setup", r -> create(r + "/f", 0644));
        Function<String, RootCall<Integer>> set = (flagName) -> r -> {
            int flags = flagName.equals("create") ? Libc.XATTR_CREATE : flagName.equals("replace") ? Libc.XATTR_REPLACE : 0;
            try (Arena a = Arena.ofConfined()) {
                Libc.lsetxattr(r + "/f", "user.k", a.allocateFrom("value-" + flagName), flags);
            }
            return 0;
        };
        posix(Capability.XATTRS, "errno:ENODATA", same("replace missing", set.apply("replace")));
        posix(Capability.XATTRS, "ok:0", same("create", set.apply("create")));
        posix(Capability.XATTRS, "errno:EEXIST", same("create existing", set.apply("create")));
        posix(Capability.XATTRS, "ok:0", same("replace", set.apply("replace")));
        posix(Capability.XATTRS, "ok:14", same("size query", r -> Libc.lgetxattr(r + "/f", "user.k", MemorySegment.NULL)));
        posix(Capability.XATTRS, "errno:ERANGE", same("too small buffer", r -> {
            try (Arena a = Arena.ofConfined()) {
                return Libc.lgetxattr(r + "/f", "user.k", a.allocate(3));
            }
        }));
        same("get", r -> {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment b = a.allocate(64);
                long n = Libc.lgetxattr(r + "/f", "user.k", b);
                return b.asSlice(0, n).getString(0);
            }
        });
        same("list", r -> {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment b = a.allocate(256);
                long n = Libc.llistxattr(r + "/f", b);
                return new String(b.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.ISO_8859_1);
            }
        });
        posix(Capability.XATTRS, "ok:0", same("remove", r -> { Libc.lremovexattr(r + "/f", "user.k"); return 0; }));
        posix(Capability.XATTRS, "errno:ENODATA", same("remove again", r -> { Libc.lremovexattr(r + "/f", "user.k"); return 0; }));
    }

    @Test
    public void specialFilesAndLinks() {
        same("mkfifo", r -> { Libc.mknodat(Libc.AT_FDCWD, r + "/p", Libc.S_IFIFO | 0640, 0); return stat(r + "/p"); });
        if (Libc.geteuid() == 0) {
            same("mknod char", r -> {
                Libc.mknodat(Libc.AT_FDCWD, r + "/null", Libc.S_IFCHR | 0666, Stat.makedev(1, 3));
                return stat(r + "/null");
            });
            same("write to the device node", r -> write(r + "/null", Libc.O_WRONLY, -1, "discarded"));
        }
        same("symlink", r -> { Libc.symlinkat("../some/where", Libc.AT_FDCWD, r + "/sl"); return stat(r + "/sl"); });
        posix(Capability.SYMLINKS, "ok:../some/where", same("readlink", r -> Libc.readlinkat(Libc.AT_FDCWD, r + "/sl")));
        same("file", r -> write(r + "/f", Libc.O_WRONLY | Libc.O_CREAT, 0, "linked"));
        same("link", r -> { Libc.linkat(Libc.AT_FDCWD, r + "/f", Libc.AT_FDCWD, r + "/g", 0); return stat(r + "/g"); });
        same("unlink first", r -> { Libc.unlinkat(Libc.AT_FDCWD, r + "/f", 0); return stat(r + "/g"); });
        posix(Capability.HARD_LINKS, "ok:linked", same("read through the second name", r -> read(r + "/g")));
    }

    @Test
    public void readdirListsWhatTheDirectoryHolds() throws Exception {
        same("populate", r -> {
            Libc.mkdirat(Libc.AT_FDCWD, r + "/big", 0755);
            for (int i = 0; i < 600; i++) {
                create(r + "/big/entry-" + i + "-" + "x".repeat(i % 50), 0644);
            }
            Libc.mkdirat(Libc.AT_FDCWD, r + "/big/subdir", 0755);
            Libc.symlinkat("x", Libc.AT_FDCWD, r + "/big/link");
            return 0;
        });
        TreeMap<String, String> a = listing(fx.ref.resolve("big"));
        TreeMap<String, String> b = listing(fx.mnt.resolve("big"));
        if (can(Capability.SYMLINKS)) {
            assertEquals(602, a.size());
        }
        assertTrue(a.size() >= 601, "600 files and a directory listed, got " + a.size());
        assertEquals(difference(a, b), difference(b, a), "entries listed differently: reference vs mount");
    }

    private static TreeMap<String, String> difference(TreeMap<String, String> x, TreeMap<String, String> y) {
        TreeMap<String, String> d = new TreeMap<>(x);
        d.entrySet().removeIf(e -> e.getValue().equals(y.get(e.getKey())));
        return d;
    }

    private static TreeMap<String, String> listing(Path dir) throws Exception {
        TreeMap<String, String> out = new TreeMap<>();
        try (var s = Files.newDirectoryStream(dir)) {
            for (Path p : s) {
                out.put(p.getFileName().toString(), Sys.outcome(() -> stat(Sys.raw(p))));
            }
        }
        return out;
    }

    @Test
    public void namesThatAreNotUtf8PassThroughByteForByte() throws Exception {
        Assumptions.assumeTrue(can(Capability.RAW_NAMES), "the " + lower().name() + " lower stores names as Unicode, not bytes");
        String name = "bad-\u00ff\u00fe-name\u0001"; // raw bytes 0xff 0xfe 0x01: not valid UTF-8
        same("create", r -> create(r + "/" + name, 0644));
        Stat lower = Libc.lstat(fx.inLower(name));
        assertTrue(lower.isRegular());
        same("newline in a name", r -> create(r + "/line\nbreak", 0644));
        assertTrue(Libc.lstat(fx.inLower("line\nbreak")).isRegular());
    }

    @Test
    public void permissionsAreCheckedForOtherUsers() throws Exception {
        Assumptions.assumeTrue(Libc.geteuid() == 0, "needs root to act as another uid");
        Assumptions.assumeTrue(can(Capability.UNIX_MODES), "the " + lower().name() + " lower does not keep file modes");
        same("setup", r -> {
            write(r + "/secret", Libc.O_WRONLY | Libc.O_CREAT, 0, "root only");
            Libc.fchmodat(Libc.AT_FDCWD, r + "/secret", 0600, 0);
            Libc.mkdirat(Libc.AT_FDCWD, r + "/shared", 0777);
            Libc.fchmodat(Libc.AT_FDCWD, r + "/shared", 0777, 0); // a server's umask may have narrowed it
            Libc.mkdirat(Libc.AT_FDCWD, r + "/closed", 0755);
            return 0;
        });
        int uid = 4321;
        int gid = 4321;
        List<String> outcomes = new ArrayList<>();
        int oldUid = Libc.setfsuid(uid);
        int oldGid = Libc.setfsgid(gid);
        try {
            outcomes.add(checked("read 0600 file of root", r -> read(r + "/secret")));
            outcomes.add(checked("create in 0755 dir of root", r -> create(r + "/closed/mine", 0644)));
            outcomes.add(checked("create in 0777 dir", r -> create(r + "/shared/mine", 0640)));
            outcomes.add(checked("owner of the new file", r -> stat(r + "/shared/mine")));
            outcomes.add(checked("chmod someone else's file", r -> { Libc.fchmodat(Libc.AT_FDCWD, r + "/secret", 0666, 0); return 0; }));
            outcomes.add(checked("mkdir in 0777 dir", r -> { Libc.mkdirat(Libc.AT_FDCWD, r + "/shared/sub", 0755); return stat(r + "/shared/sub"); }));
        } finally {
            Libc.setfsuid(oldUid);
            Libc.setfsgid(oldGid);
        }
        assertEquals("errno:EACCES", outcomes.get(0), outcomes.toString());
        assertEquals("errno:EACCES", outcomes.get(1), outcomes.toString());
        assertEquals("ok:0", outcomes.get(2), outcomes.toString());
        if (can(Capability.CHOWN)) {
            assertTrue(outcomes.get(3).contains("uid=4321 gid=4321"), outcomes.get(3));
            assertEquals(4321, Libc.lstat(fx.inLower("shared/sub")).uid());
        }
        assertEquals("errno:EPERM", outcomes.get(4));
    }

    /**
     * Compared with the lower where the lower checks each caller's permissions; otherwise (a FUSE
     * client that lets every local user act as its one remote user) only the mount's outcome is
     * returned: cachefs checks permissions itself, stricter than such a lower, and must.
     */
    private <T> String checked(String what, RootCall<T> c) {
        return can(Capability.PERMISSIONS_PER_CALLER) ? same(what, c) : Sys.outcome(() -> c.call(fx.inMnt("")));
    }

    @Test
    public void statfsIsTheLowers() throws Exception {
        var lower = Libc.fstatvfs(Libc.open(fx.inLower(""), Libc.O_RDONLY | Libc.O_DIRECTORY, 0));
        int fd = Libc.open(fx.inMnt(""), Libc.O_RDONLY | Libc.O_DIRECTORY, 0);
        try {
            var mount = Libc.fstatvfs(fd);
            assertEquals(lower.blocks(), mount.blocks());
            assertEquals(lower.bsize(), mount.bsize());
            assertEquals(lower.namemax(), mount.namemax());
        } finally {
            Libc.close(fd);
        }
    }

    @Test
    public void locksConflictAsOnTheLower() {
        same("setup", r -> create(r + "/lockme", 0644));
        posix(Capability.READ_WRITE_OPEN, "ok:EAGAIN", same("flock held by another open file", r -> {
            int a = Libc.open(r + "/lockme", Libc.O_RDWR, 0);
            int b = Libc.open(r + "/lockme", Libc.O_RDWR, 0);
            try {
                Libc.flock(a, 2 /* LOCK_EX */);
                try {
                    Libc.flock(b, 2 | 4 /* LOCK_EX | LOCK_NB */);
                    return "acquired";
                } catch (ErrnoException e) {
                    return Errno.name(e.errno());
                }
            } finally {
                Libc.close(a);
                Libc.close(b);
            }
        }));
        posix(Capability.READ_WRITE_OPEN, "ok:EAGAIN", same("OFD write lock held by another open file", r -> {
            int a = Libc.open(r + "/lockme", Libc.O_RDWR, 0);
            int b = Libc.open(r + "/lockme", Libc.O_RDWR, 0);
            try (Arena ar = Arena.ofConfined()) {
                MemorySegment fl = ar.allocate(32, 8); // struct flock: type, whence, start, len, pid
                fl.set(ValueLayout.JAVA_SHORT, 0, (short) 1 /* F_WRLCK */);
                fl.set(ValueLayout.JAVA_SHORT, 2, (short) 0);
                fl.set(ValueLayout.JAVA_LONG, 8, 0);
                fl.set(ValueLayout.JAVA_LONG, 16, 100);
                Libc.fcntl(a, 37 /* F_OFD_SETLK */, fl);
                try {
                    Libc.fcntl(b, 37, fl);
                    return "acquired";
                } catch (ErrnoException e) {
                    return Errno.name(e.errno());
                }
            } finally {
                Libc.close(a);
                Libc.close(b);
            }
        }));
    }

    @Test
    public void fsyncAndFsyncdir() {
        assertEquals("ok:0", same("fsync, fdatasync, fsync of a dir", r -> {
            int fd = Libc.open(r + "/f", Libc.O_RDWR | Libc.O_CREAT, 0644);
            int dfd = Libc.open(r, Libc.O_RDONLY | Libc.O_DIRECTORY, 0);
            try {
                Libc.fsync(fd, false);
                Libc.fsync(fd, true);
                Libc.fsync(dfd, false);
                return 0;
            } finally {
                Libc.close(fd);
                Libc.close(dfd);
            }
        }));
    }

    @Test
    public void unlinkedOpenFileStaysUsable() {
        posix(Capability.UNLINKED_OPEN_FILES, "ok:still here 9", same("write, unlink, read, fstat", r -> {
            int fd = Libc.open(r + "/tmpfile", Libc.O_RDWR | Libc.O_CREAT, 0600);
            try (Arena a = Arena.ofConfined()) {
                MemorySegment s = a.allocateFrom("still here");
                Libc.pwrite(fd, s, 10, 0);
                Libc.unlinkat(Libc.AT_FDCWD, r + "/tmpfile", 0);
                MemorySegment b = a.allocate(11);
                Libc.pread(fd, b, 10, 0);
                Libc.ftruncate(fd, 9);
                return b.getString(0).substring(0, 10) + " " + Libc.fstat(fd).size();
            } finally {
                Libc.close(fd);
            }
        }));
    }

    @Test
    public void fstatOfAnOpenFileWhoseNameIsGoneAnswersFromTheOpenFile() {
        Assumptions.assumeTrue(can(Capability.UNLINKED_OPEN_FILES), "the lower drops unlinked files at once");
        // "cached": read-only and fully cached, so served from the cache with no lower descriptor;
        // "written": open for writing, with one.
        assertEquals("ok:10 10", same("open, unlink, fstat", r -> {
            write(r + "/cached", Libc.O_WRONLY | Libc.O_CREAT, 0, "0123456789");
            write(r + "/written", Libc.O_WRONLY | Libc.O_CREAT, 0, "0123456789");
            read(r + "/cached");
            int ro = Libc.open(r + "/cached", Libc.O_RDONLY, 0);
            int rw = Libc.open(r + "/written", Libc.O_RDWR, 0);
            try {
                Libc.unlinkat(Libc.AT_FDCWD, r + "/cached", 0);
                Libc.unlinkat(Libc.AT_FDCWD, r + "/written", 0);
                return Libc.fstat(ro).size() + " " + Libc.fstat(rw).size();
            } finally {
                Libc.close(ro);
                Libc.close(rw);
            }
        }));
    }

    /**
     * Calls by path (truncate, the xattr calls) on a path that fits PATH_MAX below the mount but
     * not with the lower's own prefix in front: the daemon reaches it relative to a directory.
     */
    @Test
    public void callsByPathWorkWhereTheLowersPrefixPassesPathMax() {
        Assumptions.assumeTrue(can(Capability.DEEP_PATHS), "the lower refuses paths near PATH_MAX, or breaks on them");
        String xattr = can(Capability.XATTRS) ? " user.k=v" : "";
        assertEquals("ok:5" + xattr, same("truncate and xattrs at a deep path", r -> {
            int dir = Libc.open(r, Libc.O_PATH | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0);
            try {
                // 19 levels of 200 bytes and a 250-byte name: 4,069 bytes below the root.
                for (int i = 0; i < 19; i++) {
                    String name = String.valueOf((char) ('a' + i)).repeat(200);
                    Libc.mkdirat(dir, name, 0755);
                    int next = Libc.openat(dir, name, Libc.O_PATH | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0);
                    Libc.close(dir);
                    dir = next;
                }
                String name = "f".repeat(250);
                int fd = Libc.openat(dir, name, Libc.O_WRONLY | Libc.O_CREAT | Libc.O_CLOEXEC, 0644);
                try (Arena a = Arena.ofConfined()) {
                    Libc.pwrite(fd, a.allocateFrom("0123456789"), 10, 0);
                } finally {
                    Libc.close(fd);
                }
                String viaFd = "/proc/self/fd/" + dir + "/" + name;
                Libc.truncate(viaFd, 5);
                String out = Long.toString(Libc.statx(dir, name, Libc.AT_SYMLINK_NOFOLLOW).size());
                if (!xattr.isEmpty()) {
                    try (Arena a = Arena.ofConfined()) {
                        MemorySegment v = a.allocate(1);
                        v.set(ValueLayout.JAVA_BYTE, 0, (byte) 'v');
                        Libc.lsetxattr(viaFd, "user.k", v, 0);
                        MemorySegment b = a.allocate(16);
                        long n = Libc.lgetxattr(viaFd, "user.k", b);
                        out += " user.k=" + new String(b.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.US_ASCII);
                    }
                }
                return out;
            } finally {
                Libc.close(dir);
            }
        }));
    }

    @Test
    public void dataWrittenThroughTheMountIsOnTheLower() throws Exception {
        byte[] data = new byte[5 * 1024 * 1024 + 3];
        new java.util.Random(7).nextBytes(data);
        Sys.writeAll(fx.inMnt("blob"), data);
        assertArrayEquals(data, Sys.readAll(fx.inLower("blob")));
        assertArrayEquals(data, Sys.readAll(fx.inMnt("blob")));
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (fx.fs.openFiles() > 0 && System.nanoTime() < deadline) {
            Thread.sleep(10); // RELEASE reaches the daemon asynchronously after close(2)
        }
        assertEquals(0, fx.fs.openFiles(), "every open file was released");
        assertTrue(fx.fs.liveNodes() >= 2, "the root and the blob's node are known");
    }
}
