package dev.cachefs.index;

import dev.cachefs.nativeio.RawPath;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;

/**
 * The conflicts replay found, a table of the index: open until settled by a rule or by the user,
 * then kept with how they were settled. Shares the index's connection and its lock.
 */
public final class ConflictLog {
    private final CacheIndex ix;

    ConflictLog(CacheIndex ix) {
        this.ix = ix;
    }

    /**
     * Records a conflict found by replay; returns its id. {@code resolution} null leaves it open
     * (for the user); otherwise it says how replay settled it, and {@code detail} where each
     * version went.
     */
    public long add(Long objId, String path, String kind, String resolution, String detail)
            throws IndexException {
        synchronized (ix) {
            try (PreparedStatement p = ix.db.prepareStatement(
                    "INSERT INTO conflicts(obj_id, path, kind, detected_ms, state, resolution, detail, resolved_ms)"
                            + " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    Statement.RETURN_GENERATED_KEYS)) {
                if (objId == null) {
                    p.setNull(1, java.sql.Types.INTEGER);
                } else {
                    p.setLong(1, objId);
                }
                long now = ix.clock().millis();
                p.setBytes(2, RawPath.bytes(path));
                p.setString(3, kind);
                p.setLong(4, now);
                p.setString(5, resolution == null ? "open" : "resolved");
                p.setString(6, resolution);
                p.setString(7, detail);
                if (resolution == null) {
                    p.setNull(8, java.sql.Types.INTEGER);
                } else {
                    p.setLong(8, now);
                }
                p.executeUpdate();
                try (ResultSet k = p.getGeneratedKeys()) {
                    return k.next() ? k.getLong(1) : -1;
                }
            } catch (SQLException e) {
                throw ix.fail(e);
            }
        }
    }

    /** An open conflict is settled: how, and where each version went. */
    public void resolve(long id, String resolution, String detail) throws IndexException {
        synchronized (ix) {
            try {
                PreparedStatement p = ix.prepared(
                    "UPDATE conflicts SET state = 'resolved', resolution = ?, detail = ?, resolved_ms = ? WHERE id = ?");
                p.setString(1, resolution);
                p.setString(2, detail);
                p.setLong(3, ix.clock().millis());
                p.setLong(4, id);
                p.executeUpdate();
            } catch (SQLException e) {
                throw ix.fail(e);
            }
        }
    }

    public List<CacheIndex.Conflict> all() throws IndexException {
        synchronized (ix) {
            List<CacheIndex.Conflict> out = new ArrayList<>();
            try (PreparedStatement p = ix.db.prepareStatement(
                    "SELECT id, obj_id, path, kind, detected_ms, state, resolution, detail FROM conflicts ORDER BY id");
                 ResultSet r = p.executeQuery()) {
                while (r.next()) {
                    long obj = r.getLong(2);
                    Long objId = r.wasNull() ? null : obj;
                    byte[] path = r.getBytes(3);
                    out.add(new CacheIndex.Conflict(r.getLong(1), objId, RawPath.fromBytes(path, 0, path.length), r.getString(4),
                            r.getLong(5), r.getString(6), r.getString(7), r.getString(8)));
                }
            } catch (SQLException e) {
                throw ix.fail(e);
            }
            return out;
        }
    }
}
