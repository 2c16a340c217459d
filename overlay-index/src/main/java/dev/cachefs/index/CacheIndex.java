package dev.cachefs.index;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import dev.cachefs.nativeio.RawPath;
import dev.cachefs.nativeio.Stat;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * The persistent index of the cache: an embedded SQLite database (WAL, synchronous=NORMAL, foreign
 * keys on), schema versioned by {@code PRAGMA user_version} and migrated forward on open
 * ({@link Migrations}). Marked with its own application id so that a foreign SQLite file is refused.
 *
 * <p>Hot lookups by {@link FileId} are answered from an in-memory Caffeine cache kept in step with
 * every write made through this class.
 *
 * <p>Threads: one JDBC connection, so every method is synchronized on this index.
 */
public final class CacheIndex implements AutoCloseable {
    /** 'CFIX': what {@code PRAGMA application_id} says in every cachefs index. */
    static final int APPLICATION_ID = 0x43464958;

    private final Path file;
    final Connection db;
    private final OfflineJournal journal = new OfflineJournal(this);
    private final ConflictLog conflicts = new ConflictLog(this);
    private final DataRecords data = new DataRecords(this);
    private final Listings listings = new Listings(this);
    private final Census census = new Census(this);
    private final Paths paths = new Paths(this);
    /** Which FileId a cached record of an object id is under, so one write drops one entry. */
    final java.util.Map<Long, FileId> hotIds = new java.util.concurrent.ConcurrentHashMap<>();
    final Cache<FileId, ObjectRecord> hot = Caffeine.newBuilder().executor(Runnable::run).maximumSize(100_000)
            .evictionListener((FileId k, ObjectRecord v, com.github.benmanes.caffeine.cache.RemovalCause c) -> {
                if (v != null) {
                    hotIds.remove(v.id(), k);
                }
            })
            .build();
    /** Accesses not yet written: object id -> {last access ms, count}; flushed in one transaction. */
    private final java.util.Map<Long, long[]> pendingTouches = new java.util.HashMap<>();
    static final int TOUCH_BATCH = 512;

    private CacheIndex(Path file, Connection db, java.time.InstantSource clock) {
        this.file = file;
        this.db = db;
        this.clock = clock;
    }

    /** The wall clock of every date the index records (access, check, seen, journal and conflict times). */
    private final java.time.InstantSource clock;

    public java.time.InstantSource clock() {
        return clock;
    }

    /** Opens (creating if absent) the index at {@code file}. */
    public static CacheIndex open(Path file) throws IndexException {
        return open(file, java.time.InstantSource.system());
    }

    /** Opens the index at {@code file}, its dates read from {@code clock} (tests drive it). */
    public static CacheIndex open(Path file, java.time.InstantSource clock) throws IndexException {
        boolean existed = Files.exists(file);
        Connection c;
        try {
            c = DriverManager.getConnection("jdbc:sqlite:" + file);
        } catch (SQLException e) {
            throw new IndexException("cannot open the cache index " + file + ": " + e.getMessage(), e);
        }
        try {
            try (Statement s = c.createStatement()) {
                int appId;
                int version;
                try (ResultSet r = s.executeQuery("PRAGMA application_id")) {
                    appId = r.getInt(1);
                }
                try (ResultSet r = s.executeQuery("PRAGMA user_version")) {
                    version = r.getInt(1);
                }
                boolean empty;
                try (ResultSet r = s.executeQuery("SELECT count(*) FROM sqlite_master")) {
                    empty = r.getInt(1) == 0;
                }
                if (!empty && appId != APPLICATION_ID) {
                    throw new IndexException(file + " is an SQLite database of some other program, not a cachefs index;"
                            + " move it away or use another --cache directory");
                }
                if (version > Migrations.latest()) {
                    throw new IndexException("the cache index " + file + " has schema version " + version
                            + ", newer than this cachefs understands (" + Migrations.latest() + "); use a newer cachefs");
                }
                s.execute("PRAGMA journal_mode=WAL");
                // NORMAL: in WAL mode a commit survives a crash of this process, and after a power
                // cut the index is consistent but may lack its last commits (chunks fetched again).
                // Everything here can be fetched again; local changes that exist nowhere else
                // (the disconnected-operation journal) must switch to FULL for their commits.
                s.execute("PRAGMA synchronous=NORMAL");
                s.execute("PRAGMA foreign_keys=ON");
                s.execute("PRAGMA busy_timeout=5000");
                if (version < Migrations.latest()) {
                    migrate(c, version);
                }
            }
            return new CacheIndex(file, c, clock);
        } catch (SQLException e) {
            closeQuietly(c);
            String msg = e.getMessage() == null ? "" : e.getMessage();
            if (msg.contains("SQLITE_NOTADB") || msg.contains("SQLITE_CORRUPT") || msg.contains("not a database")) {
                throw new IndexException("the cache index " + file + " is corrupt (" + msg
                        + "); run cachefs fsck --repair on the cache directory" + (existed ? "" : ""), e);
            }
            throw new IndexException("cannot use the cache index " + file + ": " + msg, e);
        } catch (IndexException e) {
            closeQuietly(c);
            throw e;
        }
    }

