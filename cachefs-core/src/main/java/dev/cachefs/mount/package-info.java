/**
 * One mount, put together: the one assembly ({@code CacheStack}), used by the daemon
 * ({@code cli}) and by the test harness, so that what the tests mount is what users mount; and
 * the link that ties the layers together over the connectivity switches ({@code Uplink}: the
 * real lower under deadlines, the offline layer, replay on reconnection, and the cache layer it
 * makes over them and tells of each switch).
 *
 * <p>Uses: {@code index}, {@code offline}, {@code resync}, {@code cache}, {@code fs},
 * {@code fuse}, {@code lower}. Used by: {@code cli}, the harness.
 *
 * <p>Lock order: {@code Connectivity}'s lock (a mode switch; the switch's hooks into the cache
 * layer run under it), then {@code OfflineFs}'s changes lock (taken by {@code Uplink} around
 * replay's last step and a user's resolve), then the locks of {@code dev.cachefs.cache}.
 */
package dev.cachefs.mount;
