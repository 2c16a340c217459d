package dev.cachefs.index;

import dev.cachefs.nativeio.RawPath;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Questions over many objects at once: what the cache holds (bytes, files, states), what culling
 * may remove and in which order, what is pinned, what lies under a path. A room of the index: its
 * connection and its lock.
 */
public final class Census {
    private final CacheIndex ix;

    Census(CacheIndex ix) {
        this.ix = ix;
    }

    public CacheIndex.Usage usage() throws IndexException {
        synchronized (ix) {
            try (Statement s = ix.db.createStatement();
                 ResultSet r = s.executeQuery("""
                         SELECT coalesce(sum(c.length), 0), count(DISTINCT c.obj_id),
                           coalesce(sum(CASE WHEN o.pinned = 1 THEN c.length END), 0),
                           count(DISTINCT CASE WHEN o.pinned = 1 THEN c.obj_id END)
                         FROM chunks c JOIN objects o ON o.id = c.obj_id""")) {
                return new CacheIndex.Usage(r.getLong(1), r.getLong(2), r.getLong(3), r.getLong(4));
            } catch (SQLException e) {
                throw ix.fail(e);
            }
        }
    }

    /** How many objects are in each state (metadata-only, partial, cached, dirty, conflict), and pinned. */
    public Map<String, Long> stateCounts() throws IndexException {
        synchronized (ix) {
            Map<String, Long> out = new java.util.LinkedHashMap<>();
            for (ObjectState st : ObjectState.values()) {
                out.put(st.name().toLowerCase(java.util.Locale.ROOT).replace('_', '-'), 0L);
            }
            try (Statement s = ix.db.createStatement();
                 ResultSet r = s.executeQuery("SELECT state, count(*) FROM objects WHERE path IS NOT NULL AND local IS NULL"
                         + " GROUP BY state")) {
                while (r.next()) {
                    out.put(ObjectState.of(r.getInt(1)).name().toLowerCase(java.util.Locale.ROOT).replace('_', '-'), r.getLong(2));
                }
            } catch (SQLException e) {
                throw ix.fail(e);
            }
            // Dirty: what has a local copy (changed offline), whatever the cache layer says of its old data.
            out.put("dirty", out.get("dirty") + ix.queryInt("SELECT count(*) FROM objects WHERE path IS NOT NULL AND local IS NOT NULL"));
            out.put("pinned", (long) ix.queryInt("SELECT count(*) FROM objects WHERE pinned = 1"));
            return out;
        }
    }

    /** The object at {@code path} and, with {@code recursive}, every object under it ("" is the root). */
    public List<ObjectRecord> under(String path, boolean recursive) throws IndexException {
        synchronized (ix) {
            List<ObjectRecord> out = new ArrayList<>();
            String sql = path.isEmpty() ? (recursive ? "SELECT " + CacheIndex.COLUMNS + " FROM objects" : "SELECT " + CacheIndex.COLUMNS + " FROM objects WHERE path = ?")
                    : "SELECT " + CacheIndex.COLUMNS + " FROM objects WHERE path = ?" + (recursive ? " OR (path >= ? AND path < ?)" : "");
            try {
                PreparedStatement p = ix.prepared(sql);
                if (!(path.isEmpty() && recursive)) {
                    p.setBytes(1, RawPath.bytes(path));
                }
                if (recursive && !path.isEmpty()) {
                    p.setBytes(2, RawPath.bytes(path + "/"));
                    p.setBytes(3, RawPath.bytes(path + "0"));
                }
                out.addAll(CacheIndex.rows(p));
            } catch (SQLException e) {
                throw ix.fail(e);
            }
            return out;
        }
    }

    /** Every pinned object. */
    public List<ObjectRecord> pinned() throws IndexException {
        synchronized (ix) {
            List<ObjectRecord> out = new ArrayList<>();
            try (Statement s = ix.db.createStatement(); ResultSet r = s.executeQuery("SELECT " + CacheIndex.COLUMNS + " FROM objects WHERE pinned = 1 ORDER BY path")) {
                while (r.next()) {
                    out.add(CacheIndex.row(r));
                }
            } catch (SQLException e) {
                throw ix.fail(e);
            }
            return out;
        }
    }

    /** Bytes of an object's present chunks. */
    public long dataBytes(long objId) throws IndexException {
        synchronized (ix) {
            try {
                PreparedStatement p = ix.prepared("SELECT coalesce(sum(length), 0) FROM chunks WHERE obj_id = ?");
                p.setLong(1, objId);
                try (ResultSet r = p.executeQuery()) {
                    return r.getLong(1);
                }
            } catch (SQLException e) {
                throw ix.fail(e);
            }
        }
    }

    /**
     * Objects holding data that culling may remove (not pinned, not holding local changes), least
     * recently used first, with their bytes; at most {@code limit}.
     */
    public List<ObjectRecord> cullCandidates(int limit) throws IndexException {
        synchronized (ix) {
            ix.flushTouches();
            List<ObjectRecord> out = new ArrayList<>();
            try {
                PreparedStatement p = ix.prepared("SELECT " + CacheIndex.COLUMNS + " FROM objects WHERE pinned = 0 AND state NOT IN ("
                    + ObjectState.DIRTY.code + ", " + ObjectState.CONFLICT.code + ") AND id IN (SELECT DISTINCT obj_id FROM chunks)"
                    // Segmented LRU: what was opened once goes first (a scan of a tree larger than the
                    // cache must not push out the files in use), then the rest by recency.
                    + " ORDER BY (access_count > 1), last_access_ms, access_count LIMIT ?");
                p.setInt(1, limit);
                out.addAll(CacheIndex.rows(p));
            } catch (SQLException e) {
                throw ix.fail(e);
            }
            return out;
        }
    }
}
