package dev.cachefs.cli;

import dev.cachefs.cache.CacheLayer;
import dev.cachefs.cache.Scrubber;
import dev.cachefs.fs.StackedFs;
import dev.cachefs.fuse.MountOptions;
import dev.cachefs.index.CacheStore;
import dev.cachefs.mount.Uplink;
import dev.cachefs.offline.Connectivity;
import java.nio.file.Path;

/**
 * The {@code -o} options of {@code cachefs mount}, each handed to the layer it tunes (FUSE, the
 * cache, the link to the lower, reporting); a wrong one is a usage error naming it.
 */
final class OptionParser {
    MountOptions mo;
    StackedFs.Options so = StackedFs.Options.defaults();
    int chunk = CacheStore.DEFAULT_CHUNK_SIZE;
    CacheLayer.Options co = CacheLayer.Options.defaults();
    int kernelRa = 4096;
    private final CacheLayer.Limits lim = CacheLayer.Limits.defaults();
    int cull = lim.cullFreePct();
    int stop = lim.stopFreePct();
    int resume = lim.resumeFreePct();
    Uplink.Options up;
    java.net.InetSocketAddress metrics;
    Path statsFile;
    long statsMs = 10_000;
    /** meta_ttl, in milliseconds. */
    long metaTtlMs;

    OptionParser(String fsname, String onEvent, long metaTtlMs) {
        this.mo = MountOptions.defaults(fsname);
        this.up = Uplink.Options.defaults().withOnEvent(onEvent);
        this.metaTtlMs = metaTtlMs;
    }

    /** Applies each option in turn. */
    OptionParser parse(java.util.List<String> options) {
        for (String raw : options) {
            String o = raw.trim();
            if (o.isEmpty()) {
                continue;
            }
            String key = o.contains("=") ? o.substring(0, o.indexOf('=')) : o;
            String val = o.contains("=") ? o.substring(o.indexOf('=') + 1) : null;
            try {
                if (!fuse(key, val) && !cache(key, val) && !link(key, val) && !reporting(key, val)) {
                    throw new Main.UserError(Main.USAGE, "unknown mount option '" + o + "' (see cachefs mount --help)");
                }
            } catch (NumberFormatException e) {
                throw new Main.UserError(Main.USAGE, "mount option '" + o + "' needs a whole number");
            } catch (IllegalArgumentException e) {
                throw new Main.UserError(Main.USAGE, e.getMessage());
            }
        }
        if (up.syncFsync() && !up.writeBack()) {
            throw new Main.UserError(Main.USAGE, "sync_fsync goes with writeback (-o writeback,sync_fsync): without it"
                    + " every write is on the lower before it returns anyway");
        }
        return this;
    }

    /** What the kernel is told: FUSE and VFS options, timeouts. Whether {@code key} is one of them. */
    private boolean fuse(String key, String val) {
        switch (key) {
            case "allow_other" -> mo = mo.withAllowOther(true);
            case "passthrough" -> {
                mo = mo.withPassthrough(true);
                so = new StackedFs.Options(so.entryTimeoutNs(), so.attrTimeoutNs(), true, so.negativeTimeoutNs());
            }
            case "nopassthrough" -> {
                mo = mo.withPassthrough(false);
                so = new StackedFs.Options(so.entryTimeoutNs(), so.attrTimeoutNs(), false, so.negativeTimeoutNs());
            }
            case "attr_timeout" -> so = new StackedFs.Options(so.entryTimeoutNs(), seconds(key, val), so.passthrough(), so.negativeTimeoutNs());
            case "entry_timeout" -> so = new StackedFs.Options(seconds(key, val), so.attrTimeoutNs(), so.passthrough(), so.negativeTimeoutNs());
            case "negative_timeout" -> so = so.withNegativeTimeout(seconds(key, val));
            case "meta_ttl" -> metaTtlMs = seconds(key, val) / 1_000_000;
            case "max_write" -> mo = mo.withMaxWrite(Integer.parseInt(need(key, val)));
            case "workers" -> mo = mo.withWorkers(Integer.parseInt(need(key, val)));
            case "noauto_unmount" -> mo = mo.withAutoUnmount(false);
            case "dev" -> mo = mo.withDevices(true);
            case "nodev" -> mo = mo.withDevices(false);
            case "suid" -> mo = mo.withSetuid(true);
            case "nosuid" -> mo = mo.withSetuid(false);
            case "auto_unmount" -> mo = mo.withAutoUnmount(true);
            default -> {
                return false;
            }
        }
        return true;
    }

