package dev.cachefs.resync;

import dev.cachefs.index.CacheIndex;
import dev.cachefs.index.IndexException;
import dev.cachefs.index.ObjectRecord;
import dev.cachefs.index.ObjectState;
import dev.cachefs.lower.LowerFs;
import dev.cachefs.nativeio.Errno;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Stat;
import dev.cachefs.offline.ConflictView;
import dev.cachefs.offline.OfflineFs;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The user's word on an open conflict ({@code cachefs resolve}), carried out on the lower. */
final class Resolution {
    private static final Logger log = LoggerFactory.getLogger(Resolution.class);
    private final CacheIndex index;
    private final OfflineFs offline;
    private final ConflictView view;
    private final ReplayState state;
    private final ConflictNames names;

    Resolution(CacheIndex index, OfflineFs offline, ConflictView view, ReplayState state, ConflictNames names) {
        this.index = index;
        this.offline = offline;
        this.view = view;
        this.state = state;
        this.names = names;
    }

    /**
     * Settles an open conflict as the user says: {@code local}, {@code remote}, {@code both} or
     * {@code merged}. Returns where each version went.
     */
    String resolve(LowerFs lower, CacheIndex.Conflict c, String keep) throws ErrnoException, IndexException {
        if (!c.open()) {
            throw new ErrnoException(Errno.EINVAL, "conflict " + c.id() + " at " + c.path() + " is resolved already");
        }
        Path local = c.objId() == null ? null : offline.localCopy(c.objId());
        Path dir = view.variantsOf(c);
        String path = c.path();
        int fileMode = c.objId() == null ? 0644 : index.stat(c.objId()).map(st -> st.mode() & 07777).orElse(0644);
        String detail;
        switch (keep) {
            case "local" -> {
                if (local != null) {
                    LowerCopies.upload(lower, local, path, fileMode, 0);
                    detail = "the local version is on the lower";
                } else {
                    if (LowerCopies.lstat(lower, path) != null) {
                        lower.unlink(path);
                    }
                    detail = "deleted as it was offline; the lower's version is kept in the cache";
                }
            }
            case "remote" -> {
                if (local != null && dir != null) {
                    LowerCopies.copy(local, LowerCopies.privateDir(dir).resolve("local"));
                }
                detail = "the lower's version stays; the local one is kept in the cache at " + (dir == null ? "?" : dir.resolve("local"));
            }
            case "both" -> {
                if (local != null) {
                    String target = names.of(lower, path, c.detectedMs(), local);
                    LowerCopies.upload(lower, local, target, fileMode, 0);
                    detail = "the local version is " + target;
                } else {
                    detail = "the lower's version stays (the file was deleted offline)";
                }
            }
            case "merged" -> {
                Path merged = dir == null ? null : dir.resolve("merged");
                if (merged == null || !Files.isRegularFile(merged)) {
                    throw new ErrnoException(Errno.EINVAL, "no merged version of " + path + " (its rule merged nothing)");
                }
                LowerCopies.upload(lower, merged, path, fileMode, 0);
                detail = "the merge (as edited in " + merged + ") is on the lower";
            }
            default -> throw new ErrnoException(Errno.EINVAL, "keep what? local, remote, both or merged, not " + keep);
        }
        index.conflictLog().resolve(c.id(), "keep-" + keep + " (by the user)", c.detail() + "; " + detail);
        if (c.objId() != null) {
            state.held.remove(c.objId());
            ObjectRecord r = index.get(c.objId()).orElse(null);
            if (r != null) {
                // the object is what the lower has at its path now, not what it was offline
                try {
                    Stat now = LowerCopies.lstat(lower, path);
                    if (now != null) {
                        index.setStat(r.id(), now);
                    }
                } catch (ErrnoException e) {
                    // the lower went away again: its attributes come with the next lookup online
                    log.debug("after resolving {}: {}", path, e.getMessage());
                }
                forgetCopies(r);
            }
        }
        view.refresh();
        state.touched(path);
        state.staleTouched();
        return detail;
    }

    /** An object's offline copies are no longer needed: they are removed, and its row reset. */
    private void forgetCopies(ObjectRecord r) throws IndexException {
        Path local = offline.localCopy(r.id());
        try {
            if (local != null && index.localUsers(index.local(r.id()).orElse("")) <= 1) {
                Files.deleteIfExists(local);
            }
            Files.deleteIfExists(state.baseCopyPath(r.id()));
        } catch (IOException e) {
            log.warn("cannot remove the offline copies of {}: {}", r.path(), e.getMessage());
        }
        index.setLocal(r.id(), null);
        if (r.fileId().isProvisional()) {
            index.delete(r.id());
        } else {
            index.setState(r.id(), ObjectState.METADATA_ONLY);
        }
        state.forgetRedirect(r.id());
    }
}
