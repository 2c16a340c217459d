/**
 * The cache layer: file data kept in the cache directory in chunks, revalidated against the
 * lower at every open, served by FUSE passthrough once whole, limited in space, pinned on request
 * and checked for damage. {@link dev.cachefs.cache.CacheLayer} is its face; each concern has a
 * file of its own (objects in memory, data files, integrity, open modes, fetching, writes, space,
 * pins, scrub), plus the metadata copies ({@code DirCache}, {@code MetaCopy}, {@code XattrCache})
 * and the config's rules ({@code Policy}).
 *
 * <p>Uses: {@code index} (store and SQLite index), {@code lower} (the lower's SPI), {@code fuse}
 * (open flags only). Used by: {@code fs}, {@code resync}, {@code mount}, {@code cli}.
 *
 * <h2>Lock order</h2>
 * Take them in this order, never the other way round:
 * <ol>
 *   <li>{@code CacheSpace}'s monitor (one culling pass at a time);</li>
 *   <li>{@code ObjectTable.objects}'s monitor (which objects are loaded);</li>
 *   <li>an object's {@code storeLock} (whoever writes bytes into its data file);</li>
 *   <li>the object's own monitor (its chunks, version, opens; short sections, no lower I/O);</li>
 *   <li>a {@code CacheLayer.Handle}'s monitor (one open's readahead and copy-back state);</li>
 *   <li>{@code CacheIndex}'s monitor (every index call is synchronized; the
 *       {@code IndexWriter} thread takes it for its batches and nothing else).</li>
 * </ol>
 * No lower call is made under an object's monitor or the objects map's; fetches read the lower
 * holding nothing, and a chunk is checked against its CRC holding nothing (its result applies
 * only if the chunk is still the same). An open takes the storeLock with {@code tryLock} only.
 * {@code mount.Uplink} may call in (retirement adopts copies) holding {@code OfflineFs}'s changes lock, which therefore
 * comes before all of the above.
 */
package dev.cachefs.cache;
