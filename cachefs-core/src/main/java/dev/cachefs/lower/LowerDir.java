package dev.cachefs.lower;

import dev.cachefs.nativeio.ErrnoException;
import java.util.List;

/** An open directory of the lower filesystem, read in batches, resumable at an entry's offset. */
public interface LowerDir extends AutoCloseable {
    /** The next batch of entries ("." and ".." included, as the lower gives them); empty at the end. */
    List<DirEntry> next() throws ErrnoException;

    /** Continues after the entry whose {@link DirEntry#nextOffset} is {@code offset} (0: from the start). */
    void seek(long offset) throws ErrnoException;

    void fsync(boolean dataOnly) throws ErrnoException;

    /**
     * Whether what this gives is the lower's own listing, to be kept as the directory's listing;
     * false for a view that adds what the lower does not have yet (write-back's new files).
     */
    default boolean keepable() {
        return true;
    }

    @Override
    void close();

    /**
     * @param type the d_type (DT_REG, DT_DIR, ... ; DT_UNKNOWN 0)
     * @param nextOffset the cookie to resume after this entry
     */
    record DirEntry(String name, long ino, int type, long nextOffset) {}
}
