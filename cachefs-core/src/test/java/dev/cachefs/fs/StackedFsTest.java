package dev.cachefs.fs;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cachefs.cache.CacheLayer;
import dev.cachefs.cache.CacheStats;
import dev.cachefs.fuse.Ctx;
import dev.cachefs.fuse.Entry;
import dev.cachefs.fuse.Fuse;
import dev.cachefs.fuse.FuseFilesystem;
import dev.cachefs.fuse.OpenResult;
import dev.cachefs.index.CacheStore;
import dev.cachefs.index.IdentityMode;
import dev.cachefs.index.LowerIdentity;
import dev.cachefs.lower.CountingLowerFs;
import dev.cachefs.lower.LocalLowerFs;
import dev.cachefs.lower.LowerFs;
import dev.cachefs.nativeio.Errno;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Libc;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.LongAdder;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The FUSE adapter driven directly, as the kernel would, with no mount: over a local lower with no
 * cache under it, and with the cache, where a second open reads nothing from the lower and a
 * change made on the lower is seen by the next open (close-to-open).
 */
class StackedFsTest {
    private static final Ctx ME = Ctx.of(0, 0, 1);
    private static final StackedFs.Options OPTIONS = new StackedFs.Options(1_000_000_000L, 1_000_000_000L, false);

    @TempDir
    Path tmp;

    private static String readAll(StackedFs fs, long node, int size) throws ErrnoException {
        OpenResult o = fs.open(ME, node, Libc.O_RDONLY);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(size + 16);
            int n = fs.read(ME, node, o.fh(), 0, buf);
            return new String(buf.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
        } finally {
            fs.release(ME, node, o.fh(), 0);
        }
    }

    @Test
    void withoutACacheEveryRequestIsTheLowersOwn() throws Exception {
        Path lowerDir = Files.createDirectory(tmp.resolve("lower"));
        try (LocalLowerFs lower = new LocalLowerFs(lowerDir.toString()); Arena arena = Arena.ofConfined()) {
            StackedFs fs = new StackedFs(lower, OPTIONS);
            Entry d = fs.mkdir(ME, Fuse.ROOT_ID, "d", 0755);
            FuseFilesystem.Created c = fs.create(ME, d.nodeid(), "f", Libc.O_WRONLY, 0644);
            byte[] data = "stacked".getBytes(StandardCharsets.UTF_8);
            assertEquals(data.length, fs.write(ME, c.entry().nodeid(), c.open().fh(), 0,
                    arena.allocateFrom(ValueLayout.JAVA_BYTE, data), 0));
            fs.release(ME, c.entry().nodeid(), c.open().fh(), 0);
            assertEquals(0, fs.openFiles());
            assertArrayEquals(data, Files.readAllBytes(lowerDir.resolve("d/f")));

            Entry again = fs.lookup(ME, d.nodeid(), "f");
            assertEquals(c.entry().nodeid(), again.nodeid(), "one node per lower object");
            assertEquals("stacked", readAll(fs, again.nodeid(), data.length));
            fs.rename(ME, d.nodeid(), "f", Fuse.ROOT_ID, "g", 0);
            assertTrue(Files.exists(lowerDir.resolve("g")));
            assertEquals(Errno.ENOENT, assertThrows(ErrnoException.class, () -> fs.lookup(ME, d.nodeid(), "f")).errno());
            fs.unlink(ME, Fuse.ROOT_ID, "g");
            assertFalse(Files.exists(lowerDir.resolve("g")));
            assertEquals(Errno.ENAMETOOLONG, assertThrows(ErrnoException.class,
                    () -> fs.lookup(ME, Fuse.ROOT_ID, "n".repeat(256))).errno());
        }
    }

    @Test
    void theKernelMayKeepAnAnswerAsLongAsTheDaemonTrustsIt() throws Exception {
        Path lowerDir = Files.createDirectory(tmp.resolve("lower"));
        Files.writeString(lowerDir.resolve("f"), "x");
        try (LocalLowerFs lower = new LocalLowerFs(lowerDir.toString())) {
            StackedFs fs = new StackedFs(lower, OPTIONS);
            Entry plain = fs.lookup(ME, Fuse.ROOT_ID, "f");
            assertEquals(1_000_000_000L, plain.attrTimeoutNs(), "meta_ttl 0: the configured timeout");
            assertEquals(1_000_000_000L, plain.entryTimeoutNs());

            fs.metaTtl(30_000);
            Entry trusted = fs.lookup(ME, Fuse.ROOT_ID, "f");
            assertTrue(trusted.attrTimeoutNs() > 29_000_000_000L && trusted.attrTimeoutNs() <= 30_000_000_000L,
                    "what the daemon trusts for meta_ttl, the kernel may keep as long: " + trusted.attrTimeoutNs());
            assertTrue(trusted.entryTimeoutNs() > 29_000_000_000L);
            assertTrue(fs.getattr(ME, trusted.nodeid(), -1).timeoutNs() > 29_000_000_000L);

            OpenResult w = fs.open(ME, trusted.nodeid(), Libc.O_WRONLY);
            assertEquals(1_000_000_000L, fs.getattr(ME, trusted.nodeid(), w.fh()).timeoutNs(),
                    "open for writing through the mount: never trusted beyond the configured timeout");
            fs.release(ME, trusted.nodeid(), w.fh(), 0);
        }
    }

    @Test
    void withTheCacheASecondOpenReadsNothingFromTheLowerAndAChangeThereIsSeenAtTheNextOpen() throws Exception {
        Path lowerDir = Files.createDirectory(tmp.resolve("lower"));
        Files.writeString(lowerDir.resolve("f"), "version one");
        LongAdder calls = new LongAdder();
        try (CacheStore store = CacheStore.open(tmp.resolve("cache"), 64 * 1024);
             LowerFs lower = CountingLowerFs.wrap(new LocalLowerFs(lowerDir.toString()), calls)) {
            LowerIdentity id = LowerIdentity.detect(lowerDir.toString(), IdentityMode.AUTO);
            try (CacheLayer.Identifier ids = CacheLayer.identifier(lowerDir.toString(), id);
                 CacheLayer cache = new CacheLayer(store, lower, ids, id.mode(), CacheLayer.Options.defaults(), new CacheStats())) {
                StackedFs fs = new StackedFs(lower, OPTIONS, new CachedFiles(cache, (path, flags) -> false));
                fs.metaTtl(0); // every open asks the lower for the version: close-to-open
                long node = fs.lookup(ME, Fuse.ROOT_ID, "f").nodeid();
                assertEquals("version one", readAll(fs, node, 64));
                long before = calls.sum();
                assertEquals("version one", readAll(fs, node, 64));
                assertEquals(1, calls.sum() - before, "the warm open asked the lower only for the version");

                Files.writeString(lowerDir.resolve("f"), "version two, longer");
                assertEquals("version two, longer", readAll(fs, node, 64), "never the cached old version");
                assertEquals("cached", cache.stateOf("f").state());
                fs.destroy();
            }
        }
    }
}
