/**
 * Resynchronisation after an outage: {@code Replayer} applies the journal of offline changes to
 * the lower, oldest first, dispatching on the record's type; before each change it compares the
 * lower with the entry's base, and a difference is a conflict, settled by the mount's
 * {@code ConflictRules} (built-in policies, the three-way {@code TextMerge}, or a
 * {@code ConflictResolver} plug-in), named beside the file where both versions stay
 * ({@code ConflictNames}), or left open for the user ({@code Resolution}). {@code LowerCopies}
 * is replay's traffic with the lower's files (compare, fetch a version, upload whole);
 * {@code ReplayState} what replay, retirement and resolution share; {@code Retirement} the last
 * step once the journal is empty (offline copies go, objects made offline take the lower's
 * identity, what landed may stay cached).
 *
 * <p>Uses: {@code offline} (the offline layer's copies, the conflicts view, events),
 * {@code cache} (the conflict rules' types, identities), {@code index}, {@code lower}.
 * Used by: {@code mount}.
 *
 * <p>Lock order: a replay and a user's resolve run under {@code OfflineFs}'s changes lock (taken
 * by the caller, {@code mount.Uplink}); they take no lock of their own beyond the index's.
 */
package dev.cachefs.resync;
