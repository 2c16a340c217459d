package dev.cachefs.cli;

import dev.cachefs.cache.CacheLayer;
import dev.cachefs.cache.CacheStats;
import dev.cachefs.fs.StackedFs;
import dev.cachefs.fuse.FuseSession;
import dev.cachefs.index.IndexException;
import dev.cachefs.index.LowerIdentity;
import dev.cachefs.mount.CacheStack;
import dev.cachefs.nativeio.RawPath;
import dev.cachefs.mount.Uplink;
import java.nio.file.Path;

/**
 * What a mount's daemon answers on its control socket: status, stats, offline, online, conflicts
 * and resolving them (pins: {@link PinControl}). Each answer is a map of text; errors are an
 * {@code error} entry, which the commands turn into one clear line.
 */
final class DaemonControl {
    private DaemonControl() {}

    /** The live mount the answers are about. */
    record Mount(Path mp, Path lowerDir, Path cacheDir, long startedMs, CacheStack stack, FuseSession live,
                 String metricsUrl, Path statsFile) {}

    /** Every handler of the control socket, pins included. */
    static java.util.Map<String, ControlServer.Handler> handlers(Mount mount) {
        Uplink uplink = mount.stack().uplink;
        CacheLayer cache = mount.stack().cache;
        StackedFs fs = mount.stack().fs;
        CacheStats stats = mount.stack().stats;
        java.util.Map<String, ControlServer.Handler> handlers = new java.util.HashMap<>();
        handlers.put("status", ControlServer.answering(() -> status(mount)));
        handlers.put("offline", ControlServer.answering(() -> {
            uplink.connectivity().forceOffline();
            return java.util.Map.of("mode", "offline");
        }));
        registerConflicts(handlers, uplink, fs);
        handlers.put("online", ControlServer.answering(() ->
                java.util.Map.of("result", uplink.connectivity().goOnline("asked to (cachefs online)", true))));
        handlers.put("upload", ControlServer.answering(() -> {
            try {
                boolean all = uplink.uploadQueued(Long.MAX_VALUE / 4);
                java.util.Map<String, String> m = new java.util.LinkedHashMap<>();
                uplink.status(m);
                return java.util.Map.of("result", all ? "uploaded" : "not all uploaded",
                        "upload queue", m.getOrDefault("upload queue", "none"));
            } catch (dev.cachefs.nativeio.ErrnoException e) {
                return java.util.Map.of("error", e.getMessage());
            }
        }));
        handlers.put("stats", ControlServer.answering(() -> {
            java.util.Map<String, String> m = new java.util.LinkedHashMap<>();
            stats.snapshot().forEach((k, v) -> m.put(k, Long.toString(v)));
            return m;
        }));
        PinControl.register(handlers, cache, fs, uplink.connectivity());
        return handlers;
    }

    /** What {@code cachefs status} shows. */
    private static java.util.Map<String, String> status(Mount mount) {
        Uplink uplink = mount.stack().uplink;
        CacheLayer cache = mount.stack().cache;
        StackedFs fs = mount.stack().fs;
        LowerIdentity id = uplink.identity();
        Path mp = mount.mp();
        Path lowerDir = mount.lowerDir();
        Path cacheDir = mount.cacheDir();
        long started = mount.startedMs();
        FuseSession live = mount.live();
        String metricsUrl = mount.metricsUrl();
        java.util.Map<String, String> m = new java.util.LinkedHashMap<>();
        m.put("mountpoint", mp.toString());
        m.put("lower", lowerDir.toString());
        m.put("cache", cacheDir.toString());
        m.put("daemon pid", Long.toString(ProcessHandle.current().pid()));
        m.put("mounted since", java.time.Instant.ofEpochMilli(started).toString());
        m.put("identity", id.mode().name().toLowerCase(java.util.Locale.ROOT));
        m.put("identity reason", id.reason());
        m.put("lower fsid", java.util.HexFormat.of().formatHex(id.fsid()));
        m.put("passthrough", Boolean.toString(live.passthroughAvailable()));
        m.put("open files", Integer.toString(fs.openFiles()));
        m.put("known nodes", Integer.toString(fs.liveNodes()));
        m.put("chunk size", Integer.toString(cache.chunkSize()));
        m.putAll(cache.usage());
        uplink.status(m);
        if (metricsUrl != null) {
            m.put("metrics", metricsUrl);
        }
        if (mount.statsFile() != null) {
            m.put("stats file", mount.statsFile().toString());
        }
        return m;
    }