    private static void closeQuietly(Connection c) {
        try {
            c.close();
        } catch (SQLException ignored) {
            // already failing
        }
    }

    private static void migrate(Connection c, int from) throws SQLException {
        c.setAutoCommit(false);
        try (Statement s = c.createStatement()) {
            for (int v = from; v < Migrations.latest(); v++) {
                for (String sql : Migrations.STEPS.get(v)) {
                    s.execute(sql);
                }
            }
            s.execute("PRAGMA application_id=" + APPLICATION_ID);
            s.execute("PRAGMA user_version=" + Migrations.latest());
            c.commit();
        } catch (SQLException e) {
            c.rollback();
            throw e;
        } finally {
            c.setAutoCommit(true);
        }
    }

    public Path file() {
        return file;
    }

    public synchronized int schemaVersion() throws IndexException {
        return queryInt("PRAGMA user_version");
    }

    int queryInt(String sql) throws IndexException {
        try (Statement s = db.createStatement(); ResultSet r = s.executeQuery(sql)) {
            return r.getInt(1);
        } catch (SQLException e) {
            throw fail(e);
        }
    }

    long queryLong(String sql) throws IndexException {
        try (Statement s = db.createStatement(); ResultSet r = s.executeQuery(sql)) {
            return r.getLong(1);
        } catch (SQLException e) {
            throw fail(e);
        }
    }

    /** Statements prepared once and kept for the connection's life (every use holds the index's monitor). */
    private final Map<String, PreparedStatement> statements = new java.util.HashMap<>();

    /** The statement for {@code sql}, prepared at its first use and reused after (parameters and batch cleared). */
    PreparedStatement prepared(String sql) throws SQLException {
        PreparedStatement p = statements.get(sql);
        if (p == null || p.isClosed()) {
            p = db.prepareStatement(sql);
            statements.put(sql, p);
        } else {
            p.clearParameters();
            p.clearBatch();
        }
        return p;
    }

    IndexException fail(SQLException e) {
        return new IndexException("cache index " + file + ": " + e.getMessage(), e);
    }

    /** Runs {@code body} in one transaction (all or nothing). */
    public synchronized void transaction(SqlBody body) throws IndexException {
        if (inTransaction) { // nested: part of the outer one
            try {
                body.run();
                return;
            } catch (SQLException e) {
                throw fail(e);
            }
        }
        inTransaction = true;
        try {
            db.setAutoCommit(false);
            try {
                body.run();
                db.commit();
            } catch (SQLException | IndexException | RuntimeException e) {
                try {
                    db.rollback();
                } catch (SQLException already) {
                    // SQLite rolled back by itself (a full disk does that): keep the first error
                }
                hot.invalidateAll();
                hotIds.clear();
                throw e;
            } finally {
                db.setAutoCommit(true);
            }
        } catch (SQLException e) {
            throw fail(e);
        } finally {
            inTransaction = false;
        }
    }

    private boolean inTransaction;

    /** A body of work against the index. */
    public interface SqlBody {
        void run() throws SQLException, IndexException;
    }

