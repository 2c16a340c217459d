package dev.cachefs.cache;

import dev.cachefs.index.CacheIndex;
import dev.cachefs.index.CacheStore;
import dev.cachefs.index.Chunk;
import dev.cachefs.index.IndexException;
import dev.cachefs.index.ObjectRecord;
import dev.cachefs.nativeio.Libc;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The background scrub, in the manner of ZFS's: reads every cached file that was not checked for
 * {@link Options#intervalMs} against its chunks' CRC32C, the longest unchecked first, at most
 * {@link Options#bytesPerSecond}, so that damage nobody has read yet (bit rot, a stray tool) is
 * found and the chunk dropped (and fetched again when read) before it matters. What a file's seal
 * cannot see (a change within one ctime tick that keeps the size) is caught here.
 *
 * <p>Threads: one daemon thread of its own; {@link #pass} may also be called from any thread
 * (tests, a command). A loaded object is checked through {@link Integrity} (its in-memory state is
 * the truth); an object no one holds is read from its data file directly, and a failure is
 * handed back to it, and it drops the chunk under the objects lock.
 */
public final class Scrubber implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Scrubber.class);

    /**
     * @param intervalMs how long a file's check stays good
     * @param bytesPerSecond how fast the scrub may read (0: no background scrub)
     */
    public record Options(long intervalMs, long bytesPerSecond) {
        public Options {
            if (intervalMs < 0 || bytesPerSecond < 0) {
                throw new IllegalArgumentException("scrub_interval and scrub_rate cannot be negative");
            }
        }

        /** A week, 8 MiB/s. */
        public static Options defaults() {
            return new Options(7L * 24 * 3600 * 1000, 8L << 20);
        }
    }

    private final Integrity integrity;
    private final CacheStore store;
    private final CacheIndex index;
    private final CacheStats stats;
    private final Options options;
    private final Thread thread;
    private volatile boolean closing;
    private final java.time.InstantSource clock;

    Scrubber(Integrity integrity, CacheStore store, CacheStats stats, Options options, java.time.InstantSource clock) {
        this.clock = clock;
        this.integrity = integrity;
        this.store = store;
        this.index = store.index();
        this.stats = stats;
        this.options = options;
        this.thread = options.bytesPerSecond() > 0
                ? Thread.ofPlatform().daemon().name("cachefs-scrub").start(this::loop) : null;
    }

    private void loop() {
        try {
            Thread.sleep(30_000); // let the mount settle first
            while (!closing) {
                int n = pass(clock.millis() - options.intervalMs(), options.bytesPerSecond());
                if (n > 0) {
                    log.debug("scrub checked {} cached files", n);
                }
                Thread.sleep(60_000);
            }
        } catch (InterruptedException e) {
            // closing
        } catch (RuntimeException e) {
            log.warn("the cache scrub stopped: {}", e.toString());
        }
    }

    /**
     * Checks every cached file last checked before {@code beforeMs}, reading at most
     * {@code bytesPerSecond} (0: as fast as it can); the number of files checked.
     */
    public int pass(long beforeMs, long bytesPerSecond) throws InterruptedException {
        MemorySegment buf = Arena.ofAuto().allocate(store.chunkSize(), 4096);
        Set<Long> seen = new HashSet<>();
        Throttle throttle = new Throttle(bytesPerSecond);
        int files = 0;
        while (!closing) {
            List<ObjectRecord> due;
            try {
                due = index.data().scrubDue(beforeMs, 64);
            } catch (IndexException e) {
                log.warn("the scrub cannot read the index: {}", e.getMessage());
                return files;
            }
            due.removeIf(r -> !seen.add(r.id()));
            if (due.isEmpty()) {
                return files;
            }
            for (ObjectRecord r : due) {
                if (closing) {
                    return files;
                }
                if (check(r, buf, throttle)) {
                    files++;
                    stats.scrubObjects.increment();
                }
            }
        }
        return files;
    }

    /** Checks one file's chunks; whether it was checked (not skipped). */
    private boolean check(ObjectRecord r, MemorySegment buf, Throttle throttle) throws InterruptedException {
        CachedObject o = integrity.loaded(r.fileId());
        if (o != null) {
            List<Chunk> chunks = integrity.scrubbable(o);
            if (chunks == null) {
                return false; // the kernel writes its cache file now: checked another time
            }
            for (Chunk c : chunks) {
                integrity.scrubLoaded(o, c);
                throttle.took(c.length());
            }
        } else {
            List<Chunk> chunks;
            int fd;
            try {
                chunks = index.data().chunks(r.id());
                fd = store.openDataFileIfExists(r);
            } catch (IndexException e) {
                log.debug("scrub of {} skipped: {}", r.path(), e.getMessage());
                return false;
            }
            try {
                for (Chunk c : chunks) {
                    if (closing) {
                        return false;
                    }
                    if (fd < 0 || !store.chunkIntact(fd, c, buf)) {
                        integrity.scrubFailedUnloaded(r, c);
                    }
                    throttle.took(c.length());
                }
            } finally {
                if (fd >= 0) {
                    Libc.close(fd);
                }
            }
        }
        try {
            index.data().setVerified(r.id(), clock.millis());
        } catch (IndexException e) {
            log.debug("scrub of {} not recorded: {}", r.path(), e.getMessage());
        }
        return true;
    }

    /** Keeps a pass at its rate: sleeps when it is ahead of it. */
    private final class Throttle {
        private final long bytesPerSecond;
        private final long start = System.nanoTime();
        private long bytes;

        Throttle(long bytesPerSecond) {
            this.bytesPerSecond = bytesPerSecond;
        }

        void took(long n) throws InterruptedException {
            bytes += n;
            stats.scrubBytes.add(n);
            if (bytesPerSecond <= 0) {
                return;
            }
            long dueNs = bytes * 1_000_000_000L / bytesPerSecond;
            long aheadNs = dueNs - (System.nanoTime() - start);
            if (aheadNs > 1_000_000) {
                Thread.sleep(aheadNs / 1_000_000);
            }
        }
    }

    @Override
    public void close() {
        closing = true;
        if (thread != null) {
            thread.interrupt();
            try {
                thread.join(10_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
