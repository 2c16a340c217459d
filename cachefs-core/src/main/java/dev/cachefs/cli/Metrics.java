package dev.cachefs.cli;

import com.sun.net.httpserver.HttpServer;
import dev.cachefs.cache.CacheLayer;
import dev.cachefs.cache.CacheStats;
import dev.cachefs.fs.StackedFs;
import dev.cachefs.index.IndexException;
import dev.cachefs.mount.Uplink;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The mount's numbers in the Prometheus text format (version 0.0.4): served over HTTP on a
 * loopback address ({@code -o metrics=[HOST:]PORT}) and/or written to a file every few seconds
 * ({@code -o stats_file=PATH}, the format node_exporter's textfile collector reads). Both are
 * opt-in; neither ever listens beyond loopback. Every sample carries the mount point as a label,
 * so one scraper can tell several mounts apart.
 */
final class Metrics implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Metrics.class);

    /** One sample: a metric name (without the cachefs_ prefix), its type and help, labels and value. */
    record Sample(String name, String type, String help, Map<String, String> labels, long value) {}

    /** What the gauges of {@link CacheLayer#usageGauges()} and {@link Uplink#gauges()} mean. */
    private static final Map<String, String> GAUGE_HELP = Map.ofEntries(
            Map.entry("cache_used_bytes", "cached data, pins apart"),
            Map.entry("cache_limit_bytes", "--cache-size (0: no limit but free space)"),
            Map.entry("cache_pinned_bytes", "pinned data"),
            Map.entry("cache_pin_limit_bytes", "--pin-size (0: no limit but free space)"),
            Map.entry("cache_files", "files with cached data, pins apart"),
            Map.entry("cache_files_limit", "--cache-files (0: no limit)"),
            Map.entry("cache_disk_free_percent", "free space on the cache disk, percent"),
            Map.entry("cache_stopped", "1 while the cache disk is below stop_free and no new data is cached"),
            Map.entry("cache_directory_bytes", "everything the cache directory holds on disk (data, index, reserve, offline changes)"),
            Map.entry("cache_index_bytes", "the index and its WAL, outside --cache-size"),
            Map.entry("cache_reserve_bytes", "space kept for the journal when the disk fills, outside --cache-size"),
            Map.entry("cache_offline_bytes", "offline changes and conflict versions not yet settled, outside --cache-size"),
            Map.entry("online", "1 online, 0 offline (serving from the cache)"),
            Map.entry("forced_offline", "1 while offline because cachefs offline said so"),
            Map.entry("lower_reachable", "1 if the lower answered its last probe"),
            Map.entry("mode_since_seconds", "when the mount entered its present mode (Unix time)"),
            Map.entry("lower_timeouts", "lower calls that passed their deadline since the mount"),
            Map.entry("journal_entries", "local changes made offline, not yet replayed"),
            Map.entry("journal_oldest_seconds", "when the oldest of them was made (Unix time; 0: none waits)"),
            Map.entry("open_conflicts", "conflicts waiting for cachefs resolve"),
            Map.entry("upload_queue_files", "write-back: files with changes waiting for upload"),
            Map.entry("upload_queue_changes", "write-back: changes waiting for upload"),
            Map.entry("upload_queue_bytes", "write-back: bytes of the files waiting for upload"),
            Map.entry("uploaded_changes", "write-back: changes uploaded since the mount"),
            Map.entry("uploaded_bytes", "write-back: bytes uploaded since the mount (its rate is the upload throughput)"));

    private static final java.nio.file.attribute.FileAttribute<?> READABLE = java.nio.file.attribute.PosixFilePermissions
            .asFileAttribute(java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
    private final dev.cachefs.cache.LogLimiter limited = new dev.cachefs.cache.LogLimiter(log, 60_000);
    private final HttpServer http;
    private final Path file;
    private final Supplier<String> text;
    private ScheduledExecutorService writer;

    private Metrics(HttpServer http, Path file, Supplier<String> text) {
        this.http = http;
        this.file = file;
        this.text = text;
    }

    /**
     * Parses {@code [HOST:]PORT} (HOST defaults to 127.0.0.1; IPv6 in brackets); a HOST that is not
     * a loopback address is refused, since the numbers name paths and the endpoint has no access control.
     */
    static InetSocketAddress listenAddress(String spec) {
        String host = "127.0.0.1";
        String port = spec;
        int colon = spec.lastIndexOf(':');
        if (colon >= 0) {
            host = spec.substring(0, colon);
            port = spec.substring(colon + 1);
            if (host.startsWith("[") && host.endsWith("]")) {
                host = host.substring(1, host.length() - 1);
            }
        }
        int p;
        try {
            p = Integer.parseInt(port);
        } catch (NumberFormatException e) {
            p = -1;
        }
        if (p < 0 || p > 65535) {
            throw new Main.UserError(Main.USAGE, "metrics=" + spec + ": expected [HOST:]PORT, e.g. metrics=9464 or metrics=127.0.0.1:9464");
        }
        InetAddress a;
        try {
            a = InetAddress.getByName(host);
        } catch (UnknownHostException e) {
            throw new Main.UserError(Main.USAGE, "metrics=" + spec + ": unknown host " + host);
        }
        if (!a.isLoopbackAddress()) {
            throw new Main.UserError(Main.USAGE, "metrics=" + spec + ": the endpoint listens on loopback only (127.0.0.1 or [::1]);"
                    + " put a proxy in front of it to publish it");
        }
        return new InetSocketAddress(a, p);
    }

    /** Starts what was asked for: the endpoint at {@code listen}, the file at {@code file} (either may be null). */
    static Metrics start(InetSocketAddress listen, Path file, long intervalMs, Supplier<String> text) throws IOException {
        HttpServer http = null;
        if (listen != null) {
            http = HttpServer.create(listen, 8);
            http.createContext("/", ex -> {
                try (ex) {
                    boolean found = ex.getRequestURI().getPath().equals("/metrics");
                    byte[] body = (found ? text.get() : "cachefs: the metrics are at /metrics\n").getBytes(StandardCharsets.UTF_8);
                    ex.getResponseHeaders().set("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
                    ex.sendResponseHeaders(found ? 200 : 404, body.length);
                    try (OutputStream o = ex.getResponseBody()) {
                        o.write(body);
                    }
                } catch (IOException | RuntimeException e) {
                    log.debug("metrics request failed: {}", e.toString());
                }
            });
            http.setExecutor(Executors.newSingleThreadExecutor(r -> Thread.ofPlatform().daemon().name("cachefs-metrics").unstarted(r)));
            http.start();
            log.info("metrics at http://{}/metrics", hostPort(http.getAddress()));
        }
        Metrics m = new Metrics(http, file, text);
        if (file != null) {
            m.write();
            m.writer = Executors.newSingleThreadScheduledExecutor(r -> Thread.ofPlatform().daemon().name("cachefs-stats-file").unstarted(r));
            m.writer.scheduleWithFixedDelay(m::write, intervalMs, intervalMs, TimeUnit.MILLISECONDS);
        }
        return m;
    }

    /** The endpoint's URL, or null when there is none. */
    String url() {
        return http == null ? null : "http://" + hostPort(http.getAddress()) + "/metrics";
    }

    private static String hostPort(InetSocketAddress a) {
        String h = a.getAddress().getHostAddress();
        return (h.contains(":") ? "[" + h + "]" : h) + ":" + a.getPort();
    }

    /** Writes the stats file whole, by rename, so a reader never sees half of it. */
    private void write() {
        Path tmp = file.resolveSibling("." + file.getFileName() + ".tmp");
        try {
            Files.deleteIfExists(tmp);
            Files.writeString(Files.createFile(tmp, READABLE), text.get(), StandardCharsets.UTF_8); // 0644 whatever the umask
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException | RuntimeException e) {
            limited.warn("write", "cannot write the stats file {}: {}", file, e.toString());
        }
    }

    @Override
    public void close() {
        if (http != null) {
            http.stop(0);
        }
        if (writer != null) {
            writer.shutdownNow();
            write(); // the final numbers
        }
    }

    // ------------------------------------------------------------------ the samples

    /** Every sample of a mount, at this moment. */
    static List<Sample> collect(String mountpoint, CacheStats stats, CacheLayer cache, Uplink uplink, StackedFs fs) {
        Map<String, String> l = Map.of("mountpoint", mountpoint);
        List<Sample> out = new ArrayList<>();
        for (CacheStats.Counter c : stats.counters()) {
            out.add(new Sample(c.name() + "_total", "counter", c.help(), l, c.value().sum()));
        }
        cache.usageGauges().forEach((k, v) -> out.add(new Sample(k, "gauge", GAUGE_HELP.get(k), l, v)));
        try {
            uplink.gauges().forEach((k, v) -> out.add(k.equals("lower_timeouts") || k.startsWith("uploaded_")
                    ? new Sample(k + "_total", "counter", GAUGE_HELP.get(k), l, v)
                    : new Sample(k, "gauge", GAUGE_HELP.get(k), l, v)));
            uplink.objectStates().forEach((state, n) -> {
                Map<String, String> ls = new LinkedHashMap<>(l);
                ls.put("state", state);
                out.add(new Sample("objects", "gauge", "objects the index knows, by state", ls, n));
            });
        } catch (IndexException e) {
            out.add(new Sample("index_readable", "gauge", "0 when the cache index cannot be read", l, 0));
        }
        out.add(new Sample("open_files", "gauge", "files open through the mount", l, fs.openFiles()));
        out.add(new Sample("known_nodes", "gauge", "inodes the kernel holds", l, fs.liveNodes()));
        return out;
    }

    /** The samples in the text format: HELP and TYPE once per name, names prefixed with cachefs_. */
    static String format(List<Sample> samples) {
        StringBuilder b = new StringBuilder();
        String last = null;
        for (Sample s : samples) {
            String name = "cachefs_" + s.name();
            if (!name.equals(last)) {
                b.append("# HELP ").append(name).append(' ').append(s.help() == null ? s.name() : s.help()).append('\n');
                b.append("# TYPE ").append(name).append(' ').append(s.type()).append('\n');
                last = name;
            }
            b.append(name);
            if (!s.labels().isEmpty()) {
                b.append('{');
                boolean first = true;
                for (var e : s.labels().entrySet()) {
                    b.append(first ? "" : ",").append(e.getKey()).append("=\"").append(escape(e.getValue())).append('"');
                    first = false;
                }
                b.append('}');
            }
            b.append(' ').append(s.value()).append('\n');
        }
        return b.toString();
    }

    private static String escape(String v) {
        return v.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
    }
}
