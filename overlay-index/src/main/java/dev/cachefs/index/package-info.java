/**
 * The cache directory on disk: lower identities ({@code FileId}, {@code LowerIdentity},
 * {@code IdentityMode}) and versions ({@code Fingerprint}), the SQLite index of objects
 * ({@code CacheIndex}, schema steps in {@code Migrations}) and its rooms, each a set of tables on
 * the index's one connection and lock: each object's cached data ({@code DataRecords}: chunks,
 * seals, checks), listings and xattrs ({@code Listings}), questions over many objects
 * ({@code Census}: usage, states, culling order, pins), the journal of offline changes
 * ({@code OfflineJournal}: typed {@code JournalRecord}s stored by {@code JournalCodec}) and the
 * conflicts ({@code ConflictLog}); the data files ({@code CacheStore}), their seals
 * ({@code DataSeal}), what the directory holds ({@code DirectoryUsage}) and its check
 * ({@code Fsck}).
 *
 * <p>Uses: {@code nativeio}. Used by: the cache, offline and resync layers, the CLI.
 *
 * <p>Lock: every call takes the {@code CacheIndex} monitor (the rooms take the same one), and
 * takes no other lock under it.
 */
package dev.cachefs.index;
