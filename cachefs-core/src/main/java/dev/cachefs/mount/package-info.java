/**
 * The one assembly of a cachefs mount ({@code CacheStack}), used by the daemon ({@code cli}) and
 * by the test harness, so that what the tests mount is what users mount.
 *
 * <p>Uses: {@code index}, {@code offline}, {@code cache}, {@code fs}, {@code fuse}, {@code lower}.
 * Used by: {@code cli}, the harness.
 */
package dev.cachefs.mount;
