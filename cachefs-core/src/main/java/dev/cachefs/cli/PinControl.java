package dev.cachefs.cli;

import dev.cachefs.cache.CacheLayer;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Errno;
import dev.cachefs.nativeio.RawPath;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The daemon's side of pin, unpin, evict and pins on the control channel. Requests are
 * {@code COMMAND FLAGS HEXPATH}: FLAGS is "r" (recursive) or "-", HEXPATH the raw bytes of the
 * path relative to the mount's root, hex encoded (any byte may be in a name). A path that leaves
 * the mount ("..") is refused.
 */
final class PinControl {
    private PinControl() {}

    static String request(String command, boolean recursive, String rel) {
        return command + " " + (recursive ? "r" : "-") + " " + HexFormat.of().formatHex(RawPath.bytes(rel));
    }

    private static String path(List<String> args) {
        if (args.size() != 2) {
            throw new IllegalArgumentException("expected FLAGS HEXPATH");
        }
        String rel = RawPath.fromBytes(HexFormat.of().parseHex(args.get(1)), 0, args.get(1).length() / 2);
        for (String part : rel.split("/")) {
            if (part.equals("..") || (part.isEmpty() && !rel.isEmpty())) {
                throw new IllegalArgumentException("path leaves the mount: " + rel);
            }
        }
        return rel;
    }

    static void register(Map<String, ControlServer.Handler> handlers, CacheLayer cache,
                         dev.cachefs.fs.StackedFs fs, dev.cachefs.offline.Connectivity connectivity) {
        handlers.put("invalidate", (args, out) -> {
            String rel = path(args);
            if (connectivity.offline()) {
                out.send(Map.of("error", "the mount is offline: there is no lower to revalidate against"));
                return;
            }
            try {
                out.send(Map.of("invalidated", Integer.toString(fs.invalidate(rel, args.get(0).equals("r")))));
            } catch (ErrnoException e) {
                out.send(Map.of("error", "cannot invalidate " + rel + ": " + e.getMessage()));
            }
        });
        handlers.put("pin", (args, out) -> {
            String rel = path(args);
            long started = System.nanoTime();
            try {
                CacheLayer.PinProgress p = cache.pin(rel, args.get(0).equals("r"), pr -> out.send(Map.of("progress",
                        pr.files() + " " + pr.totalFiles() + " " + pr.bytes() + " " + pr.totalBytes()
                                + " " + (System.nanoTime() - started) / 1_000_000)));
                Map<String, String> m = new LinkedHashMap<>();
                m.put("files", Long.toString(p.files()));
                m.put("bytes", Long.toString(p.bytes()));
                m.put("ms", Long.toString((System.nanoTime() - started) / 1_000_000));
                out.send(m);
            } catch (ErrnoException e) {
                out.send(Map.of("error", "cannot pin " + (rel.isEmpty() ? "the mount" : rel) + ": "
                        + (e.errno() == Errno.ENOENT ? "no such file or directory" : e.getMessage())));
            }
        });
        handlers.put("unpin", (args, out) -> out.send(Map.of("unpinned", Integer.toString(cache.unpin(path(args), args.get(0).equals("r"))))));
        handlers.put("evict", (args, out) -> {
            CacheLayer.Evicted e = cache.evictPath(path(args), args.get(0).equals("r"));
            out.send(Map.of("evicted", Integer.toString(e.objects()), "bytes", Long.toString(e.bytes()),
                    "busy", Integer.toString(e.busy())));
        });
        handlers.put("pins", (args, out) -> {
            Map<String, String> m = new LinkedHashMap<>();
            Map<String, Long> pins = cache.pins();
            for (var e : pins.entrySet()) {
                m.put("pin " + HexFormat.of().formatHex(RawPath.bytes(e.getKey() == null ? "" : e.getKey())), Long.toString(e.getValue()));
            }
            m.put("count", Integer.toString(pins.size()));
            out.send(m);
        });
    }
}
