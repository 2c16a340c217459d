package dev.cachefs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class MountTableTest {
    @Test
    void octalEscapesOfMountinfoAreDecoded() {
        assertEquals("/mnt/my dir", MountTable.unescape("/mnt/my\\040dir"));
        assertEquals("/a\\b", MountTable.unescape("/a\\134b"));
        assertEquals("/tab\there", MountTable.unescape("/tab\\011here"));
        assertEquals("/plain", MountTable.unescape("/plain"));
        assertEquals("/trailing\\", MountTable.unescape("/trailing\\"));
    }

    @Test
    void theRootMountIsListed() throws Exception {
        assertEquals(true, MountTable.read().stream().anyMatch(m -> m.mountpoint().toString().equals("/")));
    }
}
