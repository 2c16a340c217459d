package dev.cachefs.fuse;

/** The reply to statfs. */
public record StatFs(long blocks, long bfree, long bavail, long files, long ffree,
                     int bsize, int namelen, int frsize) {}
