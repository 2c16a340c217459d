package dev.cachefs.harness;

import dev.cachefs.cache.CacheLayer;
import dev.cachefs.cache.CacheStats;
import dev.cachefs.fs.StackedFs;
import dev.cachefs.mount.Uplink;
import dev.cachefs.fuse.MountOptions;
import dev.cachefs.index.CacheStore;
import dev.cachefs.index.IdentityMode;
import dev.cachefs.index.IndexException;
import dev.cachefs.lower.CountingLowerFs;
import dev.cachefs.lower.LocalLowerFs;
import dev.cachefs.lower.LowerFs;
import dev.cachefs.mount.CacheStack;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Libc;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;

/**
 * A cachefs mount over one directory of a lower, with a reference directory beside it on the same
 * lower: a test does the same calls in both and compares outcomes, so that "cachefs over X
 * behaves like X" is checked whatever X supports. By default the mount has its data cache (as
 * the real daemon does), in a fresh cache directory; {@link Builder#noCache} passes every open
 * through instead.
 */
public final class Stack implements AutoCloseable {
    private static final AtomicInteger SEQ = new AtomicInteger();

    public final Path ref;
    public final Path lower;
    public final Path mnt;
    /** The cache directory, or null without a cache. */
    public final Path cacheDir;
    public final StackedFs fs;
    /** The data cache, or null. */
    public final CacheLayer cache;
    public final Mounts.Live live;
    /** The link to the lower (deadlines, connectivity, disconnected operation), or null without a cache. */
    public final Uplink uplink;
    private final LowerFs lowerFs;
    /** The daemon's assembly of the layers, or null without a cache. */
    private final CacheStack parts;
    private final CacheStats stats;

    /** How to build a stack; {@link #mount} makes it. */
    public static final class Builder {
        private final Path ref;
        private final Path lower;
        private StackedFs.Options options = StackedFs.Options.defaults();
        private MountOptions mountOptions = Mounts.testOptions();
        private Function<LowerFs, LowerFs> wrap = l -> l;
        private boolean cached = true;
        private Path cacheDir;
        private CacheLayer.Options cacheOptions = CacheLayer.Options.defaults();
        private int chunkSize = CacheStore.DEFAULT_CHUNK_SIZE;
        private IdentityMode identity = IdentityMode.AUTO;
        private Uplink.Options uplinkOptions = Uplink.Options.defaults();
        private dev.cachefs.cache.Policy policy = dev.cachefs.cache.Policy.NONE;

        private Builder(Path ref, Path lower) {
            this.ref = ref;
            this.lower = lower;
        }

        public Builder options(StackedFs.Options o) {
            this.options = o;
            return this;
        }

        public Builder mountOptions(MountOptions o) {
            this.mountOptions = o;
            return this;
        }

        /** Wraps the lower the mount sees (e.g. in a fault-injecting lower). */
        public Builder wrap(Function<LowerFs, LowerFs> w) {
            this.wrap = w;
            return this;
        }

        public Builder noCache() {
            this.cached = false;
            return this;
        }

        /** Uses this cache directory (e.g. the one of an earlier stack, to test a remount). */
        public Builder cacheDir(Path dir) {
            this.cacheDir = dir;
            return this;
        }

        public Builder cacheOptions(CacheLayer.Options o) {
            this.cacheOptions = o;
            return this;
        }

        public Builder chunkSize(int bytes) {
            this.chunkSize = bytes;
            return this;
        }

        public Builder identity(IdentityMode m) {
            this.identity = m;
            return this;
        }

        /** The config's caching rules (pins are made in the background once mounted, as the daemon does). */
        public Builder policy(dev.cachefs.cache.Policy p) {
            this.policy = p;
            return this;
        }

        /** Deadlines, probing and offline policy of the mount's link to its lower (with a cache). */
        public Builder uplink(Uplink.Options o) {
            this.uplinkOptions = o;
            return this;
        }

        public Stack mount() throws IOException, ErrnoException {
            return new Stack(this);
        }
    }

