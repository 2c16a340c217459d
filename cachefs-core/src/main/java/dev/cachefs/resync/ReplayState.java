package dev.cachefs.resync;

import dev.cachefs.index.CacheIndex;
import dev.cachefs.index.CacheStore;
import dev.cachefs.index.IndexException;
import dev.cachefs.index.ObjectRecord;
import dev.cachefs.nativeio.Stat;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * What replay, retirement and the user's resolve share: the objects an open conflict holds, the
 * directories and paths replay touched, where a conflict sent an object on the lower, and the
 * attributes its last replayed change left it with (the last two kept in the index's meta table,
 * so a crash loses neither).
 */
final class ReplayState {
    /** Meta key prefix: the lower's attributes of an object as its last replayed change left them. */
    static final String LANDED = "replay-landed-";
    /** Meta key prefix: where an object is on the lower now, if replay moved it aside. */
    private static final String MOVED = "replay-path-";

    private final CacheStore store;
    private final CacheIndex index;
    /** Objects whose open conflict holds their later entries (they stay local until resolved). */
    final Set<Long> held = ConcurrentHashMap.newKeySet();
    /** Directories the entries replayed since the last retirement touched. */
    private final Set<String> touched = ConcurrentHashMap.newKeySet();
    /** Paths the entries replayed since the last {@link #takeReplayedPaths} named. */
    private final Set<String> replayedPaths = ConcurrentHashMap.newKeySet();

    ReplayState(CacheStore store) {
        this.store = store;
        this.index = store.index();
    }

    static String parentOf(String path) {
        int slash = path.lastIndexOf('/');
        return slash < 0 ? "" : path.substring(0, slash);
    }

    /** An entry naming {@code path} is being replayed. */
    void replaying(String path) {
        touched.add(parentOf(path));
        replayedPaths.add(path);
    }

    /** {@code path}'s directory changed on the lower (a resolve). */
    void touched(String path) {
        touched.add(parentOf(path));
    }

    /** The paths replay changed on the lower since the last call (some now name another lower object). */
    Set<String> takeReplayedPaths() {
        Set<String> out = new java.util.HashSet<>(replayedPaths);
        replayedPaths.removeAll(out);
        return out;
    }

    /** The listings of the directories touched are no longer trusted. */
    void staleTouched() throws IndexException {
        for (String d : touched) {
            index.paths().listingStale(d);
        }
        touched.clear();
    }

    /** Where an object is on the lower now, if replay moved it aside (a conflict). */
    String redirected(Long objId, String path) throws IndexException {
        if (objId == null) {
            return path;
        }
        String moved = index.meta(MOVED + objId).orElse("");
        return moved.isEmpty() ? path : moved;
    }

    void redirect(long objId, String path) throws IndexException {
        index.putMeta(MOVED + objId, path);
    }

    void forgetRedirect(long objId) throws IndexException {
        index.putMeta(MOVED + objId, "");
    }

    /** What the last replayed change of {@code r} left it as on the lower, if recorded. */
    Stat landedOf(ObjectRecord r) throws IndexException {
        String hex = index.meta(LANDED + r.id()).orElse("");
        return hex.isEmpty() ? null : Stat.decode(HexFormat.of().parseHex(hex));
    }

    /** The copy of an object's content as it was before its first offline change, if kept. */
    Path baseCopy(long objId) {
        Path b = baseCopyPath(objId);
        return Files.isRegularFile(b) ? b : null;
    }

    Path baseCopyPath(long objId) {
        return store.directory().resolve("base").resolve(Long.toString(objId));
    }
}
