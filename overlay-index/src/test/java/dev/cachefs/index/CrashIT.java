package dev.cachefs.index;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Kills a process that is filling the cache with SIGKILL at seeded random moments, then checks
 * that the reopened index and store are consistent: every chunk marked present verifies.
 * {@code -Dcachefs.crash.rounds=N} runs more rounds (the nightly-style campaign).
 */
class CrashIT {
    @TempDir
    Path tmp;

    /** The writer: stores random chunks of random objects until killed. Args: cacheDir seed. */
    public static void main(String[] args) throws Exception {
        Path cache = Path.of(args[0]);
        Random r = new Random(Long.parseLong(args[1]));
        try (CacheStore s = CacheStore.open(cache, CacheStoreTest.CHUNK); Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(CacheStoreTest.CHUNK);
            System.out.println("ready");
            System.out.flush();
            for (long i = 0; ; i++) {
                ObjectRecord o = s.index().upsert(FileId.ofPath(new byte[] {1}, "f" + r.nextInt(20)), "f", ObjectState.PARTIAL, null);
                int len = 1 + r.nextInt(CacheStoreTest.CHUNK);
                for (int k = 0; k < len; k += 8) {
                    buf.set(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, Math.min(k, CacheStoreTest.CHUNK - 8), r.nextLong());
                }
                s.writeChunk(o, r.nextInt(16), buf.asSlice(0, len));
                if (i % 50 == 0) {
                    s.index().setState(o.id(), ObjectState.CACHED);
                }
            }
        }
    }

    @Test
    @Timeout(600)
    void killedWritersLeaveAConsistentCache() throws Exception {
        int rounds = Integer.getInteger("cachefs.crash.rounds", 6);
        Random seeds = new Random(Long.getLong("cachefs.crash.seed", 20261202L));
        Path cache = tmp.resolve("cache");
        List<String> failures = new ArrayList<>();
        long lastChunks = 0;
        for (int round = 0; round < rounds; round++) {
            long seed = seeds.nextLong();
            long delayMs = 200 + seeds.nextInt(1500);
            Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                    CrashIT.class.getName(), cache.toString(), Long.toString(seed))
                    .redirectErrorStream(true).start();
            try {
                var in = new java.io.BufferedReader(new java.io.InputStreamReader(p.getInputStream()));
                String first = in.readLine();
                assertTrue("ready".equals(first), "writer did not start: " + first);
                Thread.sleep(delayMs);
            } finally {
                p.destroyForcibly(); // SIGKILL, our own child by PID
                p.waitFor(30, TimeUnit.SECONDS);
            }
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            Fsck.Report r = Fsck.run(cache, false, new PrintStream(out, true));
            if (!r.clean()) {
                failures.add("round " + round + " seed " + seed + " after " + delayMs + " ms: " + out);
            }
            lastChunks = r.chunks();
        }
        assertTrue(failures.isEmpty(), String.join("\n", failures));
        assertTrue(lastChunks > 0, "the writers stored chunks, so the checks above checked something");
    }
}
