package dev.cachefs.index;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.DriverManager;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CacheIndexTest {
    @TempDir
    Path tmp;

    private static FileId id(String p) {
        return FileId.ofPath(new byte[] {7}, p);
    }

    @Test
    void objectsChunksListingsAndXattrsSurviveReopening() throws Exception {
        Path db = tmp.resolve("index.db");
        long objId;
        long dirId;
        try (CacheIndex ix = CacheIndex.open(db)) {
            assertEquals(Migrations.latest(), ix.schemaVersion());
            ObjectRecord o = ix.upsert(id("a/b"), "a/b", ObjectState.PARTIAL, new Fingerprint(10, 20, 30, 40));
            objId = o.id();
            ix.data().addChunks(objId, List.of(new Chunk(0, 100, 1234), new Chunk(3, 50, -5)));
            ObjectRecord d = ix.upsert(id("a"), "a", ObjectState.METADATA_ONLY, null);
            dirId = d.id();
            ix.listings().putListing(dirId, List.of(new CacheIndex.Dirent("b", objId, 8), new CacheIndex.Dirent("c\u00ff", null, 4)), true);
            ix.listings().putXattr(objId, "user.k", new byte[] {1, 2});
            ix.putMeta("lower", "/mnt/nfs");
            ix.setPinned(objId, true);
        }
        try (CacheIndex ix = CacheIndex.open(db)) {
            ObjectRecord o = ix.find(id("a/b")).orElseThrow();
            assertEquals(objId, o.id());
            assertEquals(ObjectState.PARTIAL, o.state());
            assertEquals(new Fingerprint(10, 20, 30, 40), o.fingerprint());
            assertTrue(o.pinned());
            assertEquals(List.of(new Chunk(0, 100, 1234), new Chunk(3, 50, -5)), ix.data().chunks(objId));
            assertEquals("{[0,100), [3145728,3145778)}", ix.data().presentRanges(objId, 1 << 20).toString());
            assertTrue(ix.get(dirId).orElseThrow().dirComplete());
            assertEquals(List.of(new CacheIndex.Dirent("b", objId, 8), new CacheIndex.Dirent("c\u00ff", null, 4)),
                    ix.listings().listing(dirId));
            assertEquals(2, ix.listings().xattr(objId, "user.k").orElseThrow().length);
            assertEquals("/mnt/nfs", ix.meta("lower").orElseThrow());
            ix.delete(objId);
            assertFalse(ix.find(id("a/b")).isPresent());
            assertTrue(ix.data().chunks(objId).isEmpty(), "chunks go with their object");
        }
    }

    @Test
    void attributesSeenSinceADateAreReadForManyPathsInOneGoNewestRowFirst() throws Exception {
        java.util.concurrent.atomic.AtomicLong now = new java.util.concurrent.atomic.AtomicLong(1_000_000);
        java.time.InstantSource clock = () -> java.time.Instant.ofEpochMilli(now.get());
        try (CacheIndex ix = CacheIndex.open(tmp.resolve("index.db"), clock)) {
            ix.record(id("d/old"), "d/old", sized(1));
            ix.record(FileId.ofPath(new byte[] {8}, "d/a"), "d/a", sized(2)); // replaced since: an older row at d/a
            now.addAndGet(5_000);
            ix.record(id("d/a"), "d/a", sized(3));
            ix.record(id("d/b"), "d/b", sized(4));
            java.util.Map<String, CacheIndex.SeenAttrs> got = ix.seenSinceAll(List.of("d/a", "d/b", "d/old", "d/none"), 1_002_000);
            assertEquals(java.util.Set.of("d/a", "d/b"), got.keySet(), "seen since the date, and at those paths only");
            assertEquals(3, got.get("d/a").st().size(), "the row seen last at a path");
            assertEquals(ix.seenSince("d/a", 1_002_000).orElseThrow().st().size(), got.get("d/a").st().size(), "as seenSince");
            assertEquals(1_005_000, got.get("d/b").seenMs());
        }
    }

    private static dev.cachefs.nativeio.Stat sized(long size) {
        return new dev.cachefs.nativeio.Stat(size + 100, size, 0, 0100644, 1, 0, 0, 0, 0, 4096, 1, 0, 2, 0, 3, 0, 1);
    }

    @Test
    void sealsSurviveReopeningAndTheScrubTakesTheLongestUncheckedFirst() throws Exception {
        Path db = tmp.resolve("index.db");
        long a;
        long b;
        long c;
        try (CacheIndex ix = CacheIndex.open(db)) {
            a = ix.upsert(id("a"), "a", ObjectState.CACHED, new Fingerprint(1, 1, 1, 1)).id();
            b = ix.upsert(id("b"), "b", ObjectState.CACHED, new Fingerprint(1, 1, 1, 1)).id();
            c = ix.upsert(id("c"), "c", ObjectState.METADATA_ONLY, null).id();
            ix.data().addChunks(a, List.of(new Chunk(0, 1, 1)));
            ix.data().addChunks(b, List.of(new Chunk(0, 1, 1)));
            assertEquals(null, ix.data().seal(a), "never sealed");
            ix.data().setSeal(a, new DataSeal(12, 34, 56_000_000_007L));
            ix.data().setVerified(a, 200);
            ix.data().setVerified(b, 100);
        }
        try (CacheIndex ix = CacheIndex.open(db)) {
            assertEquals(new DataSeal(12, 34, 56_000_000_007L), ix.data().seal(a));
            assertEquals(List.of(b, a), ix.data().scrubDue(1000, 10).stream().map(ObjectRecord::id).toList(),
                    "oldest check first, objects without data (c) never");
            assertEquals(List.of(b), ix.data().scrubDue(150, 10).stream().map(ObjectRecord::id).toList());
            ix.data().setSeal(a, null);
            assertEquals(null, ix.data().seal(a));
            long fresh = ix.upsert(id("d"), "d", ObjectState.CACHED, null).id();
            ix.data().addChunks(fresh, List.of(new Chunk(0, 1, 1)));
            assertFalse(ix.data().scrubDue(System.currentTimeMillis() - 60_000, 10).stream().anyMatch(r -> r.id() == fresh),
                    "a new object's data is checked as it is stored: not due at once");
        }
        assertEquals(null, DataSeal.decode(new byte[] {2, 0}), "an unknown encoding is no seal");
        DataSeal s = new DataSeal(-1, Long.MAX_VALUE, 0);
        assertEquals(s, DataSeal.decode(s.encode()));
    }

    @Test
    void upsertKeepsTheObjectNumberAndUpdatesItsVersion() throws Exception {
        try (CacheIndex ix = CacheIndex.open(tmp.resolve("i.db"))) {
            ObjectRecord a = ix.upsert(id("x"), "x", ObjectState.CACHED, new Fingerprint(1, 1, 1, 1));
            ObjectRecord b = ix.upsert(id("x"), "y", ObjectState.PARTIAL, new Fingerprint(2, 2, 2, 2));
            assertEquals(a.id(), b.id());
            assertEquals("y", b.path());
            assertEquals(new Fingerprint(2, 2, 2, 2), ix.find(id("x")).orElseThrow().fingerprint());
        }
    }

    @Test
    void accessesAreBatchedAndWritesDropOnlyTheirOwnCachedRecord() throws Exception {
        Path db = tmp.resolve("t.db");
        long aId;
        try (CacheIndex ix = CacheIndex.open(db)) {
            ObjectRecord a = ix.upsert(id("a"), "a", ObjectState.CACHED, null);
            ObjectRecord b = ix.upsert(id("b"), "b", ObjectState.CACHED, null);
            aId = a.id();
            ix.touch(a.id(), 1000);
            ix.touch(a.id(), 3000);
            ix.touch(a.id(), 2000);
            assertEquals(0, ix.get(a.id()).orElseThrow().accessCount(), "not written yet: batched");
            ix.flushTouches();
            ObjectRecord t = ix.get(a.id()).orElseThrow();
            assertEquals(3, t.accessCount());
            assertEquals(3000, t.lastAccessMs(), "the latest access wins");
            // A write to one object shows at once through the hot cache; the other is unaffected.
            assertFalse(ix.find(id("b")).orElseThrow().pinned());
            ix.setPinned(b.id(), true);
            assertTrue(ix.find(id("b")).orElseThrow().pinned());
            assertEquals(ObjectState.CACHED, ix.find(id("a")).orElseThrow().state());
            ix.setState(a.id(), ObjectState.DIRTY);
            assertEquals(ObjectState.DIRTY, ix.find(id("a")).orElseThrow().state());
            for (int i = 0; i < CacheIndex.TOUCH_BATCH + 1; i++) {
                ix.upsert(id("n" + i), "n" + i, ObjectState.METADATA_ONLY, null);
            }
            ix.touch(a.id(), 9000); // flushed on close
        }
        try (CacheIndex ix = CacheIndex.open(db)) {
            assertEquals(4, ix.get(aId).orElseThrow().accessCount(), "pending accesses are written on close");
        }
    }

    @Test
    void aFailedTransactionChangesNothing() throws Exception {
        try (CacheIndex ix = CacheIndex.open(tmp.resolve("i.db"))) {
            ObjectRecord a = ix.upsert(id("x"), "x", ObjectState.CACHED, null);
            assertThrows(IllegalStateException.class, () -> ix.transaction(() -> {
                ix.setState(a.id(), ObjectState.DIRTY);
                throw new IllegalStateException("boom");
            }));
            assertEquals(ObjectState.CACHED, ix.find(id("x")).orElseThrow().state());
        }
    }

    @Test
    void aForeignSqliteFileIsRefused() throws Exception {
        Path db = tmp.resolve("foreign.db");
        try (var c = DriverManager.getConnection("jdbc:sqlite:" + db); var s = c.createStatement()) {
            s.execute("CREATE TABLE t(x)");
        }
        IndexException e = assertThrows(IndexException.class, () -> CacheIndex.open(db));
        assertTrue(e.getMessage().contains("some other program"), e.getMessage());
    }

    @Test
    void aCorruptFileIsRefusedWithTheFix() throws Exception {
        Path db = tmp.resolve("corrupt.db");
        Files.write(db, "this is not a database at all, just some text that is long enough".repeat(100).getBytes());
        IndexException e = assertThrows(IndexException.class, () -> CacheIndex.open(db));
        assertTrue(e.getMessage().contains("corrupt") && e.getMessage().contains("fsck --repair"), e.getMessage());
    }

    @Test
    void aNewerSchemaIsRefused() throws Exception {
        Path db = tmp.resolve("new.db");
        CacheIndex.open(db).close();
        try (var c = DriverManager.getConnection("jdbc:sqlite:" + db); var s = c.createStatement()) {
            s.execute("PRAGMA user_version=" + (Migrations.latest() + 5));
        }
        IndexException e = assertThrows(IndexException.class, () -> CacheIndex.open(db));
        assertTrue(e.getMessage().contains("newer"), e.getMessage());
    }

    @Test
    void anOlderSchemaIsMigratedForward() throws Exception {
        Path db = tmp.resolve("old.db");
        try (var c = DriverManager.getConnection("jdbc:sqlite:" + db); var s = c.createStatement()) {
            s.execute("PRAGMA application_id=" + CacheIndex.APPLICATION_ID); // a v0 index: marked, no tables yet
        }
        try (CacheIndex ix = CacheIndex.open(db)) {
            assertEquals(Migrations.latest(), ix.schemaVersion());
            ix.upsert(id("z"), "z", ObjectState.CACHED, null);
        }
    }

    @Test
    void aVersion1IndexKeepsItsListingsWhenMigrated() throws Exception {
        Path db = tmp.resolve("v1.db");
        try (var c = DriverManager.getConnection("jdbc:sqlite:" + db); var s = c.createStatement()) {
            for (String sql : Migrations.STEPS.get(0)) {
                s.execute(sql);
            }
            s.execute("PRAGMA application_id=" + CacheIndex.APPLICATION_ID);
            s.execute("PRAGMA user_version=1");
            s.execute("INSERT INTO objects(id, file_id, state, data_name) VALUES (7, x'00', 0, 'n')");
            s.execute("INSERT INTO dirents(dir_id, name, child_id, type) VALUES (7, x'61', NULL, 8)");
        }
        try (CacheIndex ix = CacheIndex.open(db)) {
            assertEquals(Migrations.latest(), ix.schemaVersion());
            assertEquals(List.of(new CacheIndex.Dirent("a", null, 8, 0)), ix.listings().listing(7));
            ix.listings().putListing(7, List.of(new CacheIndex.Dirent("b", null, 4, 1234)), true);
            assertEquals(List.of(new CacheIndex.Dirent("b", null, 4, 1234)), ix.listings().listing(7));
        }
    }

    @Test
    void aRenameReKeysTheObjectAndWhatIsUnderItAndDropsWhatItReplaced() throws Exception {
        try (CacheIndex ix = CacheIndex.open(tmp.resolve("rk.db"))) {
            long dir = ix.upsert(id("d"), "d", ObjectState.METADATA_ONLY, null).id();
            long child = ix.upsert(id("d/f"), "d/f", ObjectState.CACHED, null).id();
            long sibling = ix.upsert(id("d0"), "d0", ObjectState.CACHED, null).id();
            long replaced = ix.upsert(id("e/f"), "e/f", ObjectState.CACHED, null).id();
            List<ObjectRecord> gone = ix.paths().rekeyPaths("d", "e", CacheIndexTest::id);
            assertEquals(List.of(replaced), gone.stream().map(ObjectRecord::id).toList());
            assertEquals(dir, ix.find(id("e")).orElseThrow().id());
            assertEquals(child, ix.find(id("e/f")).orElseThrow().id());
            assertEquals("e/f", ix.find(id("e/f")).orElseThrow().path());
            assertTrue(ix.find(id("d/f")).isEmpty());
            assertEquals(sibling, ix.find(id("d0")).orElseThrow().id(), "d0 is not under d");
        }
    }
}
