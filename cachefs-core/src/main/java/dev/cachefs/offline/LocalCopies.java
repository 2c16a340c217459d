package dev.cachefs.offline;

import dev.cachefs.index.CacheStore;
import dev.cachefs.index.IndexException;
import dev.cachefs.nativeio.Stat;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The local copies of files changed offline ({@code local/} in the cache directory), each the
 * file's whole content until replay sends it up, and the bases kept beside them ({@code base/}:
 * the cached data as it was before the first offline change, for replay's three-way
 * comparison); and how many descriptors of local copies are open (replay must not retire a copy
 * someone still writes).
 */
final class LocalCopies {
    private static final Logger log = LoggerFactory.getLogger(LocalCopies.class);
    private final Path localDir;
    private final Path baseDir;
    private final AtomicInteger opens = new AtomicInteger();
    /** Open descriptors by object (write-back uploads only objects nobody has open). */
    private final java.util.concurrent.ConcurrentHashMap<Long, Integer> byObject = new java.util.concurrent.ConcurrentHashMap<>();

    LocalCopies(CacheStore store) {
        this.localDir = store.directory().resolve("local");
        this.baseDir = store.directory().resolve("base");
        try { // made once here, not on every access
            store.area("local");
            store.area("base");
        } catch (IndexException e) {
            log.error("offline changes will fail: {}", e.getMessage());
        }
    }

    /** The local copy named {@code name}. */
    Path file(String name) {
        return localDir.resolve(name);
    }

    /** The base kept beside local copy {@code name}. */
    Path baseFile(String name) {
        return baseDir.resolve(name);
    }

    /**
     * Makes local copy {@code name} of a file whose attributes are {@code st}: from its cached
     * data file {@code data} when {@code fromData} (which is then kept as the base too), unless
     * {@code discard} (the change replaces all of it: an empty copy); else an empty copy.
     */
    void make(String name, Path data, Stat st, boolean fromData, boolean discard) throws IOException {
        Path local = file(name);
        if (fromData) {
            CacheStore.copyPrivate(data, baseDir.resolve(name));
            if (discard) {
                CacheStore.openPrivate(local).close();
            } else {
                CacheStore.copyPrivate(data, local);
            }
            // The cached data file is sparse up to the size it was fetched to: keep the size exact.
            try (FileChannel ch = FileChannel.open(local, StandardOpenOption.WRITE)) {
                if (!discard && ch.size() > st.size()) {
                    ch.truncate(st.size());
                } else if (!discard && ch.size() < st.size()) {
                    ch.write(ByteBuffer.allocate(1), st.size() - 1);
                }
                ch.force(true);
            }
        } else {
            CacheStore.openPrivate(local).close();
        }
        Files.setLastModifiedTime(local, FileTime.from(Instant.ofEpochSecond(st.mtimeSec(), st.mtimeNsec())));
    }

    int opens() {
        return opens.get();
    }

    /** Whether a descriptor of object {@code objId}'s local copy is open. */
    boolean open(long objId) {
        return byObject.containsKey(objId);
    }

    void opened(long objId) {
        opens.incrementAndGet();
        byObject.merge(objId, 1, Integer::sum);
    }

    void closed(long objId) {
        byObject.computeIfPresent(objId, (k, n) -> n <= 1 ? null : n - 1);
        opens.decrementAndGet();
    }
}
