package dev.cachefs.offline;

import static dev.cachefs.offline.OfflineSuite.within;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cachefs.harness.Stack;
import dev.cachefs.index.CacheIndex;
import dev.cachefs.mount.Uplink;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Write-back ({@code -o writeback}) over one real lower (a subclass names it): what is written
 * through the mount is read back at once, reaches the lower only when uploaded, and reaches it
 * whole; a server-side edit of a queued file is a conflict, never overwritten; a deleted queued
 * file is never uploaded; a new file renamed is renamed in the queue; the link cut or the daemon gone mid-queue
 * loses nothing and uploads once.
 */
@Timeout(300)
abstract class WriteBackSuite extends SuiteOnLower {
    /** Long enough that nothing goes up by itself during a test: uploads are asked for. */
    private static final long DELAY_MS = 600_000;

    private static Uplink.Options options() {
        return OfflineSuite.uplinkOptions().withWriteBack(DELAY_MS);
    }

    private Stack mount() throws Exception {
        fx = Stack.on(lower).uplink(options()).mount();
        return fx;
    }

    private static byte[] random(int size, long seed) {
        byte[] b = new byte[size];
        new Random(seed).nextBytes(b);
        return b;
    }

    private static int journal(Stack s) throws Exception {
        return s.uplink.journal().size();
    }

    @Test
    void writesAreReadBackAtOnceAndReachTheLowerOnlyWhenUploaded() throws Exception {
        Stack s = mount();
        Path lowerDir = Files.createDirectories(s.lower.resolve("wb"));
        Files.writeString(lowerDir.resolve("cached.txt"), "old cached\n");
        byte[] big = random(3 << 20, 1);
        Files.write(lowerDir.resolve("uncached.bin"), big);
        Path m = s.mnt.resolve("wb");
        assertEquals("old cached\n", Files.readString(m.resolve("cached.txt"))); // now cached whole

        Files.writeString(m.resolve("cached.txt"), "new cached\n");
        byte[] tail = random(100_000, 2);
        Files.write(m.resolve("uncached.bin"), tail, StandardOpenOption.APPEND); // not cached: fetched for its copy
        byte[] fresh = random(2 << 20, 3);
        Files.write(m.resolve("new.bin"), fresh);

        // The mount shows the new versions at once ...
        assertEquals("new cached\n", Files.readString(m.resolve("cached.txt")));
        byte[] appended = Arrays.copyOf(big, big.length + tail.length);
        System.arraycopy(tail, 0, appended, big.length, tail.length);
        assertTrue(Arrays.equals(appended, Files.readAllBytes(m.resolve("uncached.bin"))), "appended through the mount");
        assertEquals(appended.length, Files.size(m.resolve("uncached.bin")));
        assertTrue(Arrays.equals(fresh, Files.readAllBytes(m.resolve("new.bin"))));
        // The kernel wrote and read the local copies itself (FUSE passthrough), not through the daemon.
        assertTrue(s.stats().localPassthroughOpens.sum() >= 3, "local copies passed through: "
                + s.stats().localPassthroughOpens.sum());
        // ... and the lower has not got them.
        assertEquals("old cached\n", Files.readString(lowerDir.resolve("cached.txt")));
        assertEquals(big.length, Files.size(lowerDir.resolve("uncached.bin")));
        assertFalse(Files.exists(lowerDir.resolve("new.bin")), "a new file is made on the lower by its upload");
        assertTrue(journal(s) > 0, "changes wait in the journal");

        assertTrue(s.uplink.uploadQueued(120_000), "the queue uploads");
        assertEquals(0, journal(s));
        assertEquals("new cached\n", Files.readString(lowerDir.resolve("cached.txt")));
        assertTrue(Arrays.equals(appended, Files.readAllBytes(lowerDir.resolve("uncached.bin"))), "on the lower after sync");
        assertTrue(Arrays.equals(fresh, Files.readAllBytes(lowerDir.resolve("new.bin"))));
        // Through the mount, as the lower has it now.
        assertEquals("new cached\n", Files.readString(m.resolve("cached.txt")));
        assertTrue(Arrays.equals(appended, Files.readAllBytes(m.resolve("uncached.bin"))));
        assertEquals(Set.of("cached.txt", "new.bin", "uncached.bin"), names(lowerDir), "no stray upload files");
    }

