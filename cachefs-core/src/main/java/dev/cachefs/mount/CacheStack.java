package dev.cachefs.mount;

import dev.cachefs.cache.CacheLayer;
import dev.cachefs.cache.CacheStats;
import dev.cachefs.cache.Policy;
import dev.cachefs.fs.CachedFiles;
import dev.cachefs.fs.StackedFs;
import dev.cachefs.fuse.FuseSession;
import dev.cachefs.index.CacheStore;
import dev.cachefs.index.IdentityMode;
import dev.cachefs.index.IndexException;
import dev.cachefs.index.LowerIdentity;
import dev.cachefs.lower.CountingLowerFs;
import dev.cachefs.lower.LowerFs;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Libc;
import dev.cachefs.mount.Uplink;
import java.nio.file.Path;
import java.util.Locale;
import java.util.function.UnaryOperator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The layers of one cachefs mount, assembled in one place for the daemon and for the test
 * harness alike: the cache directory ({@link CacheStore}), the link to the lower under deadlines
 * with disconnected operation ({@link Uplink}), the cache layer over it, and the stacked
 * filesystem the FUSE session serves. The caller mounts {@link #fs} (the daemon with
 * {@code FuseSession.mount}, the harness with its own guarded mount), then calls
 * {@link #mounted}.
 *
 * <pre>
 *   FuseSession -> StackedFs -> CacheLayer -> Uplink.lower() (ModalLowerFs) -> real lower | OfflineFs
 *                                   \-> CacheStore (data files + index)  <-/
 * </pre>
 */
public final class CacheStack implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(CacheStack.class);

    /**
     * What a mount is made of.
     *
     * @param lowerRaw the lower directory (raw path)
     * @param mountpoint where it will be mounted (for events and conflict names)
     * @param wrap applied to each real lower opened (fault injection in tests; identity otherwise)
     * @param metaTtlMs how long attributes the lower gave are trusted without asking (0: always ask)
     */
    public record Config(String lowerRaw, Path cacheDir, int chunkSize, IdentityMode identity, Uplink.Options uplink,
                         CacheLayer.Options cache, StackedFs.Options fs, Policy policy, long metaTtlMs, String mountpoint,
                         UnaryOperator<LowerFs> wrap) {}

    public final CacheStore store;
    public final CacheStats stats;
    public final Uplink uplink;
    public final CacheLayer cache;
    public final StackedFs fs;
    private final Policy policy;

    private CacheStack(CacheStore store, CacheStats stats, Uplink uplink, CacheLayer cache, StackedFs fs, Policy policy) {
        this.store = store;
        this.stats = stats;
        this.uplink = uplink;
        this.cache = cache;
        this.fs = fs;
        this.policy = policy;
    }

    /**
     * Opens the cache directory, reaches the lower (or starts offline from the cache's record) and
     * builds the layers over it; on failure, closes what it made.
     *
     * @throws IndexException the cache directory cannot be used (the message says why)
     * @throws ErrnoException the lower can be neither reached nor served from the cache
     */
    public static CacheStack open(Config c, CacheStats stats) throws IndexException, ErrnoException {
        CacheStore store = CacheStore.open(c.cacheDir(), c.chunkSize());
        Uplink uplink = null;
        CacheLayer cache = null;
        try {
            Uplink.Options up = c.policy().conflictRules().isEmpty() ? c.uplink()
                    : c.uplink().withConflictRules(c.policy().conflictRules());
            uplink = new Uplink(c.lowerRaw(), store, c.identity(), up, c.mountpoint(),
                    l -> CountingLowerFs.wrap(c.wrap().apply(l), stats.lowerCalls),
                    (lower, ids, mode) -> new CacheLayer(store, lower, ids, mode, c.cache(), stats));
            LowerIdentity id = uplink.identity();
            log.info("identity {}: {}", id.mode().name().toLowerCase(Locale.ROOT), id.reason());
            cache = uplink.cache();
            StackedFs fs = new StackedFs(uplink.lower(), c.fs(), new CachedFiles(cache, uplink::opensLocally));
            fs.policy(c.policy());
            fs.metaTtl(c.metaTtlMs());
            uplink.onBackOnline(fs::forgetRecentAttributes, fs::renewNames);
            uplink.onUploaded(fs::renewNames);
            return new CacheStack(store, stats, uplink, cache, fs, c.policy());
        } catch (ErrnoException | RuntimeException e) {
            if (cache != null) {
                cache.close();
            }
            if (uplink != null) {
                uplink.close();
            }
            store.close();
            throw e;
        }
    }

    /**
     * {@link #fs} is mounted as {@code session}: the kernel's readahead for it (root only; 0 leaves
     * the kernel's default), and the config's pins, made each time the mount comes online.
     */
    public void mounted(FuseSession session, int kernelReadaheadKb) {
        if (Libc.geteuid() == 0 && kernelReadaheadKb > 0) {
            session.setReadahead(kernelReadaheadKb);
        }
        if (!policy.isEmpty()) {
            uplink.whenOnline("cachefs-config-pins", () -> cache.pinByPolicy(policy));
        }
    }

    /**
     * Closes the layers, top down (the session must be gone); with write-back, what is queued is
     * uploaded first, within a timeout (what is left waits for the next mount).
     */
    @Override
    public void close() {
        try {
            uplink.flushQueue();
        } catch (RuntimeException e) {
            log.error("upload at unmount: {}", e.toString());
        }
        uplink.quiesce();
        try {
            cache.close();
        } finally {
            try {
                uplink.close();
            } finally {
                store.close();
            }
        }
    }
}
