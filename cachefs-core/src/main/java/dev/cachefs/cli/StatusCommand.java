package dev.cachefs.cli;

import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

@Command(name = "status", header = "Show what a live mount is doing.", mixinStandardHelpOptions = true,
        description = "Show what a live cachefs mount is doing: mode (online/offline) and why, identity mode, cache "
                + "use against its limits, hit rate, dirty and pinned objects, journal, open conflicts, the last "
                + "event, the daemon.",
        footer = {"", "Example:  cachefs status ~/mnt --json | jq -r .mode"})
final class StatusCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "MOUNTPOINT", description = "where cachefs is mounted")
    Path mountpoint;

    @picocli.CommandLine.Option(names = "--json", description = "one JSON object (every value a string), for scripts")
    boolean json;

    @Override
    public Integer call() {
        Path mp = mountpoint.toAbsolutePath().normalize();
        Map<String, String> status = new java.util.LinkedHashMap<>(ControlServer.query(mp, "status"));
        Map<String, String> stats = ControlServer.query(mp, "stats");
        long hits = parse(stats.get("hit_bytes"));
        long misses = parse(stats.get("miss_bytes"));
        status.put("hit rate", hits + misses == 0 ? "no reads yet"
                : String.format(java.util.Locale.ROOT, "%.1f%% of %d bytes read", 100.0 * hits / (hits + misses), hits + misses));
        if (json) {
            StringBuilder b = new StringBuilder("{");
            status.forEach((k, v) -> b.append(b.length() > 1 ? ", " : "").append(dev.cachefs.offline.Connectivity.Event.quote(k))
                    .append(": ").append(dev.cachefs.offline.Connectivity.Event.quote(v)));
            System.out.println(b.append('}'));
            return 0;
        }
        int width = status.keySet().stream().mapToInt(String::length).max().orElse(0);
        status.forEach((k, v) -> System.out.println(String.format("%-" + width + "s  %s", k, v)));
        return 0;
    }

    private static long parse(String v) {
        try {
            return v == null ? 0 : Long.parseLong(v);
        } catch (NumberFormatException e) {
            return 0;
        }
    }
}
