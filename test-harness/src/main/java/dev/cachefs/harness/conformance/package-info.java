/**
 * The conformance suite: the same system calls in a reference directory on a lower and through a
 * cachefs mount over a sibling directory, outcomes compared; subclasses name the lower.
 */
package dev.cachefs.harness.conformance;