    // ------------------------------------------------------------------ meta

    public synchronized void putMeta(String key, String value) throws IndexException {
        try {
            PreparedStatement p = prepared("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)");
            p.setString(1, key);
            p.setString(2, value);
            p.executeUpdate();
        } catch (SQLException e) {
            throw fail(e);
        }
    }

    /** The meta entries whose key starts with {@code prefix} and whose value is not empty, by key. */
    public synchronized java.util.Map<String, String> metaStartingWith(String prefix) throws IndexException {
        java.util.Map<String, String> out = new java.util.TreeMap<>();
        try {
            PreparedStatement p = prepared("SELECT key, value FROM meta WHERE substr(key, 1, ?) = ? AND value != ''");
            p.setInt(1, prefix.length());
            p.setString(2, prefix);
            try (ResultSet r = p.executeQuery()) {
                while (r.next()) {
                    out.put(r.getString(1), r.getString(2));
                }
            }
        } catch (SQLException e) {
            throw fail(e);
        }
        return out;
    }

    public synchronized Optional<String> meta(String key) throws IndexException {
        try {
            PreparedStatement p = prepared("SELECT value FROM meta WHERE key = ?");
            p.setString(1, key);
            try (ResultSet r = p.executeQuery()) {
                return r.next() ? Optional.of(r.getString(1)) : Optional.empty();
            }
        } catch (SQLException e) {
            throw fail(e);
        }
    }

    // ------------------------------------------------------------------ objects

    static final String COLUMNS = "id, file_id, path, state, fp_size, fp_mtime_ns, fp_ctime_ns, fp_ino, data_name,"
            + " pinned, dir_complete, symlink_target, last_access_ms, access_count";

    static ObjectRecord row(ResultSet r) throws SQLException {
        byte[] path = r.getBytes(3);
        byte[] target = r.getBytes(12);
        long fpSize = r.getLong(5);
        Fingerprint fp = r.wasNull() ? null : new Fingerprint(fpSize, r.getLong(6), r.getLong(7), r.getLong(8));
        return new ObjectRecord(r.getLong(1), FileId.decode(r.getBytes(2)),
                path == null ? null : RawPath.fromBytes(path, 0, path.length), ObjectState.of(r.getInt(4)), fp,
                r.getString(9), r.getInt(10) != 0, r.getInt(11) != 0,
                target == null ? null : RawPath.fromBytes(target, 0, target.length), r.getLong(13), r.getLong(14),
                r.getInt(11) == Listings.SETTLED);
    }

    static List<ObjectRecord> rows(PreparedStatement p) throws SQLException {
        List<ObjectRecord> out = new ArrayList<>();
        try (ResultSet r = p.executeQuery()) {
            while (r.next()) {
                out.add(row(r));
            }
        }
        return out;
    }

    /** The object with this identity, if the index has it. */
    public synchronized Optional<ObjectRecord> find(FileId id) throws IndexException {
        ObjectRecord cached = hot.getIfPresent(id);
        if (cached != null) {
            return Optional.of(cached);
        }
        try {
            PreparedStatement p = prepared("SELECT " + COLUMNS + " FROM objects WHERE file_id = ?");
            p.setBytes(1, id.encoded());
            try (ResultSet r = p.executeQuery()) {
                if (!r.next()) {
                    return Optional.empty();
                }
                ObjectRecord o = row(r);
                hot.put(id, o);
                hotIds.put(o.id(), id);
                return Optional.of(o);
            }
        } catch (SQLException e) {
            throw fail(e);
        }
    }

    public synchronized Optional<ObjectRecord> get(long objId) throws IndexException {
        try {
            PreparedStatement p = prepared("SELECT " + COLUMNS + " FROM objects WHERE id = ?");
            p.setLong(1, objId);
            try (ResultSet r = p.executeQuery()) {
                return r.next() ? Optional.of(row(r)) : Optional.empty();
            }
        } catch (SQLException e) {
            throw fail(e);
        }
    }