    /** The cache layer: chunks, readahead, scrub, space. Whether {@code key} is one of them. */
    private boolean cache(String key, String val) {
        switch (key) {
            case "chunk_size" -> {
                chunk = (int) Math.min(Integer.MAX_VALUE, Sizes.parse(need(key, val)));
                if (chunk < 65536 || chunk > 16 << 20 || Integer.bitCount(chunk) != 1) {
                    throw new Main.UserError(Main.USAGE, "chunk_size must be a power of two from 64K to 16M");
                }
            }
            case "readahead" -> {
                int n = Integer.parseInt(need(key, val));
                if (n < 0 || n > 64) {
                    throw new Main.UserError(Main.USAGE, "readahead must be 0..64 chunks");
                }
                co = co.withReadahead(n);
            }
            case "kernel_readahead" -> {
                kernelRa = (int) (Sizes.parse(need(key, val)) / 1024);
                if (kernelRa < 0 || kernelRa > 1 << 20) {
                    throw new Main.UserError(Main.USAGE, "kernel_readahead must be 0..1G");
                }
            }
            case "scrub_interval" -> co = co.withScrub(new Scrubber.Options(seconds(key, val) / 1_000_000,
                    co.scrub().bytesPerSecond()));
            case "scrub_rate" -> co = co.withScrub(new Scrubber.Options(co.scrub().intervalMs(),
                    Sizes.parse(need(key, val))));
            case "cull_free" -> cull = percent(key, val);
            case "stop_free" -> stop = percent(key, val);
            case "resume_free" -> resume = percent(key, val);
            case "direct_io" -> co = co.withDirectIo(true);
            case "nodirect_io" -> co = co.withDirectIo(false);
            default -> {
                return false;
            }
        }
        return true;
    }

    /** The link to the lower: deadlines, probing, offline start. Whether {@code key} is one of them. */
    private boolean link(String key, String val) {
        switch (key) {
            case "deadline" -> {
                long ms = seconds(key, val) / 1_000_000;
                if (ms != 0 && ms < 100) {
                    throw new Main.UserError(Main.USAGE, "deadline must be at least 0.1 s (or 0: none)");
                }
                up = up.withDeadline(ms);
            }
            case "probe_interval" -> up = up.withProbe(Math.max(100, seconds(key, val) / 1_000_000));
            case "offline_wait" -> up = up.withMissWait(seconds(key, val) / 1_000_000);
            case "offline" -> up = up.withStartOffline(true);
            case "writeback" -> up = up.withWriteBack(val == null || val.isEmpty()
                    ? Uplink.Options.WRITEBACK_DEFAULT_MS : seconds(key, val) / 1_000_000);
            case "nowriteback" -> up = up.withWriteBack(-1);
            case "sync_fsync" -> up = up.withSyncFsync(true);
            case "reconnect" -> up = up.withReconnect(switch (need(key, val)) {
                case "auto" -> Connectivity.Reconnect.AUTO;
                case "manual" -> Connectivity.Reconnect.MANUAL;
                default -> throw new Main.UserError(Main.USAGE, "reconnect must be auto or manual");
            });
            default -> {
                return false;
            }
        }
        return true;
    }

    /** Metrics and the stats file. Whether {@code key} is one of them. */
    private boolean reporting(String key, String val) {
        switch (key) {
            case "metrics" -> metrics = Metrics.listenAddress(need(key, val));
            case "stats_file" -> statsFile = Path.of(need(key, val)).toAbsolutePath();
            case "stats_interval" -> statsMs = Math.max(1000, seconds(key, val) / 1_000_000);
            default -> {
                return false;
            }
        }
        return true;
    }

    static String need(String key, String val) {
        if (val == null || val.isEmpty()) {
            throw new Main.UserError(Main.USAGE, "mount option " + key + " needs a value (" + key + "=...)");
        }
        return val;
    }

    static int percent(String key, String val) {
        String v = need(key, val);
        v = v.endsWith("%") ? v.substring(0, v.length() - 1) : v;
        try {
            int p = Integer.parseInt(v);
            if (p < 0 || p > 100) {
                throw new NumberFormatException();
            }
            return p;
        } catch (NumberFormatException e) {
            throw new Main.UserError(Main.USAGE, "mount option " + key + " needs a percentage 0..100");
        }
    }

    static long seconds(String key, String val) {
        double s;
        try {
            s = Double.parseDouble(need(key, val));
        } catch (NumberFormatException e) {
            throw new Main.UserError(Main.USAGE, "mount option " + key + " needs a number of seconds");
        }
        if (s < 0 || s > 86400 * 365) {
            throw new Main.UserError(Main.USAGE, "mount option " + key + " is out of range");
        }
        return (long) (s * 1e9);
    }
}
