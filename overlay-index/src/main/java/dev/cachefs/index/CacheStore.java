package dev.cachefs.index;

import dev.cachefs.nativeio.Errno;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Libc;
import dev.cachefs.nativeio.RawPath;
import dev.cachefs.nativeio.Stat;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.zip.CRC32C;

/**
 * The cache directory: the index ({@code index.db}), the data files ({@code data/xx/yy/NAME},
 * named by the SHA-256 of the object's {@link FileId}), and a lock that keeps a second cachefs off
 * the same directory.
 *
 * <p>Safety: the directory is 0700 and must be owned by us and not be a symlink; data files are
 * 0600 and opened relative to directory descriptors with O_NOFOLLOW, so a symlink planted in the
 * cache directory is never followed. Crash ordering: a chunk's data is written and fdatasync'ed
 * before the index records it; the index records its CRC32C, and a read that does not match is
 * dropped from the index and reported, never served.
 *
 * <p>Threads: safe for concurrent use; data files are used with positional I/O only.
 */
public final class CacheStore implements AutoCloseable {
    public static final int DEFAULT_CHUNK_SIZE = 1024 * 1024;

    private final Path dir;
    private final int dirFd;
    private final int dataFd;
    private final int lockFd;
    private final int chunkSize;
    private final CacheIndex index;
    private final Map<String, Integer> openFiles = new ConcurrentHashMap<>();
    /** Whether the last user of this directory closed it cleanly (see {@link #trustsData}). */
    private final boolean trusted;

    private CacheStore(Path dir, int dirFd, int dataFd, int lockFd, int chunkSize, CacheIndex index, boolean trusted) {
        this.dir = dir;
        this.dirFd = dirFd;
        this.dataFd = dataFd;
        this.lockFd = lockFd;
        this.chunkSize = chunkSize;
        this.index = index;
        this.trusted = trusted;
    }

    /**
     * Opens the cache directory, creating it if absent, and takes its lock.
     *
     * @throws IndexException with a message for a person: in use by another cachefs, not ours,
     *     unwritable, corrupt index, ...
     */
    public static CacheStore open(Path dir, int chunkSize) throws IndexException {
        return open(dir, chunkSize, java.time.InstantSource.system());
    }

    /** {@link #open(Path, int)} with the wall clock of the index's dates (tests drive it). */
    public static CacheStore open(Path dir, int chunkSize, java.time.InstantSource clock) throws IndexException {
        Path abs = dir.toAbsolutePath().normalize();
        String raw = RawPath.fromText(abs.toString());
        int dirFd = -1;
        int dataFd = -1;
        int lockFd = -1;
        try {
            try {
                Stat st = Libc.lstat(raw);
                if (!st.isDirectory()) {
                    throw new IndexException("cache directory " + abs + " is not a directory (or is a symlink)");
                }
                if (st.uid() != Libc.geteuid()) {
                    throw new IndexException("cache directory " + abs + " belongs to uid " + st.uid() + ", not to you");
                }
            } catch (ErrnoException e) {
                if (e.errno() != Errno.ENOENT) {
                    throw new IndexException("cannot use cache directory " + abs + ": " + Errno.name(e.errno()));
                }
                try {
                    Files.createDirectories(abs.getParent());
                    Libc.mkdirat(Libc.AT_FDCWD, raw, 0700);
                } catch (IOException | ErrnoException e2) {
                    throw new IndexException("cannot create cache directory " + abs + ": " + e2.getMessage());
                }
            }
            dirFd = Libc.open(raw, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_NOFOLLOW | Libc.O_CLOEXEC, 0);
            Libc.fchmod(dirFd, 0700);
            lockFd = Libc.openat(dirFd, "lock", Libc.O_RDWR | Libc.O_CREAT | Libc.O_NOFOLLOW | Libc.O_CLOEXEC, 0600);
            try {
                Libc.flock(lockFd, 2 | 4 /* LOCK_EX | LOCK_NB */);
            } catch (ErrnoException e) {
                if (e.errno() == Errno.EAGAIN) {
                    String holder = "";
                    try {
                        holder = " (pid " + Files.readString(abs.resolve("lock")).strip() + ")";
                    } catch (IOException ignored) {
                        // unreadable: say nothing of the holder
                    }
                    throw new IndexException("cache directory " + abs + " is in use by another cachefs" + holder
                            + "; one mount per cache directory");
                }
                throw e;
            }
            Libc.ftruncate(lockFd, 0);
            byte[] pid = (Libc.getpid() + "\n").getBytes(StandardCharsets.US_ASCII);
            try (var a = java.lang.foreign.Arena.ofConfined()) {
                MemorySegment s = a.allocate(pid.length);
                MemorySegment.copy(pid, 0, s, java.lang.foreign.ValueLayout.JAVA_BYTE, 0, pid.length);
                Libc.pwrite(lockFd, s, pid.length, 0);
            }
            dataFd = openSubdir(dirFd, "data");
            // The index and its WAL files are the user's metadata: 0600 from their creation
            // (SQLite gives -wal and -shm the mode of the database file), never through a symlink.
            Libc.close(privateAt(dirFd, "index.db", true));
            for (String f : new String[] {"index.db-wal", "index.db-shm", "reserve", "cachefs.log"}) {
                int fd = privateAt(dirFd, f, false);
                if (fd >= 0) {
                    Libc.close(fd);
                }
            }
            CacheIndex index = CacheIndex.open(abs.resolve("index.db"), clock);
            index.putMeta("chunk_size", index.meta("chunk_size").orElse(Integer.toString(chunkSize)));
            int stored = Integer.parseInt(index.meta("chunk_size").orElseThrow());
            // Present from here to a clean close: a store opened while it is still "0" was not
            // closed cleanly, so its data may have lost writes that were never synced.
            boolean trusted = index.countObjects() == 0 || index.meta("clean").orElse("0").equals("1");
            if (!trusted) {
                // After a crash no seal vouches for anything: an object this run does not load
                // would otherwise be trusted again after its next clean close.
                index.data().clearSeals();
            }
            index.putMeta("clean", "0");
            return new CacheStore(abs, dirFd, dataFd, lockFd, stored, index, trusted);
        } catch (ErrnoException e) {
            closeAll(dirFd, dataFd, lockFd);
            throw new IndexException("cannot use cache directory " + abs + ": " + e.getMessage());
        } catch (IndexException e) {
            closeAll(dirFd, dataFd, lockFd);
            throw e;
        }
    }