    @Test
    void repeatedWritesToOneFileGoUpAsOneUpload() throws Exception {
        Stack s = mount();
        Path m = Files.createDirectories(s.mnt.resolve("coalesce"));
        for (int i = 0; i < 20; i++) {
            Files.writeString(m.resolve("log.txt"), "line " + i + "\n", StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        }
        int queued = journal(s);
        assertTrue(s.uplink.uploadQueued(60_000));
        StringBuilder want = new StringBuilder();
        for (int i = 0; i < 20; i++) {
            want.append("line ").append(i).append('\n');
        }
        assertEquals(want.toString(), Files.readString(s.lower.resolve("coalesce/log.txt")));
        assertTrue(queued <= 3, "one local copy for twenty opens, not one change each: " + queued + " journal entries");
    }

    @Test
    void withSyncFsyncAnFsyncReturnsOnceTheFileIsOnTheLower() throws Exception {
        fx = Stack.on(lower).uplink(options().withSyncFsync(true)).mount();
        Stack s = fx;
        Path m = Files.createDirectories(s.mnt.resolve("sync"));
        try (var ch = java.nio.channels.FileChannel.open(m.resolve("db.log"), StandardOpenOption.CREATE,
                StandardOpenOption.WRITE)) {
            ch.write(java.nio.ByteBuffer.wrap("first record\n".getBytes()));
            // With sync_fsync a new file is made on the lower at once (empty), so that an fsync can send its data.
            assertEquals(0, Files.size(s.lower.resolve("sync/db.log")), "not on the lower before the fsync");
            ch.force(true);
            assertEquals("first record\n", Files.readString(s.lower.resolve("sync/db.log")), "on the lower once fsync returns");
            ch.write(java.nio.ByteBuffer.wrap("second record\n".getBytes()));
        }
        assertTrue(s.uplink.uploadQueued(60_000));
        assertEquals("first record\nsecond record\n", Files.readString(s.lower.resolve("sync/db.log")));
        assertTrue(s.uplink.conflicts().isEmpty(), "its own earlier upload is no conflict: " + s.uplink.conflicts());
    }

    @Test
    void aServerEditOfAQueuedFileIsAConflictAndNeitherVersionIsLost() throws Exception {
        Stack s = mount();
        Path lowerDir = Files.createDirectories(s.lower.resolve("cf"));
        Files.writeString(lowerDir.resolve("doc.txt"), "base\n");
        Path m = s.mnt.resolve("cf");
        assertEquals("base\n", Files.readString(m.resolve("doc.txt")));
        Files.writeString(m.resolve("doc.txt"), "ours\n");
        Files.writeString(lowerDir.resolve("doc.txt"), "theirs, edited on the server\n");

        assertTrue(s.uplink.uploadQueued(60_000));
        assertEquals("theirs, edited on the server\n", Files.readString(lowerDir.resolve("doc.txt")), "never overwritten");
        CacheIndex.Conflict c = s.uplink.conflicts().stream().filter(x -> x.path().equals("cf/doc.txt")).findFirst()
                .orElseThrow(() -> new AssertionError("a conflict at cf/doc.txt"));
        assertEquals("both-updated", c.kind());
        assertTrue(c.open(), "the default rule asks");
        assertEquals("ours\n", Files.readString(m.resolve("doc.txt")), "the mount shows the local version until resolved");
        Path view = s.mnt.resolve(".cachefs/conflicts/cf/doc.txt");
        assertEquals("theirs, edited on the server\n", Files.readString(view.resolve("remote")));
        assertEquals("base\n", Files.readString(view.resolve("base")));
    }

    @Test
    void aQueuedFileDeletedBeforeItsUploadIsNeverUploaded() throws Exception {
        Stack s = mount();
        Path m = Files.createDirectories(s.mnt.resolve("tmp"));
        Files.writeString(m.resolve("scratch.tmp"), "short-lived");
        Files.writeString(m.resolve("kept.txt"), "kept");
        Files.delete(m.resolve("scratch.tmp"));
        assertFalse(Files.exists(m.resolve("scratch.tmp")));
        assertFalse(Files.exists(s.lower.resolve("tmp/scratch.tmp")), "the name went from the lower at once");
        assertTrue(s.uplink.uploadQueued(60_000));
        assertEquals(Set.of("kept.txt"), names(s.lower.resolve("tmp")));
        assertEquals("kept", Files.readString(s.lower.resolve("tmp/kept.txt")));
        assertEquals(0, journal(s));
    }

    @Test
    void newFilesAreMadeOnTheLowerByTheirUploadAndListedMeanwhile() throws Exception {
        Stack s = mount();
        s.fs.metaTtl(60_000); // as mounted by default (meta_ttl 30 s)
        Path lowerOld = Files.createDirectories(s.lower.resolve("ns/old"));
        Files.writeString(lowerOld.resolve("there.txt"), "on the lower");
        Path m = s.mnt.resolve("ns");
        assertEquals(Set.of("there.txt"), names(m.resolve("old"))); // listed once, as the lower has it
        Path fresh = Files.createDirectory(m.resolve("fresh")); // names of directories are written through
        long lowerCalls = s.stats().lowerCalls.sum();
        for (int i = 0; i < 40; i++) {
            Files.writeString(fresh.resolve("f" + i), "file " + i);
        }
        Files.writeString(m.resolve("old/new.txt"), "made through the mount");
        Files.delete(fresh.resolve("f7")); // made and deleted before its upload: never on the lower
        // The lookups of the new names were answered without the lower (the mount made the
        // directory), and the creates were journaled: not one lower call per file.
        assertTrue(s.stats().knownAbsent.sum() >= 40, "lookups answered from the names the mount knows: "
                + s.stats().knownAbsent.sum());
        assertTrue(s.stats().lowerCalls.sum() - lowerCalls < 20, "lower calls for 41 creates: "
                + (s.stats().lowerCalls.sum() - lowerCalls));
        assertTrue(Files.isDirectory(s.lower.resolve("ns/fresh")));
        assertEquals(Set.of(), names(s.lower.resolve("ns/fresh")), "the lower has none of them before the upload");
        assertEquals(Set.of("there.txt"), names(lowerOld));
        // The mount lists and reads them at once, with what the lower has.
        assertEquals(39, names(fresh).size());
        assertFalse(names(fresh).contains("f7"));
        assertEquals(Set.of("there.txt", "new.txt"), names(m.resolve("old")));
        assertEquals("file 3", Files.readString(fresh.resolve("f3")));
        assertEquals("made through the mount", Files.readString(m.resolve("old/new.txt")));

        assertTrue(s.uplink.uploadQueued(120_000), "the queue uploads");
        assertEquals(0, journal(s));
        assertEquals(names(fresh), names(s.lower.resolve("ns/fresh")));
        for (int i = 0; i < 40; i++) {
            if (i != 7) {
                assertEquals("file " + i, Files.readString(s.lower.resolve("ns/fresh/f" + i)));
            }
        }
        assertEquals("made through the mount", Files.readString(lowerOld.resolve("new.txt")));
        assertEquals("file 5", Files.readString(fresh.resolve("f5")), "read through the mount after its upload");
        assertTrue(s.uplink.conflicts().isEmpty(), "no conflicts: " + s.uplink.conflicts());
    }

    @Test
    void aNameMadeOnTheServerBeforeTheUploadOfANewFileKeepsBoth() throws Exception {
        Stack s = mount();
        Path lowerDir = Files.createDirectories(s.lower.resolve("race"));
        Path m = s.mnt.resolve("race");
        assertEquals(Set.of(), names(m));
        Files.writeString(m.resolve("report.txt"), "ours");
        Files.writeString(lowerDir.resolve("report.txt"), "theirs, made on the server meanwhile");
        assertTrue(s.uplink.uploadQueued(120_000));
        // Nothing overwritten: the lower keeps its file; the conflict is open (the default rule asks).
        assertEquals("theirs, made on the server meanwhile", Files.readString(lowerDir.resolve("report.txt")));
        CacheIndex.Conflict c = s.uplink.conflicts().stream().filter(x -> x.path().equals("race/report.txt")).findFirst()
                .orElseThrow(() -> new AssertionError("a conflict at race/report.txt"));
        assertEquals("both-created", c.kind());
        assertTrue(c.open(), "the default rule asks");
        assertEquals("ours", Files.readString(m.resolve("report.txt")), "the mount shows the local version until resolved");
        assertEquals("theirs, made on the server meanwhile",
                Files.readString(s.mnt.resolve(".cachefs/conflicts/race/report.txt/remote")));
    }

    @Test
    void aDirectoryRemovedOnTheServerBeforeTheUploadOfItsNewFilesIsMadeAgainOnce() throws Exception {
        Stack s = mount();
        Path lowerDir = Files.createDirectories(s.lower.resolve("gone"));
        Path m = s.mnt.resolve("gone");
        assertEquals(Set.of(), names(m));
        for (int i = 0; i < 40; i++) {
            Files.writeString(m.resolve("f" + i), "file " + i);
        }
        Files.delete(lowerDir); // removed on the server while its new files wait for upload
        // The files go up side by side: each finds the directory gone and makes it again; the
        // uploads that lose that race must go on (they used to stop the upload with EEXIST).
        assertTrue(s.uplink.uploadQueued(120_000), "the queue uploads");
        assertEquals(0, journal(s));
        for (int i = 0; i < 40; i++) {
            assertEquals("file " + i, Files.readString(lowerDir.resolve("f" + i)));
        }
        long said = s.uplink.conflicts().stream().filter(c -> c.kind().equals("created-in-directory-removed-remotely")).count();
        assertEquals(1, said, "the directory made again is said once: " + s.uplink.conflicts());
    }

    @Test
    void aDirectoryWhoseNewFilesWaitForUploadIsNotEmpty() throws Exception {
        Stack s = mount();
        Path m = Files.createDirectories(s.mnt.resolve("keep"));
        Files.writeString(m.resolve("new.txt"), "not on the lower yet");
        assertEquals(Set.of(), names(s.lower.resolve("keep")), "the lower's directory is empty");
        java.nio.file.DirectoryNotEmptyException e = org.junit.jupiter.api.Assertions.assertThrows(
                java.nio.file.DirectoryNotEmptyException.class, () -> Files.delete(m), "rmdir of a directory the mount lists files in");
        assertTrue(e.getMessage().contains("keep"), e.getMessage());
        assertEquals("not on the lower yet", Files.readString(m.resolve("new.txt")));
        assertTrue(s.uplink.uploadQueued(60_000));
        assertEquals("not on the lower yet", Files.readString(s.lower.resolve("keep/new.txt")));
        assertTrue(s.uplink.conflicts().isEmpty(), "no conflicts: " + s.uplink.conflicts());
        Files.delete(m.resolve("new.txt"));
        Files.delete(m); // empty now
        assertFalse(Files.exists(s.lower.resolve("keep")));
    }

    @Test
    void aHardLinkedFileIsWrittenThroughSoItsOtherNameSeesTheWriteAndTheLinkHolds() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(lower.capabilities().contains(dev.cachefs.harness.Lower.Capability.HARD_LINKS),
                "the lower has no hard links");
        Stack s = mount();
        Path lowerDir = Files.createDirectories(s.lower.resolve("links"));
        Files.writeString(lowerDir.resolve("a"), "version 1");
        Files.createLink(lowerDir.resolve("b"), lowerDir.resolve("a"));
        // sshfs shows every file with one link (SFTP's attributes have no link count): no client of
        // it can tell a hard link, and an upload replaces the name it writes (user guide).
        org.junit.jupiter.api.Assumptions.assumeTrue(2 == (int) Files.getAttribute(lowerDir.resolve("a"), "unix:nlink"),
                "the lower does not show link counts");
        Path m = s.mnt.resolve("links");
        assertEquals("version 1", Files.readString(m.resolve("b"))); // cached
        try (var ch = java.nio.channels.FileChannel.open(m.resolve("a"), StandardOpenOption.WRITE)) {
            ch.write(java.nio.ByteBuffer.wrap("version 2".getBytes(java.nio.charset.StandardCharsets.US_ASCII)), 0);
        }
        // One file with two names: a local copy of one name would leave the other showing the old
        // data until the upload, and the upload (a new file renamed over the name) would split them.
        assertEquals("version 2", Files.readString(m.resolve("b")), "the other name sees the write at once");
        assertEquals("version 2", Files.readString(m.resolve("a")));
        assertTrue(s.uplink.uploadQueued(60_000));
        Path onServer = lower instanceof dev.cachefs.harness.NetworkLower n
                ? n.serverDir().resolve(lower.root().relativize(lowerDir).toString()) : lowerDir;
        assertEquals("version 2", Files.readString(onServer.resolve("b")));
        assertEquals(2, Files.getAttribute(onServer.resolve("a"), "unix:nlink"), "still one file with two names");
        assertEquals(Files.getAttribute(onServer.resolve("a"), "unix:ino"), Files.getAttribute(onServer.resolve("b"), "unix:ino"));
        assertTrue(s.uplink.conflicts().isEmpty(), "no conflicts: " + s.uplink.conflicts());
    }

