package dev.cachefs.resync;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cachefs.cache.Policy;
import dev.cachefs.index.CacheIndex;
import dev.cachefs.index.CacheStore;
import dev.cachefs.index.FileId;
import dev.cachefs.index.Fingerprint;
import dev.cachefs.index.IdentityMode;
import dev.cachefs.index.ObjectState;
import dev.cachefs.lower.LocalLowerFs;
import dev.cachefs.lower.LowerFile;
import dev.cachefs.nativeio.Errno;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Libc;
import dev.cachefs.nativeio.Stat;
import dev.cachefs.offline.ConflictView;
import dev.cachefs.offline.Connectivity;
import dev.cachefs.offline.OfflineFs;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Replay on its own: changes made through the offline layer over a real cache directory, applied
 * to a real local lower directory with no mount; each type of record lands, the journal empties,
 * and a lower that changed too gives a conflict the rules settle.
 */
class ReplayerTest {
    private static final byte[] FSID = {7};

    @TempDir
    Path tmp;

    /** A link that never reaches the lower: the offline layer stays offline while the test replays. */
    private static final class Unreachable implements Connectivity.Link {
        @Override
        public void probe() throws Exception {
            throw new java.io.IOException("no probe in this test");
        }

        @Override
        public void reconnect() {}

        @Override
        public String onlineBlocker() {
            return "no probe in this test";
        }
    }

    /** The root as an online mount left it in the index: its attributes and its whole listing. */
    private static void rootSeen(CacheIndex ix, Path lowerDir) throws Exception {
        Stat root = Libc.lstat(lowerDir.toString());
        FileId rootId = FileId.ofPath(FSID, "");
        ix.putAttrs(rootId, "", root);
        long rootObj = ix.upsert(rootId, "", ObjectState.METADATA_ONLY, Fingerprint.of(root)).id();
        ix.listings().putListing(rootObj, List.of(), true);
    }

    private static void write(OfflineFs fs, String path, String content) throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            LowerFile f = fs.open(path, Libc.O_WRONLY | Libc.O_CREAT, 0644);
            try {
                byte[] b = content.getBytes(StandardCharsets.UTF_8);
                f.write(0, arena.allocateFrom(java.lang.foreign.ValueLayout.JAVA_BYTE, b));
            } finally {
                f.close();
            }
        }
    }

    private record Setup(CacheStore store, OfflineFs fs, Connectivity connectivity, ConflictView view) implements AutoCloseable {
        @Override
        public void close() {
            view.close();
            connectivity.close();
            store.close();
        }
    }

    private Setup setUp(Path lowerDir) throws Exception {
        CacheStore store = CacheStore.open(tmp.resolve("cache"), 64 * 1024);
        rootSeen(store.index(), lowerDir);
        Connectivity c = new Connectivity(new Unreachable(), Connectivity.Reconnect.MANUAL, 60_000,
                Connectivity.Mode.OFFLINE, "test");
        OfflineFs fs = new OfflineFs(store, FSID, IdentityMode.PATH, c, 0, p -> { throw new ErrnoException(Errno.ENOTCONN); });
        ConflictView view = new ConflictView(store, fs);
        return new Setup(store, fs, c, view);
    }

    @Test
    void everyKindOfOfflineChangeLandsOnTheLowerAndTheJournalEmpties() throws Exception {
        Path lowerDir = Files.createDirectory(tmp.resolve("lower"));
        try (Setup s = setUp(lowerDir); LocalLowerFs lower = new LocalLowerFs(lowerDir.toString())) {
            s.fs().mkdir("d", 0750);
            write(s.fs(), "d/a.txt", "alpha");
            write(s.fs(), "d/b.txt", "beta");
            s.fs().rename("d/b.txt", "d/c.txt", 0);
            s.fs().symlink("a.txt", "d/link");
            s.fs().chmod("d/a.txt", 0600);
            write(s.fs(), "gone.txt", "never lands");
            s.fs().unlink("gone.txt");

            Replayer r = new Replayer(s.store(), s.fs(), IdentityMode.PATH, s.connectivity(), s.view(), List.of());
            Replayer.Outcome o = r.replay(lower);
            assertEquals(0, o.conflicts(), o.toString());
            assertEquals(0, s.store().index().offlineJournal().size(), "every entry is marked done");
            assertEquals("alpha", Files.readString(lowerDir.resolve("d/a.txt")));
            assertEquals("beta", Files.readString(lowerDir.resolve("d/c.txt")), "written, then renamed");
            assertFalse(Files.exists(lowerDir.resolve("d/b.txt")));
            assertFalse(Files.exists(lowerDir.resolve("gone.txt")), "made and removed offline: nothing reaches the lower");
            assertEquals("a.txt", Files.readSymbolicLink(lowerDir.resolve("d/link")).toString());
            assertEquals(0600, Libc.lstat(lowerDir.resolve("d/a.txt").toString()).mode() & 07777);
            assertEquals(0750, Libc.lstat(lowerDir.resolve("d").toString()).mode() & 07777);
            try (Stream<Path> left = Files.list(lowerDir.resolve("d"))) {
                assertTrue(left.noneMatch(p -> p.getFileName().toString().startsWith(".cachefs-upload-")),
                        "no temporary upload file is left behind");
            }

            r.retire(null, null);
            assertTrue(s.store().index().changedOffline().isEmpty(), "the local copies are retired");
            assertEquals(Boolean.TRUE, r.takeReplayedPaths().contains("d/a.txt"));
        }
    }

    @Test
    void aNameTheLowerMadeMeanwhileIsAConflictTheRulesSettle() throws Exception {
        Path lowerDir = Files.createDirectory(tmp.resolve("lower"));
        try (Setup s = setUp(lowerDir); LocalLowerFs lower = new LocalLowerFs(lowerDir.toString())) {
            write(s.fs(), "both.txt", "mine");
            write(s.fs(), "asked.md", "mine too");
            Files.writeString(lowerDir.resolve("both.txt"), "theirs"); // made on the server while offline
            Files.writeString(lowerDir.resolve("asked.md"), "theirs too");

            List<Policy.ConflictRule> rules = List.of(new Policy.ConflictRule(Policy.glob("*.txt"), "keep-both"));
            Replayer r = new Replayer(s.store(), s.fs(), IdentityMode.PATH, s.connectivity(), s.view(), rules);
            Replayer.Outcome o = r.replay(lower);
            assertEquals(2, o.conflicts(), o.toString());
            assertEquals(1, o.open(), "the .md file has no rule: ask, left open");
            assertEquals("theirs", Files.readString(lowerDir.resolve("both.txt")), "keep-both keeps the lower's file");
            try (Stream<Path> all = Files.list(lowerDir)) {
                List<Path> copies = all.filter(p -> p.getFileName().toString().startsWith("both.conflict-")).toList();
                assertEquals(1, copies.size(), "and the local version beside it");
                assertEquals("mine", Files.readString(copies.getFirst()));
            }
            assertEquals("theirs too", Files.readString(lowerDir.resolve("asked.md")), "an open conflict changes nothing");
            List<CacheIndex.Conflict> log = s.store().index().conflictLog().all();
            assertEquals(2, log.size());
            assertTrue(log.stream().anyMatch(c -> c.path().equals("asked.md") && c.open()), log.toString());
            assertTrue(s.view().open().containsKey("asked.md"), "the view shows it");
        }
    }
}
