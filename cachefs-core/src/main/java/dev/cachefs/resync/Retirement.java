package dev.cachefs.resync;

import dev.cachefs.cache.CacheLayer;
import dev.cachefs.index.CacheIndex;
import dev.cachefs.index.FileId;
import dev.cachefs.index.IndexException;
import dev.cachefs.index.ObjectRecord;
import dev.cachefs.index.ObjectState;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Stat;
import dev.cachefs.offline.ConflictView;
import dev.cachefs.offline.OfflineFs;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Replay's last step, once the journal is empty: the offline copies go, objects made offline take
 * the lower's identity, and what was written offline may stay cached ({@link Adopter}).
 */
public final class Retirement {
    private static final Logger log = LoggerFactory.getLogger(Retirement.class);
    private final CacheIndex index;
    private final OfflineFs offline;
    private final ConflictView view;
    private final ReplayState state;

    Retirement(CacheIndex index, OfflineFs offline, ConflictView view, ReplayState state) {
        this.index = index;
        this.offline = offline;
        this.view = view;
        this.state = state;
    }

    /** Gives the object retired as {@code r} (now {@code current}, or replaced by the row of {@code real}) what its replay landed. */
    private void land(ObjectRecord r, FileId real, boolean kept) throws IndexException {
        Stat st = state.landedOf(r);
        if (st == null) {
            return;
        }
        if (kept) {
            index.setStat(r.id(), st);
        } else if (real != null) {
            var other = index.find(real);
            if (other.isPresent()) {
                index.setStat(other.get().id(), st);
            }
        }
        index.putMeta(ReplayState.LANDED + r.id(), "");
    }

    /** Takes a local copy that replay wrote to the lower as the cached data of what it became there. */
    @FunctionalInterface
    public interface Adopter {
        void adopt(String path, FileId id, Stat st, Path local) throws ErrnoException;
    }

    /**
     * After a replay that left the journal empty: the local and base copies are retired (but for
     * objects held by an open conflict), objects made offline get the lower's identity (re-keyed,
     * so their attributes, xattrs and pins stay; a row the lower's identity already has wins),
     * changed objects' cached data is dropped (it is the old version), and listings of the
     * directories the journal touched are no longer trusted.
     *
     * <p>A local copy whose object's every change reached the lower as it was made offline (no
     * conflict ever recorded for it, its last replayed change landed, the lower's size is the
     * copy's) goes to {@code adopter} (if not null) before it is removed, so that what was written
     * offline stays readable offline.
     */
    void retire(CacheLayer.Identifier ids, Adopter adopter, Set<Long> waiting) throws IndexException {
        Set<Long> open = new java.util.HashSet<>(state.held);
        open.addAll(waiting);
        for (CacheIndex.Conflict c : view.open().values()) {
            if (c.objId() != null) {
                open.add(c.objId());
            }
        }
        Set<Long> conflicted = new java.util.HashSet<>();
        if (adopter != null) {
            for (CacheIndex.Conflict c : index.conflictLog().all()) {
                if (c.objId() != null) {
                    conflicted.add(c.objId());
                }
            }
        }
        for (ObjectRecord r : index.changedOffline()) {
            if (open.contains(r.id())) {
                continue;
            }
            String now = state.redirected(r.id(), r.path());
            Path local = offline.localCopy(r.id());
            Stat landedSt = adopter == null || local == null || now == null || conflicted.contains(r.id()) ? null : state.landedOf(r);
            if (landedSt != null) {
                try {
                    if (!landedSt.isRegular() || Files.size(local) != landedSt.size()) {
                        landedSt = null;
                    }
                } catch (IOException e) {
                    landedSt = null;
                }
            }
            // The lower is asked first; then the object's retirement is one transaction, so that a
            // crash never leaves it half retired (no local copy, and not yet the lower's identity
            // and attributes: an offline restart then served the size it had when it was made).
            FileId asked = null; // the identity the lower gives the path now, when it is asked
            boolean askedFailed = false;
            boolean provisional = r.fileId().isProvisional();
            boolean ask = ids != null && now != null && now.equals(r.path()) && (provisional || landedSt != null);
            if (ask) {
                try {
                    asked = ids.idOf(now);
                } catch (ErrnoException e) {
                    askedFailed = true; // gone again, or the lower went away: its identity is found at the next lookup
                }
            }
            final FileId real = asked;
            final boolean unknown = askedFailed;
            final Stat landedFinal = landedSt;
            FileId[] kept = new FileId[1]; // the identity the object has on the lower now, if known
            index.transaction(() -> {
                index.setLocal(r.id(), null);
                index.setState(r.id(), ObjectState.METADATA_ONLY);
                if (provisional) {
                    boolean rekeyed = real != null && index.rekey(r.id(), real);
                    land(r, real, rekeyed);
                    if (!rekeyed) {
                        index.delete(r.id());
                        if (real != null && index.find(real).isPresent()) {
                            // The row the lower's identity has (path identity: the file this one was
                            // renamed over) takes the copy as its data: what it holds is the older
                            // version, and may carry the same size and second (sshfs).
                            kept[0] = real;
                        }
                    } else {
                        kept[0] = real;
                    }
                } else {
                    FileId target = r.fileId();
                    if (ask) {
                        target = unknown ? null : real; // an upload replaces the file: most lowers give it a new identity
                    }
                    if (target != null && !target.equals(r.fileId())) {
                        // Replaced on the lower: the new object's row takes the path, what landed and the pin;
                        // the old row names nothing any more (else the cache would hold two versions of one path).
                        long row = index.putAttrs(target, now, landedFinal);
                        if (r.pinned()) {
                            index.setPinned(row, true);
                        }
                        index.paths().detach(r.id());
                        index.putMeta(ReplayState.LANDED + r.id(), "");
                    } else {
                        land(r, null, true);
                    }
                    kept[0] = target;
                }
                state.forgetRedirect(r.id());
            });
            FileId target = kept[0];
            log.debug("retired {} (row {}, {}): copy {}, landed {}, kept as {}", now, r.id(), r.fileId(), local, landedSt, target);
            if (landedSt != null && target != null) {
                try {
                    adopter.adopt(now, target, landedSt, local);
                } catch (ErrnoException e) {
                    log.warn("cannot keep the offline copy of {} as its cached data: {}", now, e.getMessage());
                }
            }
            try {
                if (local != null) {
                    Files.deleteIfExists(local);
                }
                Files.deleteIfExists(state.baseCopyPath(r.id()));
            } catch (IOException e) {
                log.warn("cannot remove the offline copies of {}: {}", r.path(), e.getMessage());
            }
        }
        // Objects changed offline in their metadata only (no local copy) get theirs too.
        for (var e : index.metaStartingWith(ReplayState.LANDED).entrySet()) {
            long id = Long.parseLong(e.getKey().substring(ReplayState.LANDED.length()));
            if (!open.contains(id) && index.get(id).isPresent()) {
                index.setStat(id, Stat.decode(HexFormat.of().parseHex(e.getValue())));
            }
            if (!open.contains(id)) {
                index.putMeta(e.getKey(), "");
            }
        }
        state.staleTouched();
        offline.queue().reload(); // what write-back still has queued: what was kept back above
    }
}
