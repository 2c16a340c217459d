package dev.cachefs.fs;

import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongSupplier;

/**
 * The whole list of names of directories made through the mount, kept since their mkdir and
 * changed with every create, link, rename and removal made in them through the mount, so that a
 * lookup of a name they do not have is answered (ENOENT) without the lower while the list is
 * younger than {@code meta_ttl}, as an NFS client keeps negative entries for its attribute
 * timeout. Creating many files in a new directory then costs no round trip per name. What the
 * server makes there meanwhile shows once the list expires (or after {@code cachefs invalidate}).
 *
 * <p>Thread-safe; a race between a change and a lookup errs towards asking the lower (a name is
 * added before its creator's request returns).
 */
final class KnownNames {
    private record Names(Set<String> names, long sinceNs) {}

    /** Bound on the directories kept (the oldest are dropped first, by insertion). */
    private static final int MAX_DIRS = 10_000;
    private final Map<String, Names> dirs = new ConcurrentHashMap<>();
    private final LongSupplier nanoTime;

    KnownNames(LongSupplier nanoTime) {
        this.nanoTime = nanoTime;
    }

    /** Directory {@code path} was just made through the mount: empty. */
    void made(String path) {
        if (dirs.size() >= MAX_DIRS) {
            dirs.clear();
        }
        dirs.put(path, new Names(ConcurrentHashMap.newKeySet(), nanoTime.getAsLong()));
    }

    /** A name was made at {@code path} through the mount. */
    void added(String path) {
        Names n = dirs.get(parentOf(path));
        if (n != null) {
            n.names().add(nameOf(path));
        }
    }

    /** The name at {@code path} was removed through the mount (and what is below it, for a directory). */
    void removed(String path) {
        Names n = dirs.get(parentOf(path));
        if (n != null) {
            n.names().remove(nameOf(path));
        }
        forgetUnder(path);
    }

    /** Nothing is known any more of {@code path} and the directories below it. */
    void forgetUnder(String path) {
        if (dirs.isEmpty()) {
            return;
        }
        String prefix = path.isEmpty() ? "" : path + "/";
        dirs.keySet().removeIf(k -> k.equals(path) || k.startsWith(prefix));
    }

    void forgetAll() {
        dirs.clear();
    }

    /** Whether {@code path} is known to be absent: its directory's list is younger than {@code ttlNs} and lacks it. */
    boolean absent(String path, long ttlNs) {
        if (dirs.isEmpty() || ttlNs <= 0) {
            return false;
        }
        String parent = parentOf(path);
        Names n = dirs.get(parent);
        if (n == null) {
            return false;
        }
        if (nanoTime.getAsLong() - n.sinceNs() >= ttlNs) {
            dirs.remove(parent, n);
            return false;
        }
        return !n.names().contains(nameOf(path));
    }

    private static String parentOf(String path) {
        int slash = path.lastIndexOf('/');
        return slash < 0 ? "" : path.substring(0, slash);
    }

    private static String nameOf(String path) {
        return path.substring(path.lastIndexOf('/') + 1);
    }
}
