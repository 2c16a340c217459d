/**
 * The lower filesystem as cachefs reaches it: the {@code LowerFs} SPI (with {@code LowerFile} and
 * {@code LowerDir}), its one real implementation over system calls relative to the lower's root
 * ({@code LocalLowerFs}), and {@code ForwardingLowerFs}, the base of decorators that count
 * ({@code CountingLowerFs}), fail or delay calls, named by {@code LowerOp}.
 *
 * <p>Uses: {@code nativeio}. Used by everything above it.
 */
package dev.cachefs.lower;
