/**
 * {@code cachefs bench}: cached against uncached throughput over a real network mount, beside the
 * lower alone, a C FUSE passthrough, the local disk and rclone's VFS cache, as a table and charts
 * ({@code Charts}); reports are committed under {@code bench/}.
 */
package dev.cachefs.bench;
