/**
 * Disconnected operation: every lower call under a deadline ({@code Guard}), the mode and its
 * switches ({@code Connectivity}), the lower the mount uses in either mode ({@code ModalLowerFs}:
 * the real one online, {@code OfflineFs} over the cache offline), the journal of offline changes,
 * its replay on reconnection ({@code Replayer}), conflicts (detection, rules, resolution, the
 * three-way {@code TextMerge}, the read-only {@code ConflictView}), events to the hook
 * ({@code EventHook}), and the link that ties them together for one mount ({@code Uplink}).
 *
 * <p>Uses: {@code cache}, {@code index}, {@code lower}. Used by: {@code cli}, the harness.
 *
 * <p>Lock order: {@code Connectivity}'s lock (a mode switch), then {@code OfflineFs}'s changes
 * lock (every offline change, and replay's last step), then the cache layer's locks (see
 * {@code dev.cachefs.cache}).
 */
package dev.cachefs.offline;
