package dev.cachefs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** When a daemon is started with the JVM's AOT cache: only one the build made after its jar. */
class AotCacheTest {
    @TempDir
    Path tmp;

    private Path jarAndCache(long jarAgeMs, long cacheAgeMs) throws Exception {
        long now = System.currentTimeMillis();
        Path jar = Files.write(tmp.resolve("cachefs-all.jar"), new byte[] {1});
        Files.setLastModifiedTime(jar, FileTime.fromMillis(now - jarAgeMs));
        Path aot = Files.write(tmp.resolve(AotCache.FILE), new byte[] {1});
        Files.setLastModifiedTime(aot, FileTime.fromMillis(now - cacheAgeMs));
        return jar;
    }

    @Test
    void aCacheMadeAfterTheJarIsUsedFromBesideIt() throws Exception {
        Path jar = jarAndCache(60_000, 1_000);
        assertEquals(List.of("-XX:AOTCache=" + tmp.resolve(AotCache.FILE).toAbsolutePath(), "-Xlog:aot=off", "-Xlog:cds=off"),
                AotCache.jvmOptions(jar.toString(), null));
    }

    @Test
    void aCacheOlderThanTheJarIsNot() throws Exception {
        Path jar = jarAndCache(1_000, 60_000); // the jar was rebuilt since the training
        assertEquals(List.of(), AotCache.jvmOptions(jar.toString(), null));
    }

    @Test
    void noCacheAnEmptyOneOrAClassPathOfSeveralEntriesStartsWithout() throws Exception {
        Path jar = jarAndCache(60_000, 1_000);
        assertEquals(List.of(), AotCache.jvmOptions(jar.toString(), tmp.resolve("none.aot").toString()));
        Files.write(tmp.resolve(AotCache.FILE), new byte[0]); // a training that died while writing
        assertEquals(List.of(), AotCache.jvmOptions(jar.toString(), null));
        Files.write(tmp.resolve(AotCache.FILE), new byte[] {1});
        assertEquals(List.of(), AotCache.jvmOptions(jar + ":" + tmp.resolve("classes"), null));
        assertEquals(List.of(), AotCache.jvmOptions(tmp.resolve("classes").toString(), null));
    }

    @Test
    void theEnvironmentNamesAnotherCacheFile() throws Exception {
        Path jar = jarAndCache(60_000, 1_000);
        Path other = Files.write(tmp.resolve("other.aot"), new byte[] {1});
        assertEquals("-XX:AOTCache=" + other.toAbsolutePath(), AotCache.jvmOptions(jar.toString(), other.toString()).get(0));
    }
}
