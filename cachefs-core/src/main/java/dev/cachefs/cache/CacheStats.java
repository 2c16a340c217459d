package dev.cachefs.cache;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;

/**
 * What the cache did since the mount: counters only, cheap to bump from any thread. Reads served
 * by FUSE passthrough never reach the daemon, so they are counted as opens, not bytes.
 */
public final class CacheStats {
    /** READ requests the daemon answered, and their bytes. */
    public final LongAdder readOps = new LongAdder();
    /** Opens of files the config keeps out of the cache (no-cache, max-file-size). */
    public final LongAdder policyUncachedOpens = new LongAdder();
    /** Lookups and getattrs answered from attributes still fresh (meta_ttl), without a lower call. */
    public final LongAdder metaTtlHits = new LongAdder();
    /** Lookups of names that a directory made through the mount does not have, answered without the lower. */
    public final LongAdder knownAbsent = new LongAdder();
    public final LongAdder metaIndexHits = new LongAdder();
    public final LongAdder statsAhead = new LongAdder();
    public final LongAdder opensAfterListing = new LongAdder();
    public final LongAdder dirsRevalidated = new LongAdder();
    public final LongAdder readBytes = new LongAdder();
    /** Of those: bytes found in the cache, and bytes that had to be fetched first. */
    public final LongAdder hitBytes = new LongAdder();
    public final LongAdder missBytes = new LongAdder();
    /** READ requests entirely served from the cache, and those that needed at least one fetch. */
    public final LongAdder hitOps = new LongAdder();
    public final LongAdder missOps = new LongAdder();
    /** Reads of the lower's data (chunk fetches) and their bytes. */
    public final LongAdder lowerReads = new LongAdder();
    public final LongAdder lowerReadBytes = new LongAdder();
    /** Chunks fetched ahead of the reader (sequential access). */
    public final LongAdder readaheadChunks = new LongAdder();
    /** Bytes served straight from the lower because the cache could not or would not store them (full). */
    public final LongAdder uncachedBytes = new LongAdder();
    /** Every call that reached the lower (a round trip on a network lower). */
    public final LongAdder lowerCalls = new LongAdder();
    /** Fingerprint checks against the lower, and those that found a change (cached data dropped). */
    public final LongAdder revalidations = new LongAdder();
    public final LongAdder invalidations = new LongAdder();
    /** Notifications that told the kernel to drop its cached pages or attributes. */
    public final LongAdder kernelInvalidations = new LongAdder();
    /** Opens handed to the kernel with passthrough onto the cache file, and opens served by the daemon. */
    public final LongAdder passthroughOpens = new LongAdder();
    public final LongAdder daemonOpens = new LongAdder();
    /** Opens of local copies (write-back, offline changes) handed to the kernel with passthrough. */
    public final LongAdder localPassthroughOpens = new LongAdder();
    /** Bytes written through to the lower. */
    public final LongAdder writeBytes = new LongAdder();
    /** Chunks that failed their checksum (dropped, fetched again). */
    public final LongAdder corruptChunks = new LongAdder();
    /** Opens that found a data file changed behind cachefs's back (its chunks checked before use). */
    public final LongAdder sealMismatches = new LongAdder();
    /** Reads refused with EIO: the data was damaged in the cache and the lower could not give it again. */
    public final LongAdder damagedReads = new LongAdder();
    /** Files and bytes the background scrub checked against their checksums. */
    public final LongAdder scrubObjects = new LongAdder();
    public final LongAdder scrubBytes = new LongAdder();
    /** Data removed by culling to keep within the limits, and the files it came from. */
    public final LongAdder culledBytes = new LongAdder();
    public final LongAdder culledFiles = new LongAdder();
    /** Metadata answered from the cache without asking the lower. */
    public final LongAdder metaHits = new LongAdder();
    public final LongAdder metaMisses = new LongAdder();

    /** A counter: its stable name (as {@code cachefs stats} shows it), what it counts, its value. */
    public record Counter(String name, String help, LongAdder value) {}

