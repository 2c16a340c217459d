package dev.cachefs.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cachefs.harness.Harness;
import dev.cachefs.harness.Mounts;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The README's first command, small: it must run through, and its table must say what it claims. */
class DemoIT {
    @Test
    void demoRunsThroughAndShowsOfflineReads() throws Exception {
        Harness.requireRoot("the demo's network namespace");
        Mounts.assumeFuse();
        Path jar = Path.of(System.getProperty("cachefs.jar", "../cachefs-core/target/cachefs-all.jar")).toAbsolutePath();
        Path out = Files.createTempFile("cachefs-demo-it", ".out");
        try {
            Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "--enable-native-access=ALL-UNNAMED", "-Dcachefs.jar=" + jar, "-cp", System.getProperty("java.class.path"),
                    "dev.cachefs.harness.Demo", "--size-mib", "16", "--small-files", "20", "--latency-ms", "4")
                    .redirectErrorStream(true).redirectOutput(out.toFile()).start();
            if (!p.waitFor(5, TimeUnit.MINUTES)) {
                p.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
                throw new AssertionError("the demo did not finish in 5 minutes:\n" + Files.readString(out));
            }
            String text = Files.readString(out, StandardCharsets.UTF_8);
            assertEquals(0, p.exitValue(), text);
            for (String row : List.of("| lower alone (sftp)", "| cachefs cold", "| cachefs warm", "| cachefs offline")) {
                assertTrue(text.contains(row), "no row '" + row + "' in:\n" + text);
            }
            assertTrue(text.contains("status: mode: offline"), text);
            assertTrue(text.contains("A file never read, offline: fails as documented: Transport endpoint is not connected"), text);
            assertTrue(text.contains("online again after"), text);
        } finally {
            Files.deleteIfExists(out);
        }
    }
}
