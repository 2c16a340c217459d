/**
 * A FUSE library speaking the kernel protocol on {@code /dev/fuse} directly (no libfuse): mounting
 * ({@code Mounter}), the session and its worker threads ({@code FuseSession}, {@code Worker}),
 * the protocol's constants and layouts ({@code Fuse}), the filesystem SPI ({@code FuseFilesystem})
 * with its value types, notifications and passthrough ({@code FuseConnection}). Knows nothing of
 * caching: errno values reach it as {@code ErrnoException}s, anything else is logged once and
 * answered EIO.
 *
 * <p>Uses: {@code nativeio}. Used by: {@code fs}, {@code cli}, the harness.
 */
package dev.cachefs.fuse;