    /**
     * A change to a queued file's copy made through a kernel node the daemon knew before (its
     * cache object holds the version the lower had then) stays the queue's: before, telling the
     * cache layer of it gave that older version's index row the path, the queue lost the file, and
     * the mount showed the lower's version until the upload (RandomOpsIT's write-back seed 12).
     */
    @Test
    void aChangeToAQueuedFileThroughTheNodeOfAnOlderVersionStaysQueuedAndShown() throws Exception {
        Stack s = mount();
        Path lowerDir = Files.createDirectories(s.lower.resolve("older"));
        Files.writeString(lowerDir.resolve("f"), "version 1, the first file on the lower\n");
        Path m = s.mnt.resolve("older");
        assertEquals("version 1, the first file on the lower\n", Files.readString(m.resolve("f"))); // its node, its cached data
        // The server replaces the file (a new one renamed over it): another object at the same path.
        Files.writeString(lowerDir.resolve("f.new"), "version 2, the server's\n");
        Files.move(lowerDir.resolve("f.new"), lowerDir.resolve("f"), java.nio.file.StandardCopyOption.ATOMIC_MOVE,
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        // Written through the mount: queued, its copy made from what the lower has now.
        Files.writeString(m.resolve("f"), "version 3, ours, written back\n");
        assertTrue(s.uplink.offlineFs().queue().queued("older/f"), "queued");
        // A truncate and a mode change of the copy, through the node the kernel had for the path.
        dev.cachefs.nativeio.Libc.truncate(dev.cachefs.harness.Sys.raw(m.resolve("f")), 9);
        Files.setPosixFilePermissions(m.resolve("f"), java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
        s.cache.flushIndex(); // what the cache layer was told is in the index
        assertTrue(s.uplink.offlineFs().queue().queued("older/f"), "still queued after changes to its copy");
        assertEquals("version 3", Files.readString(m.resolve("f")), "the mount shows the copy, truncated");
        assertEquals("version 2, the server's\n", Files.readString(lowerDir.resolve("f")), "the lower untouched before the upload");
        assertTrue(s.uplink.uploadQueued(60_000));
        Path onServer = lower instanceof dev.cachefs.harness.NetworkLower n
                ? n.serverDir().resolve(lower.root().relativize(lowerDir).toString()) : lowerDir;
        assertEquals("version 3", Files.readString(onServer.resolve("f")));
        assertEquals("version 3", Files.readString(m.resolve("f")));
        assertTrue(s.uplink.conflicts().isEmpty(), "no conflicts: " + s.uplink.conflicts());
    }

    @Test
    void aNewFileRenamedOverAnotherIsRenamedInTheQueueAndUploadedInOrder() throws Exception {
        Stack s = mount();
        Path m = savedOverAnUploadedFile(s, "save", "version 2");
        assertEquals("version 1", Files.readString(s.lower.resolve("save/doc.txt")), "the lower is untouched until the upload");
        assertEquals(Set.of("doc.txt"), names(s.lower.resolve("save")));
        assertEquals("version 2", Files.readString(m.resolve("doc.txt")));
        assertEquals(Set.of("doc.txt"), names(m));
        // A new name too (a build's output moved into place).
        Files.writeString(m.resolve("out.tmp"), "built");
        Files.move(m.resolve("out.tmp"), m.resolve("out.bin"));
        assertEquals(Set.of("doc.txt", "out.bin"), names(m));
        assertFalse(Files.exists(s.lower.resolve("save/out.bin")));
        // Two files to send; the replaced version's removal is a change, not a file.
        java.util.Map<String, String> st = new java.util.TreeMap<>();
        s.uplink.status(st);
        assertTrue(st.get("upload queue").startsWith("2 files, 14 bytes, 1 other change "), st.get("upload queue"));

        assertTrue(s.uplink.uploadQueued(60_000), "the queue uploads");
        assertEquals(0, journal(s));
        assertEquals("version 2", Files.readString(s.lower.resolve("save/doc.txt")));
        assertEquals("built", Files.readString(s.lower.resolve("save/out.bin")));
        assertEquals(Set.of("doc.txt", "out.bin"), names(s.lower.resolve("save")), "no temporary name left on the lower");
        assertTrue(s.uplink.conflicts().isEmpty(), "no conflicts: " + s.uplink.conflicts());
        assertEquals("version 2", Files.readString(m.resolve("doc.txt")), "read through the mount after the upload");
    }

    /**
     * An editor's save in directory {@code dir} of the mount: doc.txt ("version 1") made and
     * uploaded, then {@code ours} written to a new file renamed over it. Nothing waits for the lower.
     */
    private static Path savedOverAnUploadedFile(Stack s, String dir, String ours) throws Exception {
        Path m = Files.createDirectories(s.mnt.resolve(dir));
        Files.writeString(m.resolve("doc.txt"), "version 1");
        assertTrue(s.uplink.uploadQueued(60_000));
        Files.writeString(m.resolve(".doc.txt.swp"), ours);
        Files.move(m.resolve(".doc.txt.swp"), m.resolve("doc.txt"), java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        return m;
    }

    @Test
    void aNewFileRenamedOverOneTheServerChangedMeanwhileIsAConflictAndNeitherIsLost() throws Exception {
        Stack s = mount();
        Path m = savedOverAnUploadedFile(s, "both", "ours");
        Files.writeString(s.lower.resolve("both/doc.txt"), "theirs, edited on the server meanwhile");
        assertTrue(s.uplink.uploadQueued(60_000));
        assertEquals("theirs, edited on the server meanwhile", Files.readString(s.lower.resolve("both/doc.txt")),
                "the server's edit is not overwritten");
        boolean oursThere = false;
        for (String n : names(s.lower.resolve("both"))) {
            oursThere |= Files.readString(s.lower.resolve("both/" + n)).equals("ours");
        }
        assertTrue(oursThere, "ours is on the lower beside it: " + names(s.lower.resolve("both")));
        assertFalse(s.uplink.conflicts().isEmpty(), "said as a conflict");
    }

    @Test
    void theLinkCutMidQueueLosesNothingAndUploadsOnce() throws Exception {
        Stack s = mount();
        Path m = Files.createDirectories(s.mnt.resolve("cut"));
        byte[] data = random(1 << 20, 7);
        Files.write(m.resolve("a.bin"), data);
        Files.writeString(m.resolve("b.txt"), "b");
        takeLowerAway(s);
        // Offline the queue is what the mount serves, and more can be written.
        assertTrue(Arrays.equals(data, Files.readAllBytes(m.resolve("a.bin"))));
        within(OfflineSuite.SLACK_MS, "an offline write", () -> Files.writeString(m.resolve("b.txt"), "b, then more"));
        if (lower.isNetwork()) {
            restore();
        } else {
            s.uplink.connectivity().goOnline("test", true);
        }
        awaitOnline(s);
        assertTrue(s.uplink.uploadQueued(60_000));
        assertTrue(Arrays.equals(data, Files.readAllBytes(s.lower.resolve("cut/a.bin"))));
        assertEquals("b, then more", Files.readString(s.lower.resolve("cut/b.txt")));
        assertEquals(Set.of("a.bin", "b.txt"), names(s.lower.resolve("cut")), "nothing twice, no conflict copies");
    }

    @Test
    void aQueueLeftByAnEarlierMountIsUploadedByTheNextExactlyOnce() throws Exception {
        Stack s = mount();
        Path m = Files.createDirectories(s.mnt.resolve("left"));
        Files.writeString(m.resolve("one.txt"), "written before the daemon went away");
        // Offline, an unmount cannot upload: the queue stays in the journal for the next mount.
        s.uplink.connectivity().forceOffline();
        s.close();
        fx = null;
        assertFalse(Files.exists(s.lower.resolve("left/one.txt")), "not uploaded yet");
        fx = Stack.again(s).uplink(options()).mount();
        Stack t = fx;
        awaitOnline(t);
        assertTrue(t.uplink.uploadQueued(60_000));
        assertEquals("written before the daemon went away", Files.readString(t.lower.resolve("left/one.txt")));
        assertEquals(Set.of("one.txt"), names(t.lower.resolve("left")));
        assertEquals("written before the daemon went away", Files.readString(t.mnt.resolve("left/one.txt")));
    }

    @Test
    void aFileRewrittenAfterItsUploadIsServedInItsNewVersionAfterTheNextMountUploadsIt() throws Exception {
        Stack s = mount();
        Path m = Files.createDirectories(s.mnt.resolve("again"));
        byte[] v1 = random(2_177_679, 11);
        Files.write(m.resolve("f.bin"), v1);
        assertTrue(s.uplink.uploadQueued(60_000));
        assertTrue(Arrays.equals(v1, Files.readAllBytes(m.resolve("f.bin"))));
        byte[] v2 = random(29_256, 12);
        Files.write(m.resolve("f.bin"), v2);
        s.uplink.connectivity().forceOffline();
        s.close();
        fx = null;
        fx = Stack.again(s).uplink(options()).mount();
        Stack t = fx;
        awaitOnline(t);
        assertTrue(t.uplink.uploadQueued(60_000));
        assertTrue(Arrays.equals(v2, Files.readAllBytes(t.lower.resolve("again/f.bin"))), "the lower has the new version");
        assertEquals(v2.length, Files.size(t.mnt.resolve("again/f.bin")));
        assertTrue(Arrays.equals(v2, Files.readAllBytes(t.mnt.resolve("again/f.bin"))), "the mount serves the new version");
    }

    @Test
    void anUnmountUploadsWhatIsQueuedAndEnds() throws Exception {
        Stack s = mount();
        Path m = Files.createDirectories(s.mnt.resolve("many"));
        for (int i = 0; i < 120; i++) {
            Files.writeString(m.resolve("f" + i), "file " + i);
        }
        assertTrue(journal(s) > 0);
        // The unmount uploads the queue, and its uploader stops before the cache layer closes (an
        // upload still retiring into a closed cache layer used to hold the daemon for minutes).
        org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(java.time.Duration.ofSeconds(90), s::close,
                "the unmount ends");
        fx = null;
        for (int i = 0; i < 120; i++) {
            assertEquals("file " + i, Files.readString(s.lower.resolve("many/f" + i)));
        }
    }

    /** Waits until the mount has reconnected (and so replayed what waited). */
    private static void awaitOnline(Stack s) throws Exception {
        within(60_000, "online again", () -> {
            while (s.uplink.connectivity().offline()) {
                TimeUnit.MILLISECONDS.sleep(100);
            }
            return null;
        });
    }

    private static Set<String> names(Path dir) throws Exception {
        Set<String> out = new TreeSet<>();
        try (var l = Files.list(dir)) {
            l.forEach(p -> out.add(p.getFileName().toString()));
        }
        return out;
    }
}
