package dev.cachefs.offline;

import dev.cachefs.index.CacheIndex;
import dev.cachefs.index.CacheStore;
import dev.cachefs.index.IndexException;
import dev.cachefs.lower.LocalLowerFs;
import dev.cachefs.lower.LowerDir;
import dev.cachefs.lower.LowerFile;
import dev.cachefs.nativeio.Errno;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Libc;
import dev.cachefs.nativeio.RawPath;
import dev.cachefs.nativeio.Stat;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * The open conflicts, as the mount shows them: {@code MOUNT/.cachefs/conflicts/<path>/} is a
 * read-only directory holding each version of the file at {@code <path>} — {@code local} (what
 * the mount shows at {@code <path>} while the conflict is open), {@code remote} (the lower's, as
 * replay found it), {@code base} (what both started from) and {@code merged} (an unclean merge,
 * markers included) — those that exist. {@code .cachefs} is not listed in the root; looking it up
 * works. A lower with its own {@code .cachefs} at the root is shadowed by it.
 *
 * <p>The variants live in the cache directory, under {@code conflicts/<journal seq>/}; the local
 * version is the object's local copy.
 */
public final class ConflictView {
    static final String ROOT = ".cachefs";
    static final String DIR = ROOT + "/conflicts";
    static final List<String> VARIANTS = List.of("local", "remote", "base", "merged");

    private static final int DT_DIR = 4;
    private static final int DT_REG = 8;

    private final CacheStore store;
    private final CacheIndex index;
    private final OfflineFs offline;
    private final LocalLowerFs files;
    /** Open conflicts by path (the latest one where a path has several). */
    private volatile Map<String, CacheIndex.Conflict> open = Map.of();

    public ConflictView(CacheStore store, OfflineFs offline) throws ErrnoException {
        this.store = store;
        this.index = store.index();
        this.offline = offline;
        this.files = new LocalLowerFs(RawPath.fromText(store.directory().toString()));
    }

    /** Reads the open conflicts from the index again (after replay, after a resolve). */
    public void refresh() throws IndexException {
        Map<String, CacheIndex.Conflict> m = new TreeMap<>();
        for (CacheIndex.Conflict c : index.conflictLog().all()) {
            if (c.open()) {
                m.put(c.path(), c);
            }
        }
        open = Map.copyOf(m);
    }

    public Map<String, CacheIndex.Conflict> open() {
        return open;
    }

    /** Where the variants of a conflict found at journal entry {@code seq} are kept. */
    public Path variants(long seq) {
        return store.directory().resolve("conflicts").resolve(Long.toString(seq));
    }

    static boolean inView(String path) {
        return path.equals(ROOT) || path.startsWith(ROOT + "/");
    }

    /**
     * Whether the mount shows the local version at {@code path}: an open conflict whose local
     * copy the cache still has.
     */
    boolean shadows(String path) {
        CacheIndex.Conflict c = open.get(path);
        if (c == null || c.objId() == null) {
            return false;
        }
        try {
            return offline.localCopy(c.objId()) != null;
        } catch (IndexException e) {
            return false;
        }
    }

    /** The backing file of a variant path, relative to the cache directory; null if none. */
    private String backing(String conflictPath, String variant) {
        CacheIndex.Conflict c = open.get(conflictPath);
        if (c == null) {
            return null;
        }
        try {
            if (variant.equals("local")) {
                Path l = c.objId() == null ? null : offline.localCopy(c.objId());
                return l == null ? null : store.directory().relativize(l).toString();
            }
            Path dir = variantsOf(c);
            if (dir == null || !Files.isRegularFile(dir.resolve(variant))) {
                return null;
            }
            return store.directory().relativize(dir.resolve(variant)).toString();
        } catch (IndexException e) {
            return null;
        }
    }

    /** The variants directory of a conflict, from its detail ("variants=SEQ; ..."). */
    public Path variantsOf(CacheIndex.Conflict c) {
        String d = c.detail();
        if (d == null) {
            return null;
        }
        int at = d.indexOf("variants=");
        if (at < 0) {
            return null;
        }
        int end = d.indexOf(';', at);
        return variants(Long.parseLong(d.substring(at + 9, end < 0 ? d.length() : end).strip()));
    }

