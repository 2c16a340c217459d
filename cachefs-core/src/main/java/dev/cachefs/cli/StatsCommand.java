package dev.cachefs.cli;

import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "stats", header = "Show what the cache did since the mount.", mixinStandardHelpOptions = true,
        description = "Show what the cache of a live mount did since it was mounted: hits and misses (operations and "
                + "bytes), bytes read from the lower and from the cache, lower round trips, revalidations, "
                + "invalidations, passthrough and daemon opens. Reads by passthrough opens never reach the daemon,"
                + " so they are counted as opens only.",
        footer = {"", "Example:  cachefs stats /mnt/cached --json | jq .hit_bytes"})
final class StatsCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "MOUNTPOINT", description = "where cachefs is mounted")
    Path mountpoint;

    @Option(names = "--json", description = "one JSON object, for scripts")
    boolean json;

    @Override
    public Integer call() {
        Map<String, String> stats = ControlServer.answer(mountpoint, "stats");
        if (json) {
            StringBuilder b = new StringBuilder("{");
            stats.forEach((k, v) -> b.append(b.length() > 1 ? ", " : "").append('"').append(k).append("\": ").append(v));
            System.out.println(b.append('}'));
            return 0;
        }
        long hit = Long.parseLong(stats.getOrDefault("hit_bytes", "0"));
        long miss = Long.parseLong(stats.getOrDefault("miss_bytes", "0"));
        int width = stats.keySet().stream().mapToInt(String::length).max().orElse(0);
        stats.forEach((k, v) -> System.out.println(String.format("%-" + width + "s  %s", k, v)));
        if (hit + miss > 0) {
            System.out.println(String.format("%-" + width + "s  %.1f%%", "hit_ratio", 100.0 * hit / (hit + miss)));
        }
        return 0;
    }
}
