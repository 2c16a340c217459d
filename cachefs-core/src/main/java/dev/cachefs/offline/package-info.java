/**
 * Disconnected operation: every lower call under a deadline ({@code Guard}), the mode and its
 * switches ({@code Connectivity}), the lower the mount uses in either mode ({@code ModalLowerFs}:
 * the real one online, {@code OfflineFs} over the cache offline: what it knows of each path in {@code CachedTree},
 * local copies of changed files in {@code LocalCopies} opened as {@code LocalFile}s, reads of
 * data it lacks in {@code MissingData}, listings in {@code ListedDir}), the read-only view of conflicts under {@code .cachefs/conflicts/}
 * ({@code ConflictView}), and events to the hook ({@code EventHook}). Replay of the journal and
 * conflict handling live in {@code dev.cachefs.resync}; the link that ties them to the cache
 * layer for one mount is {@code dev.cachefs.mount.Uplink}.
 *
 * <p>Uses: {@code index}, {@code lower}. Used by: {@code resync}, {@code mount}, {@code cli}.
 *
 * <p>Lock order: {@code Connectivity}'s lock (a mode switch), then {@code OfflineFs}'s changes
 * lock (every offline change, and replay's last step), then the index's monitor.
 */
package dev.cachefs.offline;
