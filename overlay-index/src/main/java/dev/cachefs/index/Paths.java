package dev.cachefs.index;

import dev.cachefs.nativeio.RawPath;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * What the index knows by path, changed as the tree changes: a name gone, a subtree renamed
 * (offline, or re-keyed where identities are paths), attributes undated by a change through the
 * mount, a listing no longer current. A room of the index: its connection and its lock.
 */
public final class Paths {
    private final CacheIndex ix;

    Paths(CacheIndex ix) {
        this.ix = ix;
    }

    /** {@code path} (and with {@code under}, all below it) names nothing any more: rows keep their data, lose the path. */
    public void forgetPath(String path, boolean under) throws IndexException {
        synchronized (ix) {
            updateAt("path = NULL", path, under);
            ix.hot.invalidateAll();
            ix.hotIds.clear();
        }
    }

    /** Row {@code objId} names nothing any more (its object was replaced on the lower): it keeps its data, loses its path. */
    public void detach(long objId) throws IndexException {
        synchronized (ix) {
            try {
                java.sql.PreparedStatement p = ix.prepared("UPDATE objects SET path = NULL WHERE id = ?");
                p.setLong(1, objId);
                p.executeUpdate();
            } catch (java.sql.SQLException e) {
                throw ix.fail(e);
            }
            ix.hot.invalidateAll();
            ix.hotIds.clear();
        }
    }

    /**
     * The attributes at {@code path} (and with {@code under}, below it) are no longer what the
     * lower gave: they changed through the mount. They stay, undated, so nothing trusts them
     * (a remount within meta_ttl asks the lower) until the lower is asked again.
     */
    public void unsee(String path, boolean under) throws IndexException {
        synchronized (ix) {
            updateAt("seen_ms = 0", path, under);
        }
    }

    /** Runs {@code UPDATE objects SET <set>} on the rows at {@code path} and, with {@code under}, below it ("" is the root). */
    private void updateAt(String set, String path, boolean under) throws IndexException {
        boolean all = path.isEmpty() && under;
        String sql = "UPDATE objects SET " + set + (all ? "" : " WHERE path = ?" + (under ? " OR (path >= ? AND path < ?)" : ""));
        try {
            PreparedStatement p = ix.prepared(sql);
            if (!all) {
                p.setBytes(1, RawPath.bytes(path));
                if (under) {
                    p.setBytes(2, RawPath.bytes(path + "/"));
                    p.setBytes(3, RawPath.bytes(path + "0")); // '0' follows '/'
                }
            }
            p.executeUpdate();
        } catch (SQLException e) {
            throw ix.fail(e);
        }
    }

    /**
     * What was at {@code from} (and under it) is at {@code to} now, keeping its identity (a rename
     * made offline: the lower has not seen it).
     */
    public void movePaths(String from, String to) throws IndexException {
        synchronized (ix) {
            List<ObjectRecord> moved = new ArrayList<>();
            try {
                PreparedStatement p = ix.prepared("SELECT " + CacheIndex.COLUMNS + " FROM objects WHERE path = ? OR (path >= ? AND path < ?)");
                p.setBytes(1, RawPath.bytes(from));
                p.setBytes(2, RawPath.bytes(from + "/"));
                p.setBytes(3, RawPath.bytes(from + "0"));
                moved.addAll(CacheIndex.rows(p));
            } catch (SQLException e) {
                throw ix.fail(e);
            }
            ix.transaction(() -> {
                try (PreparedStatement u = ix.db.prepareStatement("UPDATE objects SET path = ? WHERE id = ?")) {
                    for (ObjectRecord o : moved) {
                        u.setBytes(1, RawPath.bytes(to + o.path().substring(from.length())));
                        u.setLong(2, o.id());
                        u.addBatch();
                    }
                    u.executeBatch();
                }
            });
            ix.hot.invalidateAll();
            ix.hotIds.clear();
        }
    }

    /**
     * Path identity: the objects at {@code from} and under it were renamed to {@code to}; each is
     * given the identity of its new path ({@code idOf}). Rows already under a new identity (what
     * the rename replaced) are deleted and returned, so the caller can remove their data.
     */
    public List<ObjectRecord> rekeyPaths(String from, String to, java.util.function.Function<String, FileId> idOf)
            throws IndexException {
        synchronized (ix) {
            List<ObjectRecord> moved = new ArrayList<>();
            try {
                PreparedStatement p = ix.prepared("SELECT " + CacheIndex.COLUMNS + " FROM objects WHERE path = ? OR (path >= ? AND path < ?)");
                p.setBytes(1, RawPath.bytes(from));
                p.setBytes(2, RawPath.bytes(from + "/"));
                p.setBytes(3, RawPath.bytes(from + "0")); // '0' follows '/'
                try (ResultSet r = p.executeQuery()) {
                    while (r.next()) {
                        moved.add(CacheIndex.row(r));
                    }
                }
            } catch (SQLException e) {
                throw ix.fail(e);
            }
            List<ObjectRecord> displaced = new ArrayList<>();
            ix.transaction(() -> {
                for (ObjectRecord o : moved) {
                    String path = to + o.path().substring(from.length());
                    FileId id = idOf.apply(path);
                    Optional<ObjectRecord> there = ix.find(id);
                    if (there.isPresent() && there.get().id() != o.id()) {
                        displaced.add(there.get());
                        try (PreparedStatement d = ix.db.prepareStatement("DELETE FROM objects WHERE id = ?")) {
                            d.setLong(1, there.get().id());
                            d.executeUpdate();
                        }
                    }
                    try (PreparedStatement u = ix.db.prepareStatement("UPDATE objects SET file_id = ?, path = ? WHERE id = ?")) {
                        u.setBytes(1, id.encoded());
                        u.setBytes(2, RawPath.bytes(path));
                        u.setLong(3, o.id());
                        u.executeUpdate();
                    }
                }
            });
            ix.hot.invalidateAll();
            ix.hotIds.clear();
            return displaced;
        }
    }

    /** The listing of the directory at {@code path} (if cached) is not to be trusted any more. */
    public void listingStale(String path) throws IndexException {
        synchronized (ix) {
            try {
                PreparedStatement p = ix.prepared("UPDATE objects SET dir_complete = 0 WHERE path = ?");
                p.setBytes(1, RawPath.bytes(path));
                p.executeUpdate();
            } catch (SQLException e) {
                throw ix.fail(e);
            }
            ix.hot.invalidateAll();
            ix.hotIds.clear();
        }
    }
}