    private Stack(Builder b) throws IOException, ErrnoException {
        this.ref = b.ref;
        this.lower = b.lower;
        this.mnt = Harness.newDir("mnt");
        this.stats = new CacheStats();
        this.cacheDir = b.cached ? (b.cacheDir != null ? b.cacheDir : Harness.newDir("cache")) : null;
        CacheStack made = null;
        StackedFs plain = null;
        LowerFs used = null;
        Mounts.Live mounted = null;
        try {
            if (b.cached) {
                // As the daemon builds it (the one assembly), the real lower wrapped as the test asks.
                made = CacheStack.open(new CacheStack.Config(Sys.raw(lower), cacheDir, b.chunkSize, b.identity,
                        b.uplinkOptions, b.cacheOptions, b.options, b.policy, 0, mnt.toString(), b.wrap::apply), stats);
                used = made.uplink.lower();
                mounted = Mounts.mount(mnt, made.fs, b.mountOptions);
                made.mounted(mounted.session, Libc.geteuid() == 0 ? 4096 : 0);
            } else {
                used = CountingLowerFs.wrap(b.wrap.apply(new LocalLowerFs(Sys.raw(lower))), stats.lowerCalls);
                plain = new StackedFs(used, b.options);
                plain.policy(b.policy);
                mounted = Mounts.mount(mnt, plain, b.mountOptions);
            }
        } catch (IndexException e) {
            throw new IOException(e.getMessage(), e);
        } finally {
            if (mounted == null) {
                if (made != null) {
                    made.close();
                } else if (used != null) {
                    used.close();
                }
            }
        }
        this.parts = made;
        this.lowerFs = used;
        this.uplink = made == null ? null : made.uplink;
        this.cache = made == null ? null : made.cache;
        this.fs = made == null ? plain : made.fs;
        this.live = mounted;
    }

    /** Reference and stacked directories in {@code tmp} (a local test directory). */
    public static Builder inDirectory(Path tmp) throws IOException {
        // Other uids must be able to reach the roots (JUnit makes temp dirs 0700).
        Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path ref = Files.createDirectory(tmp.resolve("ref"));
        Path lower = Files.createDirectory(tmp.resolve("lower"));
        Files.setPosixFilePermissions(ref, Files.getPosixFilePermissions(lower));
        return new Builder(ref, lower);
    }

    /** Fresh reference and stacked directories on {@code l}; the mount point is local. */
    public static Builder on(Lower l) throws IOException {
        int n = SEQ.incrementAndGet();
        Path ref = Files.createDirectory(l.root().resolve("ref-" + n));
        Path lower = Files.createDirectory(l.root().resolve("low-" + n));
        Files.setPosixFilePermissions(ref, PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.setPosixFilePermissions(lower, PosixFilePermissions.fromString("rwxr-xr-x"));
        return new Builder(ref, lower);
    }

    /** The same directories as {@code earlier} (closed), for a remount over what it left. */
    public static Builder again(Stack earlier) {
        Builder b = new Builder(earlier.ref, earlier.lower);
        if (earlier.cacheDir != null) {
            b.cacheDir(earlier.cacheDir);
        } else {
            b.noCache();
        }
        return b;
    }

    public static Stack onLower(Lower l) throws IOException, ErrnoException {
        return on(l).mount();
    }

    /** Counters of this mount (lower calls are counted with or without a cache). */
    public CacheStats stats() {
        return stats;
    }

    /** The raw path of {@code rel} under the reference root, the mount, and the stacked lower dir. */
    public String inRef(String rel) {
        return join(ref, rel);
    }

    public String inMnt(String rel) {
        return join(mnt, rel);
    }

    public String inLower(String rel) {
        return join(lower, rel);
    }

    private static String join(Path root, String rel) {
        return rel.isEmpty() ? Sys.raw(root) : Sys.raw(root) + "/" + rel;
    }

    @Override
    public void close() {
        try {
            live.close();
        } finally {
            if (parts != null) {
                parts.close();
            } else {
                lowerFs.close();
            }
        }
    }
}