    /**
     * Adds the object, or updates its path, state and fingerprint if it is known; returns the
     * record as stored.
     */
    public synchronized ObjectRecord upsert(FileId id, String path, ObjectState state, Fingerprint fp)
            throws IndexException {
        try {
            PreparedStatement p = prepared("""
                INSERT INTO objects(file_id, path, state, fp_size, fp_mtime_ns, fp_ctime_ns, fp_ino, data_name, verified_ms)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(file_id) DO UPDATE SET path = excluded.path, state = excluded.state,
                  fp_size = excluded.fp_size, fp_mtime_ns = excluded.fp_mtime_ns,
                  fp_ctime_ns = excluded.fp_ctime_ns, fp_ino = excluded.fp_ino""");
            p.setBytes(1, id.encoded());
            p.setBytes(2, path == null ? null : RawPath.bytes(path));
            p.setInt(3, state.code);
            if (fp == null) {
                for (int i = 4; i <= 7; i++) {
                    p.setNull(i, java.sql.Types.INTEGER);
                }
            } else {
                p.setLong(4, fp.size());
                p.setLong(5, fp.mtimeNs());
                p.setLong(6, fp.ctimeNs());
                p.setLong(7, fp.ino());
            }
            p.setString(8, CacheStore.dataNameOf(id));
            p.setLong(9, clock.millis()); // what it will hold is checked as it is stored
            p.executeUpdate();
        } catch (SQLException e) {
            throw fail(e);
        }
        hot.invalidate(id);
        return find(id).orElseThrow();
    }

    /** The attributes copied up with an object (metacopy), beyond its fingerprint. */
    public record Attrs(int mode, int uid, int gid, int nlink, long rdev, long atimeNs, long blocks) {}

    /**
     * Records an object's attributes as just seen (adding it, metadata only, if the index does not
     * have it); its state and fingerprint are left as they are. Returns its object id.
     */
    public synchronized long putAttrs(FileId id, String path, Stat st) throws IndexException {
        record(id, path, st);
        return find(id).orElseThrow().id();
    }

    /** {@link #putAttrs} without asking for the row's id after (the writer behind lookups). */
    public synchronized void record(FileId id, String path, Stat st) throws IndexException {
        try {
            PreparedStatement p = prepared("""
                INSERT INTO objects(file_id, path, state, data_name, mode, uid, gid, nlink, rdev, atime_ns, blocks, stat, seen_ms)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(file_id) DO UPDATE SET path = excluded.path, mode = excluded.mode, uid = excluded.uid,
                  gid = excluded.gid, nlink = excluded.nlink, rdev = excluded.rdev, atime_ns = excluded.atime_ns,
                  blocks = excluded.blocks, stat = excluded.stat, seen_ms = excluded.seen_ms""");
            p.setBytes(1, id.encoded());
            p.setBytes(2, path == null ? null : RawPath.bytes(path));
            p.setInt(3, ObjectState.METADATA_ONLY.code);
            p.setString(4, CacheStore.dataNameOf(id));
            bindAttrs(p, 5, st);
            p.executeUpdate();
        } catch (SQLException e) {
            throw fail(e);
        }
        hot.invalidate(id);
    }

    /** Binds mode, uid, gid, nlink, rdev, atime_ns, blocks, stat, seen_ms from {@code at}. */
    private void bindAttrs(PreparedStatement p, int at, Stat st) throws SQLException {
        p.setInt(at, st.mode());
        p.setInt(at + 1, st.uid());
        p.setInt(at + 2, st.gid());
        p.setInt(at + 3, st.nlink());
        p.setLong(at + 4, Stat.makedev(st.rdevMajor(), st.rdevMinor()));
        p.setLong(at + 5, st.atimeSec() * 1_000_000_000L + st.atimeNsec());
        p.setLong(at + 6, st.blocks());
        p.setBytes(at + 7, st.encode());
        p.setLong(at + 8, clock.millis());
    }

    /** Replaces an object's attributes (a change made offline). */
    public synchronized void setStat(long objId, Stat st) throws IndexException {
        update(objId, "UPDATE objects SET mode = ?, uid = ?, gid = ?, nlink = ?, rdev = ?, atime_ns = ?, blocks = ?,"
                + " stat = ?, seen_ms = ? WHERE id = ?", p -> {
                    bindAttrs(p, 1, st);
                    p.setLong(10, objId);
                });
    }

