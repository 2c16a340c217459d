package dev.cachefs.cache;

import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import dev.cachefs.index.CacheStore;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The writer of the cache layer's index changes, over a real index. */
class IndexWriterTest {
    @TempDir
    Path tmp;

    @Test
    void aFlushAfterTheWriterClosedReturnsInsteadOfWaitingForIt() throws Exception {
        try (CacheStore store = CacheStore.open(tmp.resolve("cache"), 64 * 1024, java.time.Clock.systemUTC())) {
            IndexWriter w = new IndexWriter(store.index(), r -> { });
            w.close();
            // A caller still at work after the close (a retirement at unmount) queues a change and
            // flushes: no thread will ever write it, and the flush must not wait a minute for one.
            w.submit(new IndexWriter.SetPinned(1, true));
            assertTimeoutPreemptively(Duration.ofSeconds(20), w::flush);
        }
    }
}
