package dev.cachefs.index;

import dev.cachefs.nativeio.RawPath;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;

/**
 * The journal of changes made offline, a table of the index: appended in the transaction of the
 * change it records (the index's {@link CacheIndex#transaction}), read and marked done by replay.
 * Records go in and out through {@link JournalCodec}. Shares the index's connection and its lock.
 */
public final class OfflineJournal {
    private final CacheIndex ix;

    OfflineJournal(CacheIndex ix) {
        this.ix = ix;
    }

    /** Appends change {@code r} of object {@code objId} (in the caller's transaction, if any); its sequence number. */
    public long append(JournalRecord r, Long objId, byte[] base) throws IndexException {
        synchronized (ix) {
            JournalCodec.Stored s = JournalCodec.encode(r);
            return append(s.op(), objId, s.path(), s.path2(), s.args(), base);
        }
    }

    /** Appends a change in its stored form (see {@link JournalCodec}); its sequence number. */
    long append(String op, Long objId, String path, String path2, byte[] args, byte[] base)
            throws IndexException {
        synchronized (ix) {
            try (PreparedStatement p = ix.db.prepareStatement(
                    "INSERT INTO journal(op, obj_id, path, path2, args, base_fp, time_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    Statement.RETURN_GENERATED_KEYS)) {
                p.setString(1, op);
                if (objId == null) {
                    p.setNull(2, java.sql.Types.INTEGER);
                } else {
                    p.setLong(2, objId);
                }
                p.setBytes(3, path == null ? null : RawPath.bytes(path));
                p.setBytes(4, path2 == null ? null : RawPath.bytes(path2));
                p.setBytes(5, args);
                p.setBytes(6, base);
                p.setLong(7, ix.clock().millis());
                p.executeUpdate();
                try (ResultSet k = p.getGeneratedKeys()) {
                    return k.next() ? k.getLong(1) : -1;
                }
            } catch (SQLException e) {
                throw ix.fail(e);
            }
        }
    }

    /** The changes not yet replayed, oldest first. */
    public List<CacheIndex.JournalEntry> entries() throws IndexException {
        synchronized (ix) {
            List<CacheIndex.JournalEntry> out = new ArrayList<>();
            try {
                PreparedStatement p = ix.prepared(
                    "SELECT seq, op, obj_id, path, path2, args, base_fp, time_ms FROM journal WHERE done = 0 ORDER BY seq");
                try (ResultSet r = p.executeQuery()) {
                    while (r.next()) {
                        long obj = r.getLong(3);
                        Long objId = r.wasNull() ? null : obj;
                        byte[] a = r.getBytes(4);
                        byte[] b = r.getBytes(5);
                        out.add(new CacheIndex.JournalEntry(r.getLong(1), r.getString(2), objId,
                                a == null ? null : RawPath.fromBytes(a, 0, a.length),
                                b == null ? null : RawPath.fromBytes(b, 0, b.length), r.getBytes(6), r.getBytes(7), r.getLong(8)));
                    }
                }
            } catch (SQLException e) {
                throw ix.fail(e);
            }
            return out;
        }
    }

    /** When the oldest change not yet replayed was made (epoch ms), or 0 when none waits. */
    public long oldestMs() throws IndexException {
        synchronized (ix) {
            return ix.queryLong("SELECT coalesce(min(time_ms), 0) FROM journal WHERE done = 0");
        }
    }

    public int size() throws IndexException {
        synchronized (ix) {
            return ix.queryInt("SELECT count(*) FROM journal WHERE done = 0");
        }
    }

    /** A journal entry has reached the lower (or was settled as a conflict): it is not replayed again. */
    public void done(long seq) throws IndexException {
        synchronized (ix) {
            try {
                PreparedStatement p = ix.prepared("UPDATE journal SET done = 1 WHERE seq = ?");
                p.setLong(1, seq);
                p.executeUpdate();
            } catch (SQLException e) {
                throw ix.fail(e);
            }
        }
    }

    /** Every change of object {@code objId} not yet replayed is settled without replay (a file deleted before its upload). */
    public int doneFor(long objId) throws IndexException {
        synchronized (ix) {
            try {
                PreparedStatement p = ix.prepared("UPDATE journal SET done = 1 WHERE obj_id = ? AND done = 0");
                p.setLong(1, objId);
                return p.executeUpdate();
            } catch (SQLException e) {
                throw ix.fail(e);
            }
        }
    }

    /**
     * The base of every change of object {@code objId} not yet replayed becomes {@code base} (its
     * content went up ahead of replay: a later replay compares the lower with that version).
     */
    public void rebase(long objId, byte[] base) throws IndexException {
        synchronized (ix) {
            try {
                PreparedStatement p = ix.prepared("UPDATE journal SET base_fp = ? WHERE obj_id = ? AND done = 0");
                p.setBytes(1, base);
                p.setLong(2, objId);
                p.executeUpdate();
            } catch (SQLException e) {
                throw ix.fail(e);
            }
        }
    }

    /** The objects with changes not yet replayed. */
    public java.util.Set<Long> pendingObjects() throws IndexException {
        synchronized (ix) {
            java.util.Set<Long> out = new java.util.HashSet<>();
            try {
                PreparedStatement p = ix.prepared("SELECT DISTINCT obj_id FROM journal WHERE done = 0 AND obj_id IS NOT NULL");
                try (ResultSet r = p.executeQuery()) {
                    while (r.next()) {
                        out.add(r.getLong(1));
                    }
                }
            } catch (SQLException e) {
                throw ix.fail(e);
            }
            return out;
        }
    }


    /** The base recorded with the object's first change not yet replayed, or null (none, or the lower never had it). */
    public byte[] firstBase(long objId) throws IndexException {
        synchronized (ix) {
            try {
                PreparedStatement p = ix.prepared(
                    "SELECT base_fp FROM journal WHERE obj_id = ? AND done = 0 ORDER BY seq LIMIT 1");
                p.setLong(1, objId);
                try (ResultSet r = p.executeQuery()) {
                    return r.next() ? r.getBytes(1) : null;
                }
            } catch (SQLException e) {
                throw ix.fail(e);
            }
        }
    }
}