    /** Every attribute of the object as last seen or set, if known. */
    public synchronized Optional<Stat> stat(long objId) throws IndexException {
        try {
            PreparedStatement p = prepared("SELECT stat FROM objects WHERE id = ? AND stat IS NOT NULL");
            p.setLong(1, objId);
            try (ResultSet r = p.executeQuery()) {
                return r.next() ? Optional.of(Stat.decode(r.getBytes(1))) : Optional.empty();
            }
        } catch (SQLException e) {
            throw fail(e);
        }
    }

    /** The object last seen at {@code path} (several rows can name a path the lower replaced). */
    public synchronized Optional<ObjectRecord> atPath(String path) throws IndexException {
        try {
            PreparedStatement p = prepared(
                "SELECT " + COLUMNS + " FROM objects WHERE path = ? ORDER BY seen_ms DESC, id DESC LIMIT 1");
            p.setBytes(1, RawPath.bytes(path));
            List<ObjectRecord> r = rows(p);
            return r.isEmpty() ? Optional.empty() : Optional.of(r.get(0));
        } catch (SQLException e) {
            throw fail(e);
        }
    }

    /** The row last seen at a path with what a lookup needs of it: its attributes, local copy and date. */
    public record PathEntry(ObjectRecord rec, Stat st, String local, long seenMs) {}

    /** {@link #atPath} with the attributes, local copy name and seen date, in one query. */
    public synchronized Optional<PathEntry> entryAt(String path) throws IndexException {
        try {
            PreparedStatement p = prepared("SELECT " + COLUMNS + ", stat, local, seen_ms FROM objects WHERE path = ?"
                    + " ORDER BY seen_ms DESC, id DESC LIMIT 1");
            p.setBytes(1, RawPath.bytes(path));
            try (ResultSet r = p.executeQuery()) {
                if (!r.next()) {
                    return Optional.empty();
                }
                byte[] st = r.getBytes(15);
                return Optional.of(new PathEntry(row(r), st == null ? null : Stat.decode(st), r.getString(16), r.getLong(17)));
            }
        } catch (SQLException e) {
            throw fail(e);
        }
    }

    /** Attributes of an object as the lower gave them, and when it did (ms of the index's clock). */
    public record SeenAttrs(Stat st, long seenMs) {}

    /**
     * The attributes last seen at {@code path} if the lower gave them at {@code sinceMs} or later
     * (one query: a remount's walk asks this for every name its memory lacks).
     */
    public synchronized Optional<SeenAttrs> seenSince(String path, long sinceMs) throws IndexException {
        try {
            PreparedStatement p = prepared(
                "SELECT stat, seen_ms FROM objects WHERE path = ? AND local IS NULL ORDER BY seen_ms DESC, id DESC LIMIT 1");
            p.setBytes(1, RawPath.bytes(path));
            try (ResultSet r = p.executeQuery()) {
                if (!r.next()) {
                    return Optional.empty();
                }
                byte[] st = r.getBytes(1);
                long seen = r.getLong(2);
                return st == null || seen < sinceMs ? Optional.empty() : Optional.of(new SeenAttrs(Stat.decode(st), seen));
            }
        } catch (SQLException e) {
            throw fail(e);
        }
    }

