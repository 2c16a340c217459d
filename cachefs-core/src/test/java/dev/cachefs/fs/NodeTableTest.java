package dev.cachefs.fs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import dev.cachefs.fuse.Fuse;
import dev.cachefs.nativeio.Libc;
import dev.cachefs.nativeio.Stat;
import org.junit.jupiter.api.Test;

/** Nodes by lower object: hard links share one; an inode number used again by another file does not. */
class NodeTableTest {
    private static Stat st(long ino, int mode, int nlink) {
        return new Stat(ino, 0, 0, mode, nlink, 0, 0, 0, 0, 4096, 0, 0, 0, 0, 0, 0, 7);
    }

    @Test
    void hardLinksShareANodeAndAReusedInodeNumberGetsItsOwn() throws Exception {
        NodeTable t = new NodeTable(st(1, Libc.S_IFDIR | 0755, 2));
        long a = t.remember(Fuse.ROOT_ID, "a", st(10, Libc.S_IFREG | 0644, 2));
        long b = t.remember(Fuse.ROOT_ID, "b", st(10, Libc.S_IFREG | 0644, 2));
        assertEquals(a, b, "two names of one file with two links: one node");

        long c = t.remember(Fuse.ROOT_ID, "c", st(20, Libc.S_IFREG | 0644, 1));
        long d = t.remember(Fuse.ROOT_ID, "d", st(20, Libc.S_IFREG | 0644, 1));
        assertNotEquals(c, d, "one link, another name: the inode number was used again by another file");
        assertEquals("c", t.path(c));
        assertEquals("d", t.path(d));
        assertEquals(d, t.remember(Fuse.ROOT_ID, "d", st(20, Libc.S_IFREG | 0644, 1)), "the same name again: the same node");

        long e = t.remember(Fuse.ROOT_ID, "e", st(30, Libc.S_IFDIR | 0755, 2));
        long f = t.remember(Fuse.ROOT_ID, "f", st(30, Libc.S_IFDIR | 0755, 2));
        assertNotEquals(e, f, "directories have one name: a second is a reused number");
    }
}
