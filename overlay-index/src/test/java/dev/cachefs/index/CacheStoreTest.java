package dev.cachefs.index;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CacheStoreTest {
    static final int CHUNK = 64 * 1024;

    @TempDir
    Path tmp;

    static MemorySegment bytes(Arena a, byte[] b) {
        MemorySegment s = a.allocate(b.length);
        MemorySegment.copy(b, 0, s, ValueLayout.JAVA_BYTE, 0, b.length);
        return s;
    }

    static ObjectRecord object(CacheStore s, String path) throws Exception {
        return s.index().upsert(FileId.ofPath(new byte[] {1}, path), path, ObjectState.PARTIAL, null);
    }

    Path dataFile(Path cache, ObjectRecord o) {
        return cache.resolve("data").resolve(CacheStore.relativeDataPath(o.dataName()));
    }

    @Test
    void chunksAreStoredVerifiedAndPrivate() throws Exception {
        Path cache = tmp.resolve("cache");
        byte[] data = new byte[CHUNK];
        new Random(1).nextBytes(data);
        try (CacheStore s = CacheStore.open(cache, CHUNK); Arena a = Arena.ofConfined()) {
            ObjectRecord o = object(s, "f");
            s.writeChunk(o, 2, bytes(a, data));
            MemorySegment dst = a.allocate(CHUNK);
            assertEquals(CHUNK, s.readChunk(o, 2, dst));
            assertArrayEquals(data, dst.toArray(ValueLayout.JAVA_BYTE));
            assertEquals(-1, s.readChunk(o, 1, dst), "a chunk never written is not present, hole or not");
            assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(cache)));
            assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(dataFile(cache, o))));
        }
    }

    @Test
    void aCorruptedChunkIsDetectedDroppedAndNeverServed() throws Exception {
        Path cache = tmp.resolve("cache");
        try (CacheStore s = CacheStore.open(cache, CHUNK); Arena a = Arena.ofConfined()) {
            ObjectRecord o = object(s, "f");
            byte[] data = new byte[1000];
            new Random(2).nextBytes(data);
            s.writeChunk(o, 0, bytes(a, data));
            try (FileChannel ch = FileChannel.open(dataFile(cache, o), StandardOpenOption.WRITE)) {
                ch.write(java.nio.ByteBuffer.wrap(new byte[] {(byte) (data[500] ^ 1)}), 500);
            }
            MemorySegment dst = a.allocate(CHUNK);
            assertThrows(CacheStore.CorruptChunkException.class, () -> s.readChunk(o, 0, dst));
            assertTrue(s.index().data().chunks(o.id()).isEmpty(), "the bad chunk is no longer marked present");
            assertEquals(-1, s.readChunk(o, 0, dst));
        }
    }

    @Test
    void afterACrashNoSealVouchesForAnything() throws Exception {
        Path cache = tmp.resolve("cache");
        long id;
        try (CacheStore s = CacheStore.open(cache, CHUNK)) {
            id = object(s, "f").id();
            s.index().data().setSeal(id, new DataSeal(1, 2, 3));
        }
        try (CacheStore s = CacheStore.open(cache, CHUNK)) {
            assertTrue(s.trustsData());
            assertEquals(new DataSeal(1, 2, 3), s.index().data().seal(id), "kept across a clean close");
        }
        try (var c = java.sql.DriverManager.getConnection("jdbc:sqlite:" + cache.resolve("index.db"));
             var st = c.createStatement()) {
            st.executeUpdate("UPDATE meta SET value = '0' WHERE key = 'clean'");
        }
        try (CacheStore s = CacheStore.open(cache, CHUNK)) {
            assertFalse(s.trustsData());
            assertEquals(null, s.index().data().seal(id), "dropped: the object is checked at its next open, in any later run");
        }
    }

    @Test
    void oneStorePerDirectory() throws Exception {
        Path cache = tmp.resolve("cache");
        try (CacheStore s = CacheStore.open(cache, CHUNK)) {
            IndexException e = assertThrows(IndexException.class, () -> CacheStore.open(cache, CHUNK));
            assertTrue(e.getMessage().contains("in use by another cachefs (pid " + ProcessHandle.current().pid() + ")"),
                    e.getMessage());
        }
        CacheStore.open(cache, CHUNK).close(); // the lock went with the first store
    }

    @Test
    void aSymlinkPlantedInTheCacheIsNotFollowed() throws Exception {
        Path cache = tmp.resolve("cache");
        Path victim = Files.createDirectory(tmp.resolve("victim"));
        ObjectRecord o;
        try (CacheStore s = CacheStore.open(cache, CHUNK)) {
            o = object(s, "f");
        }
        String name = o.dataName();
        Files.createDirectories(cache.resolve("data"));
        Files.createSymbolicLink(cache.resolve("data").resolve(name.substring(0, 2)), victim);
        try (CacheStore s = CacheStore.open(cache, CHUNK); Arena a = Arena.ofConfined()) {
            ObjectRecord again = s.index().find(o.fileId()).orElseThrow();
            assertThrows(IndexException.class, () -> s.writeChunk(again, 0, bytes(a, new byte[10])));
        }
        try (var l = Files.list(victim)) {
            assertEquals(0, l.count(), "nothing was written through the planted link");
        }
    }

    @Test
    void theCacheDirectoryMustNotBeASymlink() throws Exception {
        Path real = Files.createDirectory(tmp.resolve("real"));
        Path link = Files.createSymbolicLink(tmp.resolve("link"), real);
        IndexException e = assertThrows(IndexException.class, () -> CacheStore.open(link, CHUNK));
        assertTrue(e.getMessage().contains("symlink"), e.getMessage());
    }

    @Test
    void fsckFindsAndRepairsButNeverDropsLocalChanges() throws Exception {
        Path cache = tmp.resolve("cache");
        ObjectRecord clean;
        ObjectRecord broken;
        ObjectRecord dirty;
        try (CacheStore s = CacheStore.open(cache, CHUNK); Arena a = Arena.ofConfined()) {
            clean = object(s, "clean");
            broken = object(s, "broken");
            dirty = object(s, "dirty");
            for (ObjectRecord o : new ObjectRecord[] {clean, broken, dirty}) {
                s.writeChunk(o, 0, bytes(a, new byte[4096]));
                s.writeChunk(o, 1, bytes(a, new byte[100]));
            }
            s.index().setState(dirty.id(), ObjectState.DIRTY);
        }
        Files.write(dataFile(cache, broken), new byte[] {9}, StandardOpenOption.WRITE);
        Files.write(dataFile(cache, dirty), new byte[] {9}, StandardOpenOption.WRITE);
        Path orphan = Files.writeString(cache.resolve("data").resolve("zz"), "stray");

        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Fsck.Report check = Fsck.run(cache, false, new PrintStream(out, true));
        assertFalse(check.clean());
        assertEquals(3, check.problems().size(), out.toString());
        assertEquals(1, check.precious());
        assertTrue(Files.exists(orphan), "without --repair nothing changes");

        out.reset();
        Fsck.run(cache, true, new PrintStream(out, true));
        assertFalse(Files.exists(orphan));
        assertTrue(out.toString().contains("LOCAL CHANGES DAMAGED: dirty"), out.toString());
        try (CacheStore s = CacheStore.open(cache, CHUNK)) {
            assertEquals(1, s.index().data().chunks(broken.id()).size(), "the bad chunk was dropped, the good one kept");
            assertEquals(2, s.index().data().chunks(dirty.id()).size(), "dirty data is never dropped");
            assertEquals(2, s.index().data().chunks(clean.id()).size());
        }
        out.reset();
        Fsck.Report after = Fsck.run(cache, false, new PrintStream(out, true));
        assertEquals(1, after.problems().size(), "only the dirty object's damage remains: " + out);
    }

    @Test
    void fsckMovesACorruptIndexAsideAndDeletesNothing() throws Exception {
        Path cache = tmp.resolve("cache");
        try (CacheStore s = CacheStore.open(cache, CHUNK); Arena a = Arena.ofConfined()) {
            s.writeChunk(object(s, "f"), 0, bytes(a, new byte[10]));
        }
        Files.write(cache.resolve("index.db"), new byte[8192]);
        Files.deleteIfExists(cache.resolve("index.db-wal"));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        assertFalse(Fsck.run(cache, false, new PrintStream(out, true)).clean());
        Fsck.Report r = Fsck.run(cache, true, new PrintStream(out, true));
        assertTrue(r.repaired());
        try (var l = Files.list(cache)) {
            assertTrue(l.anyMatch(p -> p.getFileName().toString().startsWith("data.corrupt-")), "old data kept aside");
        }
        assertTrue(Fsck.run(cache, false, new PrintStream(out, true)).clean(), out.toString());
    }
}