    /**
     * {@link #seenSince} for many paths in one query (a directory's names): the paths whose
     * attributes the lower gave at {@code sinceMs} or later, with them.
     */
    public synchronized java.util.Map<String, SeenAttrs> seenSinceAll(java.util.List<String> paths, long sinceMs)
            throws IndexException {
        java.util.Map<String, SeenAttrs> out = new java.util.HashMap<>();
        java.util.Set<String> taken = new java.util.HashSet<>(); // as seenSince: the most recently seen row at a path
        for (int from = 0; from < paths.size(); from += 128) {
            java.util.List<String> part = paths.subList(from, Math.min(paths.size(), from + 128));
            String sql = "SELECT path, stat, seen_ms FROM objects WHERE local IS NULL AND path IN ("
                    + "?,".repeat(part.size() - 1) + "?) ORDER BY seen_ms DESC, id DESC";
            try {
                PreparedStatement p = prepared(sql);
                for (int i = 0; i < part.size(); i++) {
                    p.setBytes(i + 1, RawPath.bytes(part.get(i)));
                }
                try (ResultSet r = p.executeQuery()) {
                    while (r.next()) {
                        byte[] raw = r.getBytes(1);
                        String path = RawPath.fromBytes(raw, 0, raw.length);
                        byte[] st = r.getBytes(2);
                        long seen = r.getLong(3);
                        if (taken.add(path) && st != null && seen >= sinceMs) {
                            out.put(path, new SeenAttrs(Stat.decode(st), seen));
                        }
                    }
                }
            } catch (SQLException e) {
                throw fail(e);
            }
        }
        return out;
    }

    /** The name of the object's local data (its version changed offline), or empty. */
    public synchronized Optional<String> local(long objId) throws IndexException {
        try {
            PreparedStatement p = prepared("SELECT local FROM objects WHERE id = ? AND local IS NOT NULL");
            p.setLong(1, objId);
            try (ResultSet r = p.executeQuery()) {
                return r.next() ? Optional.of(r.getString(1)) : Optional.empty();
            }
        } catch (SQLException e) {
            throw fail(e);
        }
    }

    /** How many objects use the local copy {@code name} (hard links made offline share one). */
    public synchronized int localUsers(String name) throws IndexException {
        try {
            PreparedStatement p = prepared("SELECT count(*) FROM objects WHERE local = ?");
            p.setString(1, name);
            try (ResultSet r = p.executeQuery()) {
                return r.getInt(1);
            }
        } catch (SQLException e) {
            throw fail(e);
        }
    }

    /** Names the object's local copy (null: it has none any more). */
    public synchronized void setLocal(long objId, String name) throws IndexException {
        update(objId, "UPDATE objects SET local = ? WHERE id = ?", p -> {
            if (name == null) {
                p.setNull(1, java.sql.Types.VARCHAR);
            } else {
                p.setString(1, name);
            }
            p.setLong(2, objId);
        });
    }

    public synchronized Optional<Attrs> attrs(long objId) throws IndexException {
        try {
            PreparedStatement p = prepared(
                "SELECT mode, uid, gid, nlink, rdev, atime_ns, blocks FROM objects WHERE id = ? AND mode IS NOT NULL");
            p.setLong(1, objId);
            try (ResultSet r = p.executeQuery()) {
                return r.next() ? Optional.of(new Attrs(r.getInt(1), r.getInt(2), r.getInt(3), r.getInt(4), r.getLong(5),
                        r.getLong(6), r.getLong(7))) : Optional.empty();
            }
        } catch (SQLException e) {
            throw fail(e);
        }
    }

    public synchronized void setState(long objId, ObjectState state) throws IndexException {
        update(objId, "UPDATE objects SET state = ? WHERE id = ?", p -> {
            p.setInt(1, state.code);
            p.setLong(2, objId);
        });
    }

    public synchronized void setFingerprint(long objId, Fingerprint fp) throws IndexException {
        update(objId, "UPDATE objects SET fp_size = ?, fp_mtime_ns = ?, fp_ctime_ns = ?, fp_ino = ? WHERE id = ?", p -> {
            p.setLong(1, fp.size());
            p.setLong(2, fp.mtimeNs());
            p.setLong(3, fp.ctimeNs());
            p.setLong(4, fp.ino());
            p.setLong(5, objId);
        });
    }

    public synchronized void setPinned(long objId, boolean pinned) throws IndexException {
        update(objId, "UPDATE objects SET pinned = ? WHERE id = ?", p -> {
            p.setInt(1, pinned ? 1 : 0);
            p.setLong(2, objId);
        });
    }

    public synchronized void setSymlinkTarget(long objId, String target) throws IndexException {
        update(objId, "UPDATE objects SET symlink_target = ? WHERE id = ?", p -> {
            p.setBytes(1, RawPath.bytes(target));
            p.setLong(2, objId);
        });
    }

