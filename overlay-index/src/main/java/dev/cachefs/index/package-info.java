/**
 * The cache directory on disk: lower identities ({@code FileId}, {@code LowerIdentity},
 * {@code IdentityMode}) and versions ({@code Fingerprint}), the SQLite index of objects, chunks,
 * listings and xattrs ({@code CacheIndex}, schema steps in {@code Migrations}) with its journal of
 * offline changes ({@code OfflineJournal}: typed {@code JournalRecord}s stored by
 * {@code JournalCodec}) and its conflicts ({@code ConflictLog}), the data files
 * ({@code CacheStore}), their seals ({@code DataSeal}), what
 * the directory holds ({@code DirectoryUsage}) and its check ({@code Fsck}).
 *
 * <p>Uses: {@code nativeio}. Used by: the cache and offline layers, the CLI.
 */
package dev.cachefs.index;
