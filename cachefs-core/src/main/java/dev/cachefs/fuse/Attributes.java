package dev.cachefs.fuse;

import dev.cachefs.nativeio.Stat;

/** Attributes with how long the kernel may cache them. */
public record Attributes(Stat attr, long timeoutNs) {}
