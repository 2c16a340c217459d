package dev.cachefs.offline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cachefs.index.CacheIndex;
import dev.cachefs.index.CacheStore;
import dev.cachefs.index.FileId;
import dev.cachefs.index.Fingerprint;
import dev.cachefs.index.IdentityMode;
import dev.cachefs.index.JournalRecord;
import dev.cachefs.index.ObjectState;
import dev.cachefs.lower.LowerFile;
import dev.cachefs.nativeio.Errno;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Libc;
import dev.cachefs.nativeio.Stat;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The offline layer on its own, over a real cache directory and no mount: changes are applied to
 * the index, their data kept in local copies, and each journaled as the typed record replay will
 * apply, in order.
 */
class OfflineFsTest {
    private static final byte[] FSID = {9};

    @TempDir
    Path tmp;

    private static Stat directory(long ino) {
        return new Stat(ino, 4096, 8, Libc.S_IFDIR | 0755, 2, 0, 0, 0, 0, 4096, 1, 0, 1, 0, 1, 0, 42);
    }

    /** A link that never reaches the lower (the mount stays offline). */
    private static final class Unreachable implements Connectivity.Link {
        @Override
        public void probe() throws Exception {
            throw new java.io.IOException("no lower in this test");
        }

        @Override
        public void reconnect() {}

        @Override
        public String onlineBlocker() {
            return "no lower in this test";
        }
    }

    @Test
    void changesAreAppliedToTheIndexAndJournaledAsRecordsInOrder() throws Exception {
        try (CacheStore store = CacheStore.open(tmp.resolve("cache"), 64 * 1024); Arena arena = Arena.ofConfined()) {
            CacheIndex ix = store.index();
            // What a mount saw online: the root, with its (empty) listing, current.
            Stat root = directory(1);
            FileId rootId = FileId.ofPath(FSID, "");
            ix.putAttrs(rootId, "", root);
            long rootObj = ix.upsert(rootId, "", ObjectState.METADATA_ONLY, Fingerprint.of(root)).id();
            ix.listings().putListing(rootObj, List.of(), true);
            Connectivity c = new Connectivity(new Unreachable(), Connectivity.Reconnect.MANUAL, 60_000,
                    Connectivity.Mode.OFFLINE, "test");
            OfflineFs fs = new OfflineFs(store, FSID, IdentityMode.PATH, c, 0,
                    p -> { throw new ErrnoException(Errno.ENOTCONN); });

            fs.mkdir("d", 0750);
            assertTrue(fs.stat("d").isDirectory());
            assertEquals(0750, fs.stat("d").mode() & 07777);
            LowerFile f = fs.open("d/f", Libc.O_WRONLY | Libc.O_CREAT, 0640);
            try {
                assertEquals(5, f.write(0, arena.allocateFrom("hello").asSlice(0, 5)));
            } finally {
                f.close();
            }
            assertEquals(5, fs.stat("d/f").size(), "the local copy's size");
            assertEquals(0, fs.localOpens());
            fs.rename("d/f", "d/g", 0);
            assertEquals(Errno.ENOENT, assertThrows(ErrnoException.class, () -> fs.stat("d/f")).errno());
            Path copy = fs.localCopy(ix.atPath("d/g").orElseThrow().id());
            assertEquals("hello", Files.readString(copy, StandardCharsets.UTF_8), "the data lives in its local copy");
            fs.chmod("d/g", 0600);
            assertEquals(0600, fs.stat("d/g").mode() & 07777);
            fs.unlink("d/g");
            assertEquals(Errno.ENOENT, assertThrows(ErrnoException.class, () -> fs.stat("d/g")).errno());
            assertEquals(Errno.ENOTCONN, assertThrows(ErrnoException.class, () -> fs.stat("elsewhere/x")).errno(),
                    "under a directory the cache never saw: not known offline");

            List<JournalRecord> journal = ix.offlineJournal().entries().stream().map(CacheIndex.JournalEntry::record).toList();
            List<Class<?>> kinds = journal.stream().<Class<?>>map(Object::getClass)
                    .filter(k -> k != JournalRecord.Write.class && k != JournalRecord.Truncate.class).toList();
            assertEquals(List.of(JournalRecord.Mkdir.class, JournalRecord.Create.class, JournalRecord.Rename.class,
                    JournalRecord.Chmod.class, JournalRecord.Unlink.class), kinds, journal.toString());
            assertEquals(new JournalRecord.Mkdir("d", 0750), journal.getFirst());
            assertTrue(journal.contains(new JournalRecord.Rename("d/f", "d/g", 0)), journal.toString());
            assertTrue(journal.contains(new JournalRecord.Chmod("d/g", 0600)), journal.toString());
            assertTrue(journal.contains(new JournalRecord.Unlink("d/g", null)), journal.toString());
            JournalRecord.Create made = (JournalRecord.Create) journal.get(1);
            assertEquals("d/f", made.path());
            assertEquals(0640, made.mode());
            c.close();
        }
    }
}
