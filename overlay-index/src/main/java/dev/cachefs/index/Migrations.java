package dev.cachefs.index;

import java.util.List;

/**
 * The index schema, as the steps that build it: step N takes a database at user_version N to N+1.
 * Only ever append a step; a released step is never edited.
 */
final class Migrations {
    private Migrations() {}

    static final List<List<String>> STEPS = List.of(
            // 0 -> 1: the first schema
            List.of(
                    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
                    """
                    CREATE TABLE objects (
                      id INTEGER PRIMARY KEY,
                      file_id BLOB NOT NULL UNIQUE,
                      path BLOB,
                      state INTEGER NOT NULL,
                      fp_size INTEGER, fp_mtime_ns INTEGER, fp_ctime_ns INTEGER, fp_ino INTEGER,
                      data_name TEXT NOT NULL,
                      pinned INTEGER NOT NULL DEFAULT 0,
                      dir_complete INTEGER NOT NULL DEFAULT 0,
                      symlink_target BLOB,
                      mode INTEGER, uid INTEGER, gid INTEGER, nlink INTEGER, rdev INTEGER,
                      atime_ns INTEGER, blocks INTEGER,
                      last_access_ms INTEGER NOT NULL DEFAULT 0,
                      access_count INTEGER NOT NULL DEFAULT 0
                    )""",
                    "CREATE INDEX objects_path ON objects(path)",
                    """
                    CREATE TABLE chunks (
                      obj_id INTEGER NOT NULL REFERENCES objects(id) ON DELETE CASCADE,
                      idx INTEGER NOT NULL, length INTEGER NOT NULL, crc INTEGER NOT NULL,
                      PRIMARY KEY (obj_id, idx)) WITHOUT ROWID""",
                    """
                    CREATE TABLE dirents (
                      dir_id INTEGER NOT NULL REFERENCES objects(id) ON DELETE CASCADE,
                      name BLOB NOT NULL, child_id INTEGER, type INTEGER NOT NULL,
                      PRIMARY KEY (dir_id, name)) WITHOUT ROWID""",
                    """
                    CREATE TABLE xattrs (
                      obj_id INTEGER NOT NULL REFERENCES objects(id) ON DELETE CASCADE,
                      name BLOB NOT NULL, value BLOB NOT NULL,
                      PRIMARY KEY (obj_id, name)) WITHOUT ROWID""",
                    // Filled by disconnected operation: every local change, in order, with the base version.
                    """
                    CREATE TABLE journal (
                      seq INTEGER PRIMARY KEY AUTOINCREMENT,
                      op TEXT NOT NULL, obj_id INTEGER, path BLOB, path2 BLOB, args BLOB,
                      base_fp BLOB, time_ms INTEGER NOT NULL, done INTEGER NOT NULL DEFAULT 0)""",
                    """
                    CREATE TABLE conflicts (
                      id INTEGER PRIMARY KEY, obj_id INTEGER, path BLOB NOT NULL, kind TEXT NOT NULL,
                      detected_ms INTEGER NOT NULL, state TEXT NOT NULL)"""),
            // 1 -> 2: listings keep each entry's inode number (readdir gives it)
            List.of("ALTER TABLE dirents ADD COLUMN ino INTEGER NOT NULL DEFAULT 0"),
            // 2 -> 3: disconnected operation. Every attribute as last seen (stat, when), the local
            // copy of data changed offline (local), the journal's object index.
            List.of("ALTER TABLE objects ADD COLUMN stat BLOB",
                    "ALTER TABLE objects ADD COLUMN seen_ms INTEGER NOT NULL DEFAULT 0",
                    "ALTER TABLE objects ADD COLUMN local TEXT",
                    "CREATE INDEX journal_obj ON journal(obj_id)"),
            // 3 -> 4: conflict resolution. How a conflict was settled (or 'open'), what the user
            // should know about it (where each version went), when.
            List.of("ALTER TABLE conflicts ADD COLUMN resolution TEXT",
                    "ALTER TABLE conflicts ADD COLUMN detail TEXT",
                    "ALTER TABLE conflicts ADD COLUMN resolved_ms INTEGER"),
            // 4 -> 5: integrity of cached data. The seal of each data file (its inode, size and
            // ctime as cachefs last left it) and when its chunks were last checked (the scrub).
            List.of("ALTER TABLE objects ADD COLUMN seal BLOB",
                    "ALTER TABLE objects ADD COLUMN verified_ms INTEGER NOT NULL DEFAULT 0",
                    "CREATE INDEX objects_verified ON objects(verified_ms)")
    );

    static int latest() {
        return STEPS.size();
    }
}
