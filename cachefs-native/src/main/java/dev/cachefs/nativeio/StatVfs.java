package dev.cachefs.nativeio;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.MemorySegment;

/** What statvfs(3) reports of a filesystem. */
public record StatVfs(long bsize, long frsize, long blocks, long bfree, long bavail,
                      long files, long ffree, long namemax) {
    static final int SIZE = 112;

    static StatVfs from(MemorySegment b) {
        return new StatVfs(b.get(JAVA_LONG, 0), b.get(JAVA_LONG, 8), b.get(JAVA_LONG, 16),
                b.get(JAVA_LONG, 24), b.get(JAVA_LONG, 32), b.get(JAVA_LONG, 40),
                b.get(JAVA_LONG, 48), b.get(JAVA_LONG, 80));
    }
}