    /** Directories of the view: ".cachefs", ".cachefs/conflicts", and every directory above and at a conflict. */
    private TreeSet<String> dirs() {
        TreeSet<String> d = new TreeSet<>();
        d.add(ROOT);
        d.add(DIR);
        for (String p : open.keySet()) {
            String full = DIR + "/" + p;
            for (int i = DIR.length() + 1; i <= full.length(); i++) {
                if (i == full.length() || full.charAt(i) == '/') {
                    d.add(full.substring(0, i));
                }
            }
        }
        return d;
    }

    /** For {@code .cachefs/conflicts/<p>/<variant>}: {p, variant}; else null. */
    private String[] variantPath(String path) {
        if (!path.startsWith(DIR + "/")) {
            return null;
        }
        int slash = path.lastIndexOf('/');
        if (slash <= DIR.length()) {
            return null;
        }
        String variant = path.substring(slash + 1);
        String p = path.substring(DIR.length() + 1, slash);
        return VARIANTS.contains(variant) && open.containsKey(p) ? new String[] {p, variant} : null;
    }

    Stat stat(String path) throws ErrnoException {
        String[] v = variantPath(path);
        if (v != null) {
            String b = backing(v[0], v[1]);
            if (b == null) {
                throw new ErrnoException(Errno.ENOENT, path);
            }
            Stat s = files.stat(b);
            return withMode(s, (s.mode() & ~07777) | (s.mode() & 0444));
        }
        if (dirs().contains(path)) {
            // Owned as the cache directory is; times of now, so no listing of the view is ever kept.
            Stat root = files.stat("");
            long now = System.currentTimeMillis() / 1000;
            return new Stat(syntheticIno(path), 0, 0, 0040555, 2, root.uid(), root.gid(), 0, 0, 4096,
                    now, 0, now, 0, now, 0, root.dev());
        }
        throw new ErrnoException(Errno.ENOENT, path);
    }

    private static long syntheticIno(String path) {
        return (1L << 61) | (path.hashCode() & 0xffffffffL);
    }

    private static Stat withMode(Stat s, int mode) {
        return new Stat(s.ino(), s.size(), s.blocks(), mode, s.nlink(), s.uid(), s.gid(), s.rdevMajor(), s.rdevMinor(),
                s.blksize(), s.atimeSec(), s.atimeNsec(), s.mtimeSec(), s.mtimeNsec(), s.ctimeSec(), s.ctimeNsec(), s.dev());
    }

    LowerFile open(String path, int flags) throws ErrnoException {
        if ((flags & Libc.O_ACCMODE) != Libc.O_RDONLY || (flags & (Libc.O_CREAT | Libc.O_TRUNC)) != 0) {
            throw new ErrnoException(Errno.EROFS, "the conflicts view is read-only; resolve with cachefs resolve");
        }
        String[] v = variantPath(path);
        if (v == null) {
            stat(path); // ENOENT, or a directory
            throw new ErrnoException(Errno.EISDIR, path);
        }
        String b = backing(v[0], v[1]);
        if (b == null) {
            throw new ErrnoException(Errno.ENOENT, path);
        }
        return files.open(b, Libc.O_RDONLY, 0);
    }

    LowerDir openDir(String path) throws ErrnoException {
        TreeSet<String> dirs = dirs();
        if (!dirs.contains(path)) {
            stat(path);
            throw new ErrnoException(Errno.ENOTDIR, path);
        }
        List<LowerDir.DirEntry> out = new ArrayList<>();
        out.add(new LowerDir.DirEntry(".", syntheticIno(path), DT_DIR, 1));
        out.add(new LowerDir.DirEntry("..", 0, DT_DIR, 2));
        String prefix = path + "/";
        for (String d : dirs.tailSet(prefix)) {
            if (!d.startsWith(prefix)) {
                break;
            }
            if (d.indexOf('/', prefix.length()) < 0) {
                out.add(new LowerDir.DirEntry(d.substring(prefix.length()), syntheticIno(d), DT_DIR, out.size() + 1));
            }
        }
        if (path.startsWith(DIR + "/")) {
            String p = path.substring(DIR.length() + 1);
            if (open.containsKey(p)) {
                for (String variant : VARIANTS) {
                    if (backing(p, variant) != null) {
                        out.add(new LowerDir.DirEntry(variant, 0, DT_REG, out.size() + 1));
                    }
                }
            }
        }
        return new ListedDir(out);
    }

    public void close() {
        files.close();
    }
}