    /**
     * Records an access (for culling by recency and frequency). Accesses are the FUSE hot path, so
     * they are kept in memory and written {@value #TOUCH_BATCH} objects at a time, or by
     * {@link #flushTouches}, {@link #forEachObject} and {@link #close}; a crash loses only recency.
     */
    public synchronized void touch(long objId, long nowMs) throws IndexException {
        long[] t = pendingTouches.computeIfAbsent(objId, k -> new long[2]);
        t[0] = Math.max(t[0], nowMs);
        t[1]++;
        if (pendingTouches.size() >= TOUCH_BATCH) {
            flushTouches();
        }
    }

    /** Writes the accesses recorded since the last flush, in one transaction. */
    public synchronized void flushTouches() throws IndexException {
        if (pendingTouches.isEmpty()) {
            return;
        }
        transaction(() -> {
            {
                PreparedStatement p = prepared(
                    "UPDATE objects SET last_access_ms = max(last_access_ms, ?), access_count = access_count + ? WHERE id = ?");
                for (var e : pendingTouches.entrySet()) {
                    p.setLong(1, e.getValue()[0]);
                    p.setLong(2, e.getValue()[1]);
                    p.setLong(3, e.getKey());
                    p.addBatch();
                }
                p.executeBatch();
            }
        });
        pendingTouches.clear();
    }

    public synchronized void delete(long objId) throws IndexException {
        pendingTouches.remove(objId);
        update(objId, "DELETE FROM objects WHERE id = ?", p -> p.setLong(1, objId));
    }

    interface Binder {
        void bind(PreparedStatement p) throws SQLException;
    }

    /** Runs an UPDATE/DELETE of one object ({@code objId}) and drops just its cached record. */
    void update(long objId, String sql, Binder b) throws IndexException {
        try {
            PreparedStatement p = prepared(sql);
            b.bind(p);
            p.executeUpdate();
        } catch (SQLException e) {
            throw fail(e);
        }
        forgetHot(objId);
    }

    /** Drops the cached record of one object. */
    void forgetHot(long objId) {
        FileId f = hotIds.remove(objId);
        if (f != null) {
            hot.invalidate(f);
        }
    }

    /** Every object, in id order (fsck, culling). */
    public synchronized void forEachObject(Consumer<ObjectRecord> action) throws IndexException {
        flushTouches();
        try (Statement s = db.createStatement(); ResultSet r = s.executeQuery("SELECT " + COLUMNS + " FROM objects ORDER BY id")) {
            while (r.next()) {
                action.accept(row(r));
            }
        } catch (SQLException e) {
            throw fail(e);
        }
    }

    public synchronized int countObjects() throws IndexException {
        return queryInt("SELECT count(*) FROM objects");
    }

    /** Bytes of present chunks and objects that have any (what the cache holds), and of those the pinned. */
    public record Usage(long bytes, long files, long pinnedBytes, long pinnedFiles) {}

    // ------------------------------------------------------------------ rooms

    /** A directory entry as copied up: name, object id if known, d_type, inode number. */
    public record Dirent(String name, Long childId, int type, long ino) {
        public Dirent(String name, Long childId, int type) {
            this(name, childId, type, 0);
        }
    }

    /** Chunks, seals and checks of each object's cached data (a room; this index's connection and lock). */
    public DataRecords data() {
        return data;
    }

    /** Changes by path: names gone, renames, undated attributes, stale listings (a room; this index's connection and lock). */
    public Paths paths() {
        return paths;
    }

    /** Questions over many objects: usage, states, culling order, pins (a room; this index's connection and lock). */
    public Census census() {
        return census;
    }

    /** Cached listings and xattrs (a room; this index's connection and lock). */
    public Listings listings() {
        return listings;
    }

    /** The journal of offline changes (its own room; this index's connection and lock). */
    public OfflineJournal offlineJournal() {
        return journal;
    }

    /** The conflicts replay found (its own room; this index's connection and lock). */
    public ConflictLog conflictLog() {
        return conflicts;
    }

