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
 * What the index keeps of directories and extended attributes: cached listings (whole or in part)
 * and the xattrs copied up with objects. A room of the index: its connection and its lock.
 */
public final class Listings {
    /** {@code objects.dir_complete}: the whole listing, read when the directory had settled. */
    static final int SETTLED = 1;
    /** The whole listing, read within the second of a change to the directory: for offline use only. */
    static final int UNSETTLED = 2;

    private final CacheIndex ix;

    Listings(CacheIndex ix) {
        this.ix = ix;
    }

    /** Replaces the cached listing of a directory; {@code complete}: it is the whole listing. */
    public void putListing(long dirId, List<CacheIndex.Dirent> entries, boolean complete) throws IndexException {
        putListing(dirId, entries, complete, true);
    }

    /** {@code settled}: false for a listing read within the second of a change (see {@link ObjectRecord#dirSettled}). */
    public void putListing(long dirId, List<CacheIndex.Dirent> entries, boolean complete, boolean settled) throws IndexException {
        synchronized (ix) {
            ix.transaction(() -> {
                try (PreparedStatement del = ix.db.prepareStatement("DELETE FROM dirents WHERE dir_id = ?")) {
                    del.setLong(1, dirId);
                    del.executeUpdate();
                }
                {
                    PreparedStatement p = ix.prepared(
                        "INSERT INTO dirents(dir_id, name, child_id, type, ino) VALUES (?, ?, ?, ?, ?)");
                    for (CacheIndex.Dirent d : entries) {
                        bindDirent(p, dirId, d);
                        p.addBatch();
                    }
                    p.executeBatch();
                }
                {
                    PreparedStatement p = ix.prepared("UPDATE objects SET dir_complete = ? WHERE id = ?");
                    p.setInt(1, !complete ? 0 : settled ? SETTLED : UNSETTLED);
                    p.setLong(2, dirId);
                    p.executeUpdate();
                }
            });
            ix.forgetHot(dirId);
        }
    }

    public List<CacheIndex.Dirent> listing(long dirId) throws IndexException {
        synchronized (ix) {
            List<CacheIndex.Dirent> out = new ArrayList<>();
            try {
                PreparedStatement p = ix.prepared("SELECT name, child_id, type, ino FROM dirents WHERE dir_id = ? ORDER BY name");
                p.setLong(1, dirId);
                try (ResultSet r = p.executeQuery()) {
                    while (r.next()) {
                        byte[] n = r.getBytes(1);
                        long child = r.getLong(2);
                        Long childId = r.wasNull() ? null : child;
                        out.add(new CacheIndex.Dirent(RawPath.fromBytes(n, 0, n.length), childId, r.getInt(3), r.getLong(4)));
                    }
                }
            } catch (SQLException e) {
                throw ix.fail(e);
            }
            return out;
        }
    }

    public void putXattr(long objId, String name, byte[] value) throws IndexException {
        synchronized (ix) {
            ix.update(objId, "INSERT OR REPLACE INTO xattrs(obj_id, name, value) VALUES (?, ?, ?)", p -> {
                p.setLong(1, objId);
                p.setBytes(2, RawPath.bytes(name));
                p.setBytes(3, value);
            });
        }
    }

    public Optional<byte[]> xattr(long objId, String name) throws IndexException {
        synchronized (ix) {
            try {
                PreparedStatement p = ix.prepared("SELECT value FROM xattrs WHERE obj_id = ? AND name = ?");
                p.setLong(1, objId);
                p.setBytes(2, RawPath.bytes(name));
                try (ResultSet r = p.executeQuery()) {
                    return r.next() ? Optional.of(r.getBytes(1)) : Optional.empty();
                }
            } catch (SQLException e) {
                throw ix.fail(e);
            }
        }
    }

    public List<String> xattrNames(long objId) throws IndexException {
        synchronized (ix) {
            List<String> out = new ArrayList<>();
            try {
                PreparedStatement p = ix.prepared("SELECT name FROM xattrs WHERE obj_id = ? ORDER BY name");
                p.setLong(1, objId);
                try (ResultSet r = p.executeQuery()) {
                    while (r.next()) {
                        byte[] n = r.getBytes(1);
                        out.add(RawPath.fromBytes(n, 0, n.length));
                    }
                }
            } catch (SQLException e) {
                throw ix.fail(e);
            }
            return out;
        }
    }

    public void removeXattr(long objId, String name) throws IndexException {
        synchronized (ix) {
            ix.update(objId, "DELETE FROM xattrs WHERE obj_id = ? AND name = ?", p -> {
                p.setLong(1, objId);
                p.setBytes(2, RawPath.bytes(name));
            });
        }
    }

    /** Whether the cached listing of {@code dirId} has {@code name}. */
    public boolean hasDirent(long dirId, String name) throws IndexException {
        synchronized (ix) {
            try {
                PreparedStatement p = ix.prepared("SELECT 1 FROM dirents WHERE dir_id = ? AND name = ?");
                p.setLong(1, dirId);
                p.setBytes(2, RawPath.bytes(name));
                try (ResultSet r = p.executeQuery()) {
                    return r.next();
                }
            } catch (SQLException e) {
                throw ix.fail(e);
            }
        }
    }

    /** Adds or replaces one entry of a cached listing. */
    public void putDirent(long dirId, CacheIndex.Dirent d) throws IndexException {
        synchronized (ix) {
            ix.update(dirId, "INSERT OR REPLACE INTO dirents(dir_id, name, child_id, type, ino) VALUES (?, ?, ?, ?, ?)",
                    p -> bindDirent(p, dirId, d));
        }
    }

    public void removeDirent(long dirId, String name) throws IndexException {
        synchronized (ix) {
            ix.update(dirId, "DELETE FROM dirents WHERE dir_id = ? AND name = ?", p -> {
                p.setLong(1, dirId);
                p.setBytes(2, RawPath.bytes(name));
            });
        }
    }

    private static void bindDirent(PreparedStatement p, long dirId, CacheIndex.Dirent d) throws SQLException {
        p.setLong(1, dirId);
        p.setBytes(2, RawPath.bytes(d.name()));
        if (d.childId() == null) {
            p.setNull(3, java.sql.Types.INTEGER);
        } else {
            p.setLong(3, d.childId());
        }
        p.setInt(4, d.type());
        p.setLong(5, d.ino());
    }
}
