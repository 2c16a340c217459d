package dev.cachefs.index;

/**
 * One change made offline, as the journal keeps it: a sealed family, so that replay handles every
 * kind (the compiler says so) and no operation is a string compared in more than one place. Paths
 * are the lower's, raw ({@code dev.cachefs.nativeio.RawPath}); where replay finds an object moved
 * since, it uses the object's path of the moment instead. Stored by {@link JournalCodec} in the
 * journal's {@code op}, {@code path}, {@code path2} and {@code args} columns, in the format of
 * schema 3 onwards (unchanged).
 */
public sealed interface JournalRecord {
    /** Where the change was made (the source, for a rename or a link). */
    String path();

    /** The second path of a rename or a link; null for the others. */
    default String path2() {
        return null;
    }

    /** A regular file made offline; its data is the local copy {@code local}. */
    record Create(String path, int mode, String local) implements JournalRecord {}

    record Mkdir(String path, int mode) implements JournalRecord {}

    record Symlink(String path, String target) implements JournalRecord {}

    /**
     * The data of a file changed offline: the whole of it is the local copy {@code local};
     * {@code baseData} names the copy of the data it started from ("none" if it was not whole).
     */
    record Write(String path, String local, String baseData) implements JournalRecord {}

    /** A truncation (the write entry before it carries the content). */
    record Truncate(String path, long size) implements JournalRecord {}

    /** @param replacedBy the path whose rename replaced it, or null for a plain unlink */
    record Unlink(String path, String replacedBy) implements JournalRecord {}

    /** @param replacedBy the path whose rename replaced it, or null for a plain rmdir */
    record Rmdir(String path, String replacedBy) implements JournalRecord {}

    record Rename(String path, String path2, int flags) implements JournalRecord {}

    /** A hard link {@code path2} to {@code path}; {@code newObj} is the index's object of the new name. */
    record Link(String path, String path2, long newObj) implements JournalRecord {}

    record Chmod(String path, int mode) implements JournalRecord {}

    record Chown(String path, int uid, int gid) implements JournalRecord {}

    record Utimens(String path, long atimeSec, long atimeNsec, long mtimeSec, long mtimeNsec) implements JournalRecord {}

    /** @param name the attribute's name, raw */
    record SetXattr(String path, String name, byte[] value, int flags) implements JournalRecord {}

    record RemoveXattr(String path, String name) implements JournalRecord {}

    /** An operation this cachefs does not know (written by a newer one): replay leaves it alone. */
    record Unknown(String op, String path, String path2) implements JournalRecord {}
}