    /** Every counter, in a stable order, with what it counts (the metrics endpoint's HELP lines). */
    public List<Counter> counters() {
        return List.of(
                new Counter("read_ops", "READ requests the daemon answered", readOps),
                new Counter("read_bytes", "bytes those READ requests returned", readBytes),
                new Counter("hit_ops", "READ requests served entirely from the cache", hitOps),
                new Counter("miss_ops", "READ requests that needed a fetch from the lower", missOps),
                new Counter("hit_bytes", "bytes read that were found in the cache", hitBytes),
                new Counter("miss_bytes", "bytes read that had to be fetched first", missBytes),
                new Counter("policy_uncached_opens", "opens of files the config keeps out of the cache", policyUncachedOpens),
                new Counter("meta_ttl_hits", "lookups and getattrs answered within meta_ttl, without a lower call", metaTtlHits),
                new Counter("known_absent", "lookups of names a directory made through the mount lacks, answered within meta_ttl without the lower",
                        knownAbsent),
                new Counter("stats_ahead", "attributes fetched ahead, a directory's batch of names in one go (READDIRPLUS)", statsAhead),
                new Counter("opens_after_listing", "opens whose close-to-open check was the directory's revalidation a moment before", opensAfterListing),
                new Counter("dirs_revalidated", "directories revalidated as a whole (one listing, its names' attributes in one go): files of them opened in a row", dirsRevalidated),
                new Counter("meta_index_hits", "of those, answered from the index (attributes the lower gave an earlier mount within meta_ttl)", metaIndexHits),
                new Counter("bytes_from_lower", "bytes of file data fetched from the lower", lowerReadBytes),
                new Counter("lower_reads", "chunk fetches from the lower", lowerReads),
                new Counter("readahead_chunks", "chunks fetched ahead of a sequential reader", readaheadChunks),
                new Counter("uncached_bytes", "bytes served from the lower without caching them (cache full)", uncachedBytes),
                new Counter("lower_calls", "calls that reached the lower (round trips on a network lower)", lowerCalls),
                new Counter("revalidations", "fingerprint checks of cached files against the lower", revalidations),
                new Counter("invalidations", "revalidations that found a change and dropped cached data", invalidations),
                new Counter("kernel_invalidations", "notifications telling the kernel to drop pages or attributes", kernelInvalidations),
                new Counter("passthrough_opens", "opens handed to the kernel with FUSE passthrough", passthroughOpens),
                new Counter("daemon_opens", "opens served by the daemon", daemonOpens),
                new Counter("local_passthrough_opens", "opens of local copies (write-back, offline changes) handed to the kernel with passthrough",
                        localPassthroughOpens),
                new Counter("write_bytes", "bytes written through to the lower", writeBytes),
                new Counter("corrupt_chunks", "cached chunks that failed their checksum (dropped, fetched again)", corruptChunks),
                new Counter("seal_mismatches", "opens that found a cache file changed behind cachefs's back (checked before use)",
                        sealMismatches),
                new Counter("damaged_reads", "reads refused with EIO: damaged in the cache, not to be had from the lower", damagedReads),
                new Counter("scrub_objects", "cached files the background scrub checked", scrubObjects),
                new Counter("scrub_bytes", "bytes the background scrub checked", scrubBytes),
                new Counter("culled_bytes", "cached data removed to keep within the limits", culledBytes),
                new Counter("culled_files", "files whose cached data was culled", culledFiles),
                new Counter("meta_hits", "metadata answered from the cache without asking the lower", metaHits),
                new Counter("meta_misses", "metadata that had to be asked of the lower", metaMisses));
    }

    /** Every counter by its stable name (the names of {@code cachefs stats}). */
    public Map<String, Long> snapshot() {
        Map<String, Long> m = new LinkedHashMap<>();
        for (Counter c : counters()) {
            m.put(c.name(), c.value().sum());
        }
        return m;
    }
}
