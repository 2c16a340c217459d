package dev.cachefs.index;

import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Libc;
import dev.cachefs.nativeio.RawPath;
import dev.cachefs.nativeio.Stat;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Stream;

/**
 * What a cache directory holds on disk, part by part, in bytes of allocated blocks (as du counts
 * them): the cached data (what {@code --cache-size} caps), the index, the journal's reserve,
 * offline changes (local copies and their bases, which only replay removes), conflict versions,
 * and the rest (lock, log). Everything but the data is outside the cap: the index and reserve are
 * small and fixed in kind, and offline changes can never be culled.
 */
public record DirectoryUsage(long data, long index, long reserve, long offline, long conflicts, long other) {
    public long total() {
        return data + index + reserve + offline + conflicts + other;
    }

    /** The parts by name, in the order status shows them. */
    public Map<String, Long> parts() {
        Map<String, Long> m = new LinkedHashMap<>();
        m.put("data", data);
        m.put("index", index);
        m.put("journal reserve", reserve);
        m.put("offline changes", offline);
        m.put("conflict versions", conflicts);
        m.put("other", other);
        return m;
    }

    /** Walks {@code dir} (never through a symlink); a part that cannot be read counts 0. */
    public static DirectoryUsage of(Path dir) {
        long data = 0, index = 0, reserve = 0, offline = 0, conflicts = 0, other = onDisk(dir);
        try (Stream<Path> top = Files.list(dir)) {
            for (Path p : (Iterable<Path>) top::iterator) {
                long n = tree(p);
                switch (p.getFileName().toString()) {
                    case "data" -> data += n;
                    case "index.db", "index.db-wal", "index.db-shm", "index.db-journal" -> index += n;
                    case "reserve" -> reserve += n;
                    case "local", "base" -> offline += n;
                    case "conflicts" -> conflicts += n;
                    default -> other += n;
                }
            }
        } catch (IOException | java.io.UncheckedIOException e) {
            // gone or unreadable: what was counted stands
        }
        return new DirectoryUsage(data, index, reserve, offline, conflicts, other);
    }

    private static long tree(Path p) {
        long sum = 0;
        try (Stream<Path> all = Files.walk(p)) {
            for (Path q : (Iterable<Path>) all::iterator) {
                sum += onDisk(q);
            }
        } catch (IOException | java.io.UncheckedIOException e) {
            // a file removed during the walk: counted as far as it got
        }
        return sum;
    }

    private static long onDisk(Path p) {
        try {
            Stat st = Libc.lstat(RawPath.fromText(p.toString()));
            return st.blocks() * 512;
        } catch (ErrnoException e) {
            return 0;
        }
    }
}
