package dev.cachefs.index;

import dev.cachefs.nativeio.RawPath;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * What the index records of each object's cached data: its chunks (present, length, CRC), the
 * seal of its data file, and when its chunks were last checked (the scrub's order). A room of the
 * index: its connection and its lock.
 */
public final class DataRecords {
    private final CacheIndex ix;

    DataRecords(CacheIndex ix) {
        this.ix = ix;
    }

    /** The seal of an object's data file as last recorded, or null (never sealed, or unknown). */
    public DataSeal seal(long objId) throws IndexException {
        synchronized (ix) {
            try {
                PreparedStatement p = ix.prepared("SELECT seal FROM objects WHERE id = ?");
                p.setLong(1, objId);
                try (ResultSet r = p.executeQuery()) {
                    return r.next() ? DataSeal.decode(r.getBytes(1)) : null;
                }
            } catch (SQLException e) {
                throw ix.fail(e);
            }
        }
    }

    /** Records the seal of an object's data file (null: none, its chunks are checked at next use). */
    public void setSeal(long objId, DataSeal seal) throws IndexException {
        synchronized (ix) {
            ix.update(objId, "UPDATE objects SET seal = ? WHERE id = ?", p -> {
                p.setBytes(1, seal == null ? null : seal.encode());
                p.setLong(2, objId);
            });
        }
    }

    /** Forgets every seal (after a crash): each object's chunks are checked at its next open. */
    public void clearSeals() throws IndexException {
        synchronized (ix) {
            try (Statement st = ix.db.createStatement()) {
                st.executeUpdate("UPDATE objects SET seal = NULL WHERE seal IS NOT NULL");
            } catch (SQLException e) {
                throw ix.fail(e);
            }
        }
    }

    /** Records that every chunk of the object was checked against its CRC at {@code ms}. */
    public void setVerified(long objId, long ms) throws IndexException {
        synchronized (ix) {
            ix.update(objId, "UPDATE objects SET verified_ms = ? WHERE id = ?", p -> {
                p.setLong(1, ms);
                p.setLong(2, objId);
            });
        }
    }

    /**
     * Up to {@code limit} objects holding cached data whose chunks were last checked before
     * {@code beforeMs}, the longest unchecked first (the scrub's order).
     */
    public List<ObjectRecord> scrubDue(long beforeMs, int limit) throws IndexException {
        synchronized (ix) {
            try {
                PreparedStatement p = ix.prepared("SELECT " + CacheIndex.COLUMNS
                    + " FROM objects o WHERE o.verified_ms < ? AND EXISTS (SELECT 1 FROM chunks c WHERE c.obj_id = o.id)"
                    + " ORDER BY o.verified_ms, o.id LIMIT ?");
                p.setLong(1, beforeMs);
                p.setInt(2, limit);
                return ix.rows(p);
            } catch (SQLException e) {
                throw ix.fail(e);
            }
        }
    }

    /** Marks chunks present, in one transaction. Call only after their data is durable in the store. */
    public void addChunks(long objId, List<Chunk> chunks) throws IndexException {
        synchronized (ix) {
            ix.transaction(() -> {
                {
                    PreparedStatement p = ix.prepared(
                        "INSERT OR REPLACE INTO chunks(obj_id, idx, length, crc) VALUES (?, ?, ?, ?)");
                    for (Chunk c : chunks) {
                        p.setLong(1, objId);
                        p.setLong(2, c.index());
                        p.setInt(3, c.length());
                        p.setInt(4, c.crc());
                        p.addBatch();
                    }
                    p.executeBatch();
                }
            });
        }
    }

    public List<Chunk> chunks(long objId) throws IndexException {
        synchronized (ix) {
            List<Chunk> out = new ArrayList<>();
            try {
                PreparedStatement p = ix.prepared("SELECT idx, length, crc FROM chunks WHERE obj_id = ? ORDER BY idx");
                p.setLong(1, objId);
                try (ResultSet r = p.executeQuery()) {
                    while (r.next()) {
                        out.add(new Chunk(r.getLong(1), r.getInt(2), r.getInt(3)));
                    }
                }
            } catch (SQLException e) {
                throw ix.fail(e);
            }
            return out;
        }
    }

    public Optional<Chunk> chunk(long objId, long idx) throws IndexException {
        synchronized (ix) {
            try {
                PreparedStatement p = ix.prepared("SELECT idx, length, crc FROM chunks WHERE obj_id = ? AND idx = ?");
                p.setLong(1, objId);
                p.setLong(2, idx);
                try (ResultSet r = p.executeQuery()) {
                    return r.next() ? Optional.of(new Chunk(r.getLong(1), r.getInt(2), r.getInt(3))) : Optional.empty();
                }
            } catch (SQLException e) {
                throw ix.fail(e);
            }
        }
    }

    public void dropChunk(long objId, long idx) throws IndexException {
        synchronized (ix) {
            ix.update(objId, "DELETE FROM chunks WHERE obj_id = ? AND idx = ?", p -> {
                p.setLong(1, objId);
                p.setLong(2, idx);
            });
        }
    }

    /** Drops chunks {@code from} and above (a truncation). */
    public void dropChunksFrom(long objId, long from) throws IndexException {
        synchronized (ix) {
            ix.update(objId, "DELETE FROM chunks WHERE obj_id = ? AND idx >= ?", p -> {
                p.setLong(1, objId);
                p.setLong(2, from);
            });
        }
    }

    public void dropChunks(long objId) throws IndexException {
        synchronized (ix) {
            ix.update(objId, "DELETE FROM chunks WHERE obj_id = ?", p -> p.setLong(1, objId));
        }
    }

    /** The present ranges of an object's data, from its chunks. */
    public RangeSet presentRanges(long objId, int chunkSize) throws IndexException {
        synchronized (ix) {
            RangeSet s = new RangeSet();
            for (Chunk c : chunks(objId)) {
                s.add(c.index() * chunkSize, c.index() * chunkSize + c.length());
            }
            return s;
        }
    }
}