    /** {@code conflicts}, {@code resolve} and {@code resolve-all}. */
    private static void registerConflicts(java.util.Map<String, ControlServer.Handler> handlers, Uplink uplink, StackedFs fs) {
        handlers.put("conflicts", ControlServer.answering(() -> {
            java.util.Map<String, String> m = new java.util.LinkedHashMap<>();
            java.util.List<dev.cachefs.index.CacheIndex.Conflict> all;
            try {
                all = uplink.conflicts();
            } catch (IndexException e) {
                return java.util.Map.of("error", e.getMessage());
            }
            int open = 0;
            for (var c : all) {
                open += c.open() ? 1 : 0;
                m.put("conflict " + c.id(), String.join("\t", java.time.Instant.ofEpochMilli(c.detectedMs()).toString(),
                        c.kind(), java.util.HexFormat.of().formatHex(RawPath.bytes(c.path())), c.state(),
                        c.resolution() == null ? "" : c.resolution(), c.detail() == null ? "" : c.detail()));
            }
            m.put("count", Integer.toString(all.size()));
            m.put("open", Integer.toString(open));
            return m;
        }));
        handlers.put("resolve", (args, out) -> {
            // resolve KEEP HEXPATH (one) or resolve-all KEEP HEXGLOB (every open one matching; empty: all)
            if (args.size() != 2) {
                out.send(java.util.Map.of("error", "expected KEEP HEXPATH"));
                return;
            }
            String rel = RawPath.fromBytes(java.util.HexFormat.of().parseHex(args.get(1)), 0, args.get(1).length() / 2);
            out.send(resolveOne(uplink, fs, rel, args.get(0)));
        });
        handlers.put("resolve-all", (args, out) -> {
            if (args.size() != 2) {
                out.send(java.util.Map.of("error", "expected KEEP HEXGLOB"));
                return;
            }
            String glob = RawPath.fromBytes(java.util.HexFormat.of().parseHex(args.get(1)), 0, args.get(1).length() / 2);
            dev.cachefs.cache.Policy.Glob g = glob.isEmpty() ? null : dev.cachefs.cache.Policy.glob(glob);
            java.util.Map<String, String> m = new java.util.LinkedHashMap<>();
            int n = 0;
            for (String path : new java.util.ArrayList<>(uplink.openConflicts().keySet())) {
                if (g == null || g.matches(path)) {
                    java.util.Map<String, String> a = resolveOne(uplink, fs, path, args.get(0));
                    m.put("resolved " + java.util.HexFormat.of().formatHex(RawPath.bytes(path)),
                            a.getOrDefault("result", "error: " + a.get("error")));
                    n++;
                }
            }
            m.put("count", Integer.toString(n));
            out.send(m);
        });
    }

    /** Resolves the open conflict at {@code rel} and drops what the kernel holds of it. */
    static java.util.Map<String, String> resolveOne(Uplink uplink, StackedFs fs, String rel, String keep) {
        for (String part : rel.split("/")) {
            if (part.equals("..")) {
                return java.util.Map.of("error", "path leaves the mount: " + rel);
            }
        }
        try {
            String detail = uplink.resolve(rel, keep);
            try {
                fs.invalidate(rel, false);
            } catch (dev.cachefs.nativeio.ErrnoException e) {
                // gone from the lower (kept remote of a file deleted there): nothing to drop
            }
            return java.util.Map.of("result", detail);
        } catch (dev.cachefs.nativeio.ErrnoException | IndexException e) {
            return java.util.Map.of("error", "cannot resolve " + RawPath.display(rel) + ": " + e.getMessage());
        }
    }
}
