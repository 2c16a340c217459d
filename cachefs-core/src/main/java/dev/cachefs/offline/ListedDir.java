package dev.cachefs.offline;

import dev.cachefs.lower.LowerDir;
import java.util.List;

/** A listing from the index, handed out in one batch. */
final class ListedDir implements LowerDir {
    private final List<DirEntry> entries;
    private int next;

    ListedDir(List<DirEntry> entries) {
        this.entries = entries;
    }

    @Override
    public synchronized List<DirEntry> next() {
        List<DirEntry> out = entries.subList(next, entries.size());
        next = entries.size();
        return out;
    }

    @Override
    public synchronized void seek(long offset) {
        next = (int) Math.max(0, Math.min(offset, entries.size()));
    }

    @Override
    public void fsync(boolean dataOnly) {}

    @Override
    public void close() {}
}