    private static void closeAll(int... fds) {
        for (int fd : fds) {
            if (fd >= 0) {
                Libc.close(fd);
            }
        }
    }

    /**
     * Opens {@code name} in {@code dirFd} (made 0600 if {@code create}), never through a symlink,
     * and makes its mode 0600 (caches made by older versions had wider modes); -1 if absent.
     */
    private static int privateAt(int dirFd, String name, boolean create) throws ErrnoException {
        int fd;
        try {
            fd = Libc.openat(dirFd, name, Libc.O_RDWR | Libc.O_NOFOLLOW | Libc.O_CLOEXEC | (create ? Libc.O_CREAT : 0), 0600);
        } catch (ErrnoException e) {
            if (e.errno() == Errno.ENOENT && !create) {
                return -1;
            }
            if (e.errno() == Errno.ELOOP) {
                throw new ErrnoException(Errno.ELOOP, name + " in the cache directory is a symlink; refusing to follow it");
            }
            throw e;
        }
        Libc.fchmod(fd, 0600);
        return fd;
    }

    private static final java.nio.file.attribute.FileAttribute<?> PRIVATE_FILE =
            java.nio.file.attribute.PosixFilePermissions.asFileAttribute(java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));

    /**
     * Opens {@code file} for writing from its start, as a private file of the cache: made 0600
     * (whatever the process umask: the daemon runs with 0 so that lower files get the modes asked
     * for), an existing one made 0600 too, never through a symlink.
     */
    public static java.nio.channels.FileChannel openPrivate(Path file) throws IOException {
        java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(file, java.util.Set.of(
                java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.WRITE,
                java.nio.file.StandardOpenOption.TRUNCATE_EXISTING, java.nio.file.LinkOption.NOFOLLOW_LINKS), PRIVATE_FILE);
        Files.setPosixFilePermissions(file, java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
        return ch;
    }

    /** Copies {@code from} to a private file {@code to} (see {@link #openPrivate}), synced. */
    public static void copyPrivate(Path from, Path to) throws IOException {
        try (java.nio.channels.FileChannel in = java.nio.channels.FileChannel.open(from, java.nio.file.StandardOpenOption.READ);
             java.nio.channels.FileChannel out = openPrivate(to)) {
            long size = in.size();
            for (long done = 0; done < size; ) {
                long n = in.transferTo(done, size - done, out);
                if (n <= 0) {
                    break;
                }
                done += n;
            }
            out.force(true);
        }
    }

    /** Writes {@code data} as the private file {@code to}, synced. */
    public static void writePrivate(Path to, byte[] data) throws IOException {
        try (java.nio.channels.FileChannel out = openPrivate(to)) {
            java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(data);
            while (b.hasRemaining()) {
                out.write(b);
            }
            out.force(true);
        }
    }

    /** Makes the private directory {@code dir} (0700) and any missing parents under the cache. */
    public static Path privateDirectories(Path dir) throws IOException {
        Files.createDirectories(dir, java.nio.file.attribute.PosixFilePermissions.asFileAttribute(
                java.nio.file.attribute.PosixFilePermissions.fromString("rwx------")));
        if (Files.isSymbolicLink(dir)) {
            throw new IOException(dir + " is a symlink; refusing to follow it");
        }
        return dir;
    }

    /** Opens (making if needed) a subdirectory of {@code parentFd}, never through a symlink. */
    private static int openSubdir(int parentFd, String name) throws ErrnoException {
        try {
            Libc.mkdirat(parentFd, name, 0700);
        } catch (ErrnoException e) {
            if (e.errno() != Errno.EEXIST) {
                throw e;
            }
        }
        return Libc.openat(parentFd, name, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_NOFOLLOW | Libc.O_CLOEXEC, 0);
    }

    /** The data file name of an object: hex SHA-256 of its identity (fixed length, spread evenly). */
    public static String dataNameOf(FileId id) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(id.encoded()));
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    /** Relative path of a data file under data/: two levels of fan-out. */
    static String relativeDataPath(String name) {
        return name.substring(0, 2) + "/" + name.substring(2, 4) + "/" + name;
    }

    public Path directory() {
        return dir;
    }

    /** Space kept in reserve for the journal: {@link #releaseReserve} frees it when the disk is full. */
    public static final long RESERVE_BYTES = 8L << 20;

    /**
     * Sets aside {@link #RESERVE_BYTES} in a file {@code reserve} (if the disk has room): when the
     * cache disk fills up while offline, freeing it lets the journal record what the user does
     * next (deleting files to make room is a change too).
     */
    public void keepReserve() {
        Path r = dir.resolve("reserve");
        try (var ch = java.nio.channels.FileChannel.open(r, java.util.Set.of(java.nio.file.StandardOpenOption.CREATE,
                java.nio.file.StandardOpenOption.WRITE, java.nio.file.LinkOption.NOFOLLOW_LINKS), PRIVATE_FILE)) {
            if (ch.size() < RESERVE_BYTES) {
                ch.write(java.nio.ByteBuffer.allocate((int) RESERVE_BYTES), 0);
                ch.force(true);
            }
        } catch (IOException e) {
            try {
                Files.deleteIfExists(r);
            } catch (IOException ignored) {
                // nothing kept
            }
        }
    }

    /** Frees the reserve; whether there was one. */
    public boolean releaseReserve() {
        try {
            return Files.deleteIfExists(dir.resolve("reserve"));
        } catch (IOException e) {
            return false;
        }
    }

    /** Where an object's cached data lives (the file may not exist). */
    public Path dataPath(ObjectRecord obj) {
        return dir.resolve("data").resolve(relativeDataPath(obj.dataName()));
    }

    /**
     * A subdirectory of the cache for disconnected operation, made if needed: {@code local} (data
     * changed offline, the only copy until replayed) and {@code base} (what it was before).
     */
    public Path area(String name) throws IndexException {
        if (!name.equals("local") && !name.equals("base") && !name.equals("conflicts")) {
            throw new IllegalArgumentException(name);
        }
        Path p = dir.resolve(name);
        try {
            privateDirectories(p);
            Files.setPosixFilePermissions(p, java.nio.file.attribute.PosixFilePermissions.fromString("rwx------"));
        } catch (IOException e) {
            throw new IndexException("cannot make " + p + ": " + e.getMessage());
        }
        return p;
    }

    public CacheIndex index() {
        return index;
    }

    public int chunkSize() {
        return chunkSize;
    }

    /**
     * Whether every chunk the index has can be served without checking its CRC first: true when
     * the previous user closed the store cleanly (all data was synced before the index said so).
     * After a crash, chunks written without a sync may hold anything; the caller verifies each
     * chunk once before serving it.
     */
    public boolean trustsData() {
        return trusted;
    }

    /**
     * A new descriptor of an object's data file (created if absent), read-write, owned by the
     * caller. The cache layer keeps one per object generation and closes it itself, so that a
     * descriptor is never closed under a thread still using it.
     */
    public int openDataFile(ObjectRecord obj) throws IndexException {
        String name = obj.dataName();
        try {
            // The two data directories of a file are there but for its first store: one call then.
            return Libc.openat(dataFd, relativeDataPath(name), Libc.O_RDWR | Libc.O_CREAT | Libc.O_NOFOLLOW | Libc.O_CLOEXEC, 0600);
        } catch (ErrnoException e) {
            if (e.errno() != Errno.ENOENT) {
                throw dataOpenFailed(obj, e);
            }
        }
        try {
            int l1 = openSubdir(dataFd, name.substring(0, 2));
            try {
                int l2 = openSubdir(l1, name.substring(2, 4));
                try {
                    return Libc.openat(l2, name, Libc.O_RDWR | Libc.O_CREAT | Libc.O_NOFOLLOW | Libc.O_CLOEXEC, 0600);
                } finally {
                    Libc.close(l2);
                }
            } finally {
                Libc.close(l1);
            }
        } catch (ErrnoException e) {
            throw dataOpenFailed(obj, e);
        }
    }

    private static IndexException dataOpenFailed(ObjectRecord obj, ErrnoException e) {
        return new IndexException("cannot open cache data of " + obj.fileId() + ": " + e.getMessage()
                + (e.errno() == Errno.ENOSPC ? " (the cache disk is full)" : ""));
    }

    /**
     * A new read-only descriptor of an object's existing data file, owned by the caller, or -1 if
     * it has none (for the scrub, which reads files no one has open and must not keep them open).
     */
    public int openDataFileIfExists(ObjectRecord obj) throws IndexException {
        try {
            return Libc.openat(dataFd, relativeDataPath(obj.dataName()), Libc.O_RDONLY | Libc.O_NOFOLLOW | Libc.O_CLOEXEC, 0);
        } catch (ErrnoException e) {
            if (e.errno() == Errno.ENOENT) {
                return -1;
            }
            throw new IndexException("cannot open cache data of " + obj.fileId() + ": " + e.getMessage());
        }
    }

    /**
     * Whether chunk {@code c} as stored in the data file {@code fd} matches its CRC32C, read into
     * {@code buf} (at least one chunk long). An unreadable or short chunk does not.
     */
    public boolean chunkIntact(int fd, Chunk c, MemorySegment buf) {
        MemorySegment into = buf.asSlice(0, c.length());
        long n = 0;
        try {
            while (n < c.length()) {
                long r = Libc.pread(fd, into.asSlice(n), c.length() - n, c.index() * chunkSize + n);
                if (r == 0) {
                    break;
                }
                n += r;
            }
        } catch (ErrnoException e) {
            return false;
        }
        return n == c.length() && crc(into) == c.crc();
    }

    /**
     * Unlinks an object's data file only, for a caller that drops the chunk records itself, in
     * order with its other index changes. Best effort: a file left behind is an orphan fsck removes.
     */
    public void unlinkDataOnly(ObjectRecord obj) {
        unlink(obj); // ENOENT (never written) or another error: nothing more to do here
    }

    /** Closes our descriptor of an object's data file and unlinks it; 0 or the errno. */
    private int unlink(ObjectRecord obj) {
        Integer fd = openFiles.remove(obj.dataName());
        if (fd != null) {
            Libc.close(fd);
        }
        try {
            Libc.unlinkat(dataFd, relativeDataPath(obj.dataName()), 0);
            return 0;
        } catch (ErrnoException e) {
            return e.errno();
        }
    }

    private int dataFile(String name, boolean create) throws ErrnoException {
        Integer fd = openFiles.get(name);
        if (fd != null) {
            return fd;
        }
        synchronized (openFiles) {
            fd = openFiles.get(name);
            if (fd != null) {
                return fd;
            }
            int l1 = create ? openSubdir(dataFd, name.substring(0, 2))
                    : Libc.openat(dataFd, name.substring(0, 2), Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_NOFOLLOW | Libc.O_CLOEXEC, 0);
            try {
                int l2 = create ? openSubdir(l1, name.substring(2, 4))
                        : Libc.openat(l1, name.substring(2, 4), Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_NOFOLLOW | Libc.O_CLOEXEC, 0);
                try {
                    int flags = Libc.O_RDWR | Libc.O_NOFOLLOW | Libc.O_CLOEXEC | (create ? Libc.O_CREAT : 0);
                    int f = Libc.openat(l2, name, flags, 0600);
                    openFiles.put(name, f);
                    return f;
                } finally {
                    Libc.close(l2);
                }
            } finally {
                Libc.close(l1);
            }
        }
    }

    /**
     * Stores chunk {@code idx} of {@code obj}: writes it, makes it durable, then records it (with
     * its CRC32C) in the index. {@code data} is at most one chunk.
     */
    public void writeChunk(ObjectRecord obj, long idx, MemorySegment data) throws IOException {
        if (data.byteSize() > chunkSize) {
            throw new IllegalArgumentException("chunk larger than the chunk size");
        }
        // Overwriting a present chunk: forget it first, so that a crash between the data write
        // and the new record leaves the chunk absent (fetched again), never marked with a stale CRC.
        // (Found by CrashIT: a rewrite killed after pwrite left "checksum mismatch".)
        if (index.data().chunk(obj.id(), idx).isPresent()) {
            index.data().dropChunk(obj.id(), idx);
        }
        try {
            int fd = dataFile(obj.dataName(), true);
            long off = idx * chunkSize;
            long done = 0;
            while (done < data.byteSize()) {
                done += Libc.pwrite(fd, data.asSlice(done), data.byteSize() - done, off + done);
            }
            Libc.fsync(fd, true);
        } catch (ErrnoException e) {
            throw new IndexException("writing cache data failed: " + e.getMessage()
                    + (e.errno() == Errno.ENOSPC ? " (the cache disk is full)" : ""));
        }
        index.data().addChunks(obj.id(), List.of(new Chunk(idx, (int) data.byteSize(), crc(data))));
    }

    /**
     * Reads present chunk {@code idx} into {@code dst}, verified against its CRC32C.
     *
     * @return the chunk's length, or -1 if the index does not have it
     * @throws CorruptChunkException when the data does not match; the chunk is dropped from the index
     */
    public int readChunk(ObjectRecord obj, long idx, MemorySegment dst) throws IOException {
        var chunk = index.data().chunk(obj.id(), idx);
        if (chunk.isEmpty()) {
            return -1;
        }
        Chunk c = chunk.get();
        MemorySegment into = dst.asSlice(0, c.length());
        long n;
        try {
            int fd = dataFile(obj.dataName(), false);
            n = 0;
            while (n < c.length()) {
                long r = Libc.pread(fd, into.asSlice(n), c.length() - n, idx * chunkSize + n);
                if (r == 0) {
                    break;
                }
                n += r;
            }
        } catch (ErrnoException e) {
            index.data().dropChunk(obj.id(), idx);
            throw new CorruptChunkException("cache data of " + obj.fileId() + " chunk " + idx + " unreadable: " + e.getMessage());
        }
        if (n != c.length() || crc(into) != c.crc()) {
            index.data().dropChunk(obj.id(), idx);
            throw new CorruptChunkException("cache data of " + obj.fileId() + " chunk " + idx
                    + " fails its checksum; dropped, it will be fetched again");
        }
        return c.length();
    }

    /**
     * Removes an object's data file (descriptors still open keep reading the old data) and its
     * chunk records, not its row.
     */
    public void removeData(ObjectRecord obj) throws IndexException {
        index.data().dropChunks(obj.id());
        int err = unlink(obj);
        if (err != 0 && err != Errno.ENOENT) {
            throw new IndexException("removing cache data failed: " + Errno.name(err));
        }
    }

    public static int crc(MemorySegment data) {
        CRC32C c = new CRC32C();
        c.update(data.asByteBuffer());
        return (int) c.getValue();
    }

    /** Raw path of the data directory (for fsck). */
    String dataDirRaw() {
        return RawPath.fromText(dir.resolve("data").toString());
    }

    /**
     * Closes the store cleanly: data synced, then the index marked clean, so the next open trusts
     * the chunks without re-checking them. Call only when nothing writes to the store any more.
     */
    @Override
    public void close() {
        openFiles.values().forEach(Libc::close);
        openFiles.clear();
        try {
            Libc.syncfs(dirFd);
            index.putMeta("clean", "1");
        } catch (ErrnoException | IndexException e) {
            // stays "0": the next open verifies chunks before serving them
        }
        index.close();
        closeAll(dataFd, dirFd, lockFd); // closing the lock descriptor releases the lock
    }

    /** A cached chunk failed verification: it was dropped and must be fetched again. */
    public static final class CorruptChunkException extends IndexException {
        public CorruptChunkException(String message) {
            super(message);
        }
    }
}
