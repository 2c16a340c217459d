package dev.cachefs.index;

import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Libc;
import dev.cachefs.nativeio.RawPath;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

/**
 * Checks a cache directory: every chunk the index says is present is in its data file and matches
 * its checksum, and every data file belongs to an object. With repair, drops what cannot be trusted
 * (bad chunk records, orphan files, a corrupt index moved aside), but never the data of objects
 * that were changed locally and not yet synchronised: those are reported and left alone.
 */
public final class Fsck {
    /** What was found. {@code precious} counts problems in dirty or conflicted data. */
    public record Report(int objects, long chunks, List<String> problems, int precious, boolean repaired) {
        public boolean clean() {
            return problems.isEmpty();
        }
    }

    private Fsck() {}

    public static Report run(Path cacheDir, boolean repair, PrintStream out) throws IndexException {
        if (!Files.isDirectory(cacheDir)) {
            throw new IndexException(cacheDir + " is not a cache directory (no such directory)");
        }
        if (Files.exists(cacheDir.resolve("index.db"))) {
            try {
                CacheIndex.open(cacheDir.resolve("index.db")).close();
            } catch (IndexException e) {
                if (!repair) {
                    out.println("fsck: index unusable: " + e.getMessage());
                    return new Report(0, 0, List.of("index unusable"), 0, false);
                }
                String stamp = Long.toString(System.currentTimeMillis());
                moveAside(cacheDir, "index.db", stamp);
                moveAside(cacheDir, "index.db-wal", stamp);
                moveAside(cacheDir, "index.db-shm", stamp);
                moveAside(cacheDir, "data", stamp);
                out.println("fsck: index unusable (" + e.getMessage() + "): moved aside as index.db.corrupt-" + stamp
                        + " with its data as data.corrupt-" + stamp + "; a fresh index will be made."
                        + " Locally changed files that were not yet synchronised may be among that data: nothing was deleted.");
                return new Report(0, 0, List.of("index unusable (moved aside)"), 0, true);
            }
        }
        try (CacheStore store = CacheStore.open(cacheDir, CacheStore.DEFAULT_CHUNK_SIZE)) {
            return check(store, repair, out);
        }
    }

    private static void moveAside(Path dir, String name, String stamp) throws IndexException {
        Path p = dir.resolve(name);
        if (Files.exists(p)) {
            try {
                Files.move(p, dir.resolve(name + ".corrupt-" + stamp));
            } catch (IOException e) {
                throw new IndexException("cannot move " + p + " aside: " + e.getMessage());
            }
        }
    }

    private static Report check(CacheStore store, boolean repair, PrintStream out) throws IndexException {
        CacheIndex index = store.index();
        List<ObjectRecord> objects = new ArrayList<>();
        index.forEachObject(objects::add);
        List<String> problems = new ArrayList<>();
        Set<String> names = new HashSet<>();
        long chunks = 0;
        int precious = 0;
        int chunkSize = store.chunkSize();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(chunkSize);
            for (ObjectRecord o : objects) {
                names.add(o.dataName());
                List<Chunk> present = index.data().chunks(o.id());
                if (present.isEmpty()) {
                    continue;
                }
                String file = store.dataDirRaw() + "/" + CacheStore.relativeDataPath(o.dataName());
                int fd = -1;
                try {
                    fd = Libc.open(file, Libc.O_RDONLY | Libc.O_NOFOLLOW, 0);
                } catch (ErrnoException e) {
                    // every chunk of it is a problem below
                }
                for (Chunk c : present) {
                    chunks++;
                    String bad = fd < 0 ? "data file missing" : checkChunk(fd, c, chunkSize, buf);
                    if (bad != null) {
                        String who = (o.path() == null ? o.fileId().toString() : RawPath.display(o.path()));
                        if (o.state().isPrecious()) {
                            precious++;
                            problems.add(who + " chunk " + c.index() + ": " + bad);
                            out.println("fsck: LOCAL CHANGES DAMAGED: " + who + " chunk " + c.index() + ": " + bad
                                    + " (state " + o.state() + "; kept as it is, not repaired: copy out what you can)");
                        } else {
                            problems.add(who + " chunk " + c.index() + ": " + bad);
                            out.println("fsck: " + who + " chunk " + c.index() + ": " + bad
                                    + (repair ? " -> dropped, will be fetched again" : ""));
                            if (repair) {
                                index.data().dropChunk(o.id(), c.index());
                                if (o.state() == ObjectState.CACHED) {
                                    index.setState(o.id(), ObjectState.PARTIAL);
                                }
                            }
                        }
                    }
                }
                if (fd >= 0) {
                    Libc.close(fd);
                }
            }
        }
        orphans(store, names, repair, problems, out);
        int nonPrecious = problems.size() - precious;
        out.println("fsck: " + objects.size() + " objects, " + chunks + " chunks checked; "
                + (problems.isEmpty() ? "clean" : problems.size() + " problem(s)"
                + (repair ? ", " + nonPrecious + " repaired" : ", run with --repair to fix")
                + (precious > 0 ? ", " + precious + " in local changes left untouched" : "")));
        return new Report(objects.size(), chunks, problems, precious, repair && nonPrecious > 0);
    }

    /** What is wrong with chunk {@code c} of the data file open as {@code fd}, or null. */
    private static String checkChunk(int fd, Chunk c, int chunkSize, MemorySegment buf) {
        try {
            MemorySegment into = buf.asSlice(0, c.length());
            long n = 0;
            while (n < c.length()) {
                long r = Libc.pread(fd, into.asSlice(n), c.length() - n, c.index() * chunkSize + n);
                if (r == 0) {
                    break;
                }
                n += r;
            }
            if (n < c.length()) {
                return "data file too short";
            }
            return CacheStore.crc(into) != c.crc() ? "checksum mismatch" : null;
        } catch (ErrnoException e) {
            return "unreadable (" + e.getMessage() + ")";
        }
    }

    /** Files under data/ that no object owns (named in {@code names}): reported, removed with {@code repair}. */
    private static void orphans(CacheStore store, Set<String> names, boolean repair, List<String> problems, PrintStream out)
            throws IndexException {
        Path data = store.directory().resolve("data");
        try (Stream<Path> walk = Files.walk(data)) {
            for (Path p : (Iterable<Path>) walk::iterator) {
                if (p.equals(data) || (Files.isDirectory(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)
                        && data.relativize(p).getNameCount() <= 2)) {
                    continue;
                }
                String name = p.getFileName().toString();
                boolean expected = Files.isRegularFile(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)
                        && names.contains(name)
                        && data.relativize(p).toString().equals(CacheStore.relativeDataPath(name));
                if (!expected) {
                    problems.add("orphan " + data.relativize(p));
                    out.println("fsck: orphan file data/" + data.relativize(p) + " (no object owns it)"
                            + (repair ? " -> removed" : ""));
                    if (repair) {
                        Files.delete(p);
                    }
                }
            }
        } catch (IOException e) {
            throw new IndexException("cannot walk " + data + ": " + e.getMessage());
        }
    }
}
