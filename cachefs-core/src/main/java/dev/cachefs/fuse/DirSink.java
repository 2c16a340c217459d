package dev.cachefs.fuse;

/**
 * Where a filesystem puts directory entries while answering READDIR or READDIRPLUS. Each entry
 * carries the offset at which a later call resumes after it.
 */
public interface DirSink {
    /** Whether this is a READDIRPLUS: then use {@link #addPlus}, else {@link #add}. */
    boolean plus();

    /** Whether an entry of this name still fits; check before a lookup for {@link #addPlus}. */
    boolean fits(String name);

    /** Adds a plain entry; false (and nothing added) when the reply is full. */
    boolean add(String name, long ino, int mode, long nextOffset);

    /**
     * Adds an entry with its lookup result; false (nothing added) when full. The entry's node
     * counts as looked up once by the kernel only when this returns true. For "." and ".." give
     * an entry with nodeid 0.
     */
    boolean addPlus(String name, Entry entry, long nextOffset);
}