    /**
     * One local change made while disconnected, in order: the operation, the object and path(s) it
     * touched, its arguments, and the base (the lower object's attributes before the first local
     * change, encoded as by {@link Stat#encode}; null for what the lower never had).
     */
    public record JournalEntry(long seq, String op, Long objId, String path, String path2, byte[] args, byte[] base,
                               long timeMs) {
        /** The change itself, typed. */
        public JournalRecord record() {
            return JournalCodec.decode(op, path, path2, args);
        }
    }

    /**
     * A conflict replay found: where, what kind, when, its state ({@code open} or
     * {@code resolved}), how it was resolved and what became of each version.
     */
    public record Conflict(long id, Long objId, String path, String kind, long detectedMs, String state,
                           String resolution, String detail) {
        public boolean open() {
            return "open".equals(state);
        }
    }

    /** Gives the object {@code objId} the identity {@code id} (an object made offline, once on the lower). */
    public synchronized boolean rekey(long objId, FileId id) throws IndexException {
        if (find(id).isPresent()) {
            return false;
        }
        try (PreparedStatement u = db.prepareStatement("UPDATE objects SET file_id = ? WHERE id = ?")) {
            u.setBytes(1, id.encoded());
            u.setLong(2, objId);
            u.executeUpdate();
        } catch (SQLException e) {
            throw fail(e);
        }
        hot.invalidateAll();
        hotIds.clear();
        return true;
    }

    /** Objects with a local copy or a provisional identity (what replay leaves to clean up). */
    public synchronized List<ObjectRecord> changedOffline() throws IndexException {
        try {
            PreparedStatement p = prepared("SELECT " + COLUMNS + " FROM objects WHERE local IS NOT NULL OR state = ?");
            p.setInt(1, ObjectState.DIRTY.code);
            return rows(p);
        } catch (SQLException e) {
            throw fail(e);
        }
    }

    /**
     * FULL: every commit is on disk before it returns (the journal of local changes holds data
     * that exists nowhere else); NORMAL otherwise (see {@link #open}).
     */
    public synchronized void durable(boolean full) throws IndexException {
        try (Statement s = db.createStatement()) {
            s.execute("PRAGMA synchronous=" + (full ? "FULL" : "NORMAL"));
            this.full = full;
        } catch (SQLException e) {
            throw fail(e);
        }
    }

    /**
     * Makes every commit so far durable, relaxed ones included: syncs the write-ahead log (the
     * commits not yet checkpointed; what was checkpointed is synced already).
     */
    public synchronized void sync() throws IndexException {
        Path wal = file.resolveSibling(file.getFileName() + "-wal");
        try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(wal, java.nio.file.StandardOpenOption.READ)) {
            ch.force(false);
        } catch (java.nio.file.NoSuchFileException e) {
            // no log: everything is in the database file, synced at its checkpoint
        } catch (java.io.IOException e) {
            throw new IndexException("cache index " + file + ": cannot sync its log: " + e.getMessage(), e);
        }
    }

    /** Whether commits are synced as they are made ({@link #durable}). */
    private boolean full;

    /**
     * {@link #transaction} for what the cache can lose in a power cut (what it copied of the
     * lower: chunks, attributes, listings): committed without a sync of its own even when the
     * index is {@link #durable}. It reaches the disk with the next synced commit (the WAL is synced
     * whole), and SQLite keeps the index consistent either way.
     */
    public synchronized void relaxedTransaction(SqlBody body) throws IndexException {
        if (!full || inTransaction) {
            transaction(body);
            return;
        }
        try (Statement s = db.createStatement()) {
            s.execute("PRAGMA synchronous=NORMAL");
            try {
                transaction(body);
            } finally {
                s.execute("PRAGMA synchronous=FULL");
            }
        } catch (SQLException e) {
            throw fail(e);
        }
    }

    @Override
    public synchronized void close() {
        try {
            flushTouches();
        } catch (IndexException e) {
            // recency only; the index itself is consistent
        }
        for (PreparedStatement p : statements.values()) {
            try {
                p.close();
            } catch (SQLException e) {
                // closing the connection below closes it too
            }
        }
        statements.clear();
        closeQuietly(db);
    }
}
