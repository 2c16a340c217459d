/**
 * The stacked filesystem the FUSE layer serves: {@code StackedFs} implements every request by
 * resolving node ids to lower paths ({@code NodeTable}) and calling the lower, with the cache
 * layer in between for regular files' data and for metadata within its time to live. Its rooms:
 * open files ({@code OpenFiles}, {@code LocalOpens}), open directories ({@code OpenDirs}),
 * attributes trusted for a while ({@code RecentAttributes}), what the kernel is told to forget
 * ({@code KernelNotices}).
 *
 * <p>Uses: {@code fuse} (the filesystem SPI it implements), {@code cache}, {@code lower}.
 * Used by: {@code cli}, the harness.
 */
package dev.cachefs.fs;
