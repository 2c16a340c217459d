package dev.cachefs.lower;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cachefs.nativeio.Libc;
import dev.cachefs.nativeio.RawPath;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.LongAdder;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every call that asks something of the lower is counted once, through files and directories too. */
class CountingLowerFsTest {
    @TempDir
    Path tmp;

    @Test
    void eachRoundTripCountsOnceAndLocalCallsNot() throws Exception {
        Files.writeString(tmp.resolve("f"), "hello");
        LongAdder calls = new LongAdder();
        try (LowerFs fs = CountingLowerFs.wrap(new LocalLowerFs(RawPath.fromText(tmp.toString())), calls);
             Arena a = Arena.ofConfined()) {
            assertEquals(5, fs.stat("f").size());
            assertEquals(1, calls.sum(), "stat");
            LowerFile f = fs.open("f", Libc.O_RDONLY, 0);
            assertTrue(f.fd() >= 0, "the descriptor shows through (passthrough needs it)");
            assertEquals(5, f.read(0, a.allocate(16)));
            assertEquals(5, f.stat().size());
            f.close();
            assertEquals(4, calls.sum(), "open, read, fstat; not fd or close");
            try (LowerDir d = fs.openDir("")) {
                assertTrue(d.next().stream().anyMatch(e -> e.name().equals("f")));
            }
            assertEquals(6, calls.sum(), "opendir, readdir");
        }
    }
}
