package dev.cachefs.cache;

import java.util.LinkedHashMap;
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
    /** Bytes written through to the lower. */
    public final LongAdder writeBytes = new LongAdder();
    /** Chunks that failed their checksum (dropped, fetched again). */
    public final LongAdder corruptChunks = new LongAdder();
    /** Data removed by culling to keep within the limits, and the files it came from. */
    public final LongAdder culledBytes = new LongAdder();
    public final LongAdder culledFiles = new LongAdder();
    /** Metadata answered from the cache without asking the lower. */
    public final LongAdder metaHits = new LongAdder();
    public final LongAdder metaMisses = new LongAdder();

    /** Every counter by its stable name (the names of {@code cachefs stats}). */
    public Map<String, Long> snapshot() {
        Map<String, Long> m = new LinkedHashMap<>();
        m.put("read_ops", readOps.sum());
        m.put("read_bytes", readBytes.sum());
        m.put("hit_ops", hitOps.sum());
        m.put("miss_ops", missOps.sum());
        m.put("hit_bytes", hitBytes.sum());
        m.put("miss_bytes", missBytes.sum());
        m.put("bytes_from_cache", hitBytes.sum());
        m.put("policy_uncached_opens", policyUncachedOpens.sum());
        m.put("meta_ttl_hits", metaTtlHits.sum());
        m.put("bytes_from_lower", lowerReadBytes.sum());
        m.put("lower_reads", lowerReads.sum());
        m.put("readahead_chunks", readaheadChunks.sum());
        m.put("uncached_bytes", uncachedBytes.sum());
        m.put("lower_calls", lowerCalls.sum());
        m.put("revalidations", revalidations.sum());
        m.put("invalidations", invalidations.sum());
        m.put("kernel_invalidations", kernelInvalidations.sum());
        m.put("passthrough_opens", passthroughOpens.sum());
        m.put("daemon_opens", daemonOpens.sum());
        m.put("write_bytes", writeBytes.sum());
        m.put("corrupt_chunks", corruptChunks.sum());
        m.put("culled_bytes", culledBytes.sum());
        m.put("culled_files", culledFiles.sum());
        m.put("meta_hits", metaHits.sum());
        m.put("meta_misses", metaMisses.sum());
        return m;
    }
}
