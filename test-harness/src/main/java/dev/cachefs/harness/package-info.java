/**
 * The test harness: real lower filesystems brought up from Debian packages in network namespaces
 * ({@code SftpLower}, {@code NfsLower}, {@code SmbLower}, {@code LocalLower}; {@code Lowers}
 * starts them, {@code NetNs} and {@code DelayProxy} shape and cut their links), cachefs mounts
 * over them ({@code Stack}), the fault-injecting lower ({@code FaultyLowerFs}), the demo, and the
 * clean-up that keeps a failed test from wedging the next ({@code Harness}, {@code Mounts},
 * {@code Proc}, {@code SessionCleanup}).
 */
package dev.cachefs.harness;
