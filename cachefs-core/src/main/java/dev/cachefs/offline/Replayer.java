package dev.cachefs.offline;

import dev.cachefs.index.CacheIndex;
import dev.cachefs.index.CacheStore;
import dev.cachefs.index.Fingerprint;
import dev.cachefs.index.IdentityMode;
import dev.cachefs.index.IndexException;
import dev.cachefs.index.ObjectRecord;
import dev.cachefs.index.ObjectState;
import dev.cachefs.lower.LowerFile;
import dev.cachefs.lower.LowerFs;
import dev.cachefs.nativeio.Errno;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Libc;
import dev.cachefs.nativeio.Stat;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.HexFormat;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Replays the journal of offline changes on the lower, oldest first, each entry marked done once
 * it is on the lower, so a replay cut short (a crash, a second outage) goes on where it stopped.
 *
 * <p>Before a change is applied, the lower's object is compared with the entry's base. Where the
 * lower changed too, nothing is overwritten: the local version goes next to the remote one as
 * {@code name.conflict-HOST-TIMESTAMP.ext} (keep both), and the conflict is recorded and
 * announced. Kinds: both-created, both-updated, updated-locally-deleted-remotely,
 * deleted-locally-updated-remotely (the remote version stays), renamed-locally-deleted-remotely,
 * rename-onto-existing, removed-locally-changed-remotely (the directory stays). This is the first
 * increment of resync: every offline change ends on the lower or in a stash beside it; the other
 * policies, rules, merges and the conflicts view are the resync issue's.
 *
 * <p>Data goes up whole from the local copy (its final content), written to a temporary name
 * and renamed over the target, so a reader never sees half of it.
 */
final class Replayer {
    private static final Logger log = LoggerFactory.getLogger(Replayer.class);
    private static final DateTimeFormatter STAMP = DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss");

    /** What one replay did. */
    record Outcome(int applied, int conflicts) {}

    private final CacheStore store;
    private final CacheIndex index;
    private final OfflineFs offline;
    private final IdentityMode mode;
    private final Connectivity connectivity;
    private final String host;

    Replayer(CacheStore store, OfflineFs offline, IdentityMode mode, Connectivity connectivity) {
        this.store = store;
        this.index = store.index();
        this.offline = offline;
        this.mode = mode;
        this.connectivity = connectivity;
        String h;
        try {
            h = java.net.InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            h = "local";
        }
        this.host = h.replaceAll("[^A-Za-z0-9_.-]", "_");
    }

    /** Replays what the journal holds now. Throws (resumable) when the lower fails. */
    Outcome replay(LowerFs lower) throws ErrnoException, IndexException {
        int applied = 0;
        int conflicts = 0;
        for (CacheIndex.JournalEntry e : index.journal()) {
            touched.add(parentOf(e.path()));
            if (e.path2() != null) {
                touched.add(parentOf(e.path2()));
            }
            boolean conflict = apply(lower, e);
            index.journalDone(e.seq());
            applied++;
            if (conflict) {
                conflicts++;
            }
        }
        if (applied > 0) {
            log.info("replayed {} offline changes ({} conflicts)", applied, conflicts);
        }
        return new Outcome(applied, conflicts);
    }

    /** Directories the entries replayed since the last {@link #retire} touched. */
    private final Set<String> touched = java.util.concurrent.ConcurrentHashMap.newKeySet();

    private static String parentOf(String path) {
        int slash = path.lastIndexOf('/');
        return slash < 0 ? "" : path.substring(0, slash);
    }

    /** Where an object is on the lower now, if replay moved it aside (a conflict). */
    private String redirected(Long objId, String path) throws IndexException {
        if (objId == null) {
            return path;
        }
        String moved = index.meta("replay-path-" + objId).orElse("");
        return moved.isEmpty() ? path : moved;
    }

    private void redirect(long objId, String path) throws IndexException {
        index.putMeta("replay-path-" + objId, path);
    }

    private static Stat lstat(LowerFs lower, String path) throws ErrnoException {
        try {
            return lower.stat(path);
        } catch (ErrnoException e) {
            if (e.errno() == Errno.ENOENT) {
                return null;
            }
            throw e;
        }
    }

    private boolean sameAsBase(Stat now, byte[] base) {
        if (base == null) {
            return false;
        }
        Stat b = Stat.decode(base);
        return b.fileType() == now.fileType() && Fingerprint.of(b).sameVersion(Fingerprint.of(now), mode);
    }

    /** A free name beside {@code path} for the local version: name.conflict-HOST-TIMESTAMP.ext. */
    private String conflictName(LowerFs lower, String path) throws ErrnoException {
        int slash = path.lastIndexOf('/');
        String dir = slash < 0 ? "" : path.substring(0, slash + 1);
        String name = path.substring(slash + 1);
        int dot = name.lastIndexOf('.');
        String stem = dot > 0 ? name.substring(0, dot) : name;
        String ext = dot > 0 ? name.substring(dot) : "";
        String base = dir + stem + ".conflict-" + host + "-" + LocalDateTime.now().format(STAMP);
        for (int i = 0; ; i++) {
            String candidate = base + (i == 0 ? "" : "-" + i) + ext;
            if (lstat(lower, candidate) == null) {
                return candidate;
            }
        }
    }

    private void conflict(Long objId, String path, String kind, String detail) throws IndexException {
        index.addConflict(objId, path, kind);
        log.warn("conflict ({}) at {}: {}", kind, path, detail);
        connectivity.report("conflict", kind + " at " + path + ": " + detail);
    }

    /** Applies one entry; whether it was a conflict. */
    private boolean apply(LowerFs lower, CacheIndex.JournalEntry e) throws ErrnoException, IndexException {
        Map<String, String> a = OfflineFs.parseArgs(e.args());
        String path = redirected(e.objId(), e.path());
        switch (e.op()) {
            case "create" -> {
                Stat now = lstat(lower, path);
                String target = now == null ? path : conflictName(lower, path);
                upload(lower, e.objId(), target, Integer.parseInt(a.getOrDefault("mode", "644"), 8), true);
                if (now != null) {
                    redirect(e.objId(), target);
                    conflict(e.objId(), path, "both-created", "the lower made it too; the local one is " + target);
                    return true;
                }
            }
            case "mkdir" -> {
                Stat now = lstat(lower, path);
                if (now == null) {
                    lower.mkdir(path, Integer.parseInt(a.getOrDefault("mode", "755"), 8));
                } else if (!now.isDirectory()) {
                    String target = conflictName(lower, path);
                    lower.mkdir(target, Integer.parseInt(a.getOrDefault("mode", "755"), 8));
                    redirect(e.objId(), target);
                    conflict(e.objId(), path, "both-created", "the lower has a file there; the directory is " + target);
                    return true;
                } // both made the directory: one directory, with what each put in it
            }
            case "symlink" -> {
                String target = new String(HexFormat.of().parseHex(a.get("target")), java.nio.charset.StandardCharsets.ISO_8859_1);
                Stat now = lstat(lower, path);
                if (now == null) {
                    lower.symlink(target, path);
                } else if (!(now.isSymlink() && lower.readlink(path).equals(target))) {
                    String other = conflictName(lower, path);
                    lower.symlink(target, other);
                    redirect(e.objId(), other);
                    conflict(e.objId(), path, "both-created", "the lower has another " + path + "; the symlink is " + other);
                    return true;
                }
            }
            case "write" -> {
                if (offline.localCopy(e.objId()) == null) {
                    return false; // deleted offline after: nothing to send
                }
                ObjectRecord rec = index.get(e.objId()).orElse(null);
                if (rec != null && rec.fileId().isProvisional()) {
                    return false; // made offline: its create sends the data
                }
                Stat now = lstat(lower, path);
                if (now == null) {
                    upload(lower, e.objId(), path, 0644, false);
                    conflict(e.objId(), path, "updated-locally-deleted-remotely", "the local version is back at " + path);
                    return true;
                }
                if (sameAsBase(now, e.base())) {
                    upload(lower, e.objId(), path, now.mode() & 07777, false);
                } else {
                    String target = conflictName(lower, path);
                    upload(lower, e.objId(), target, now.mode() & 07777, true);
                    redirect(e.objId(), target);
                    conflict(e.objId(), path, "both-updated", "the lower's version stays; the local one is " + target);
                    return true;
                }
            }
            case "truncate" -> {
                // the write entry before it sends the whole content
            }
            case "unlink" -> {
                Stat now = lstat(lower, path);
                if (now == null) {
                    return false;
                }
                ObjectRecord rec = index.get(e.objId()).orElse(null);
                boolean ours = rec != null && rec.fileId().isProvisional();
                if (ours || sameAsBase(now, e.base()) || e.base() == null) {
                    lower.unlink(path);
                } else {
                    conflict(e.objId(), path, "deleted-locally-updated-remotely", "the lower's newer version stays");
                    return true;
                }
            }
            case "rmdir" -> {
                try {
                    lower.rmdir(path);
                } catch (ErrnoException ex) {
                    if (ex.errno() == Errno.ENOENT) {
                        return false;
                    }
                    if (ex.errno() != Errno.ENOTEMPTY && ex.errno() != Errno.EEXIST) {
                        throw ex;
                    }
                    conflict(e.objId(), path, "removed-locally-changed-remotely", "the lower has new entries in it; it stays");
                    return true;
                }
            }
            case "rename" -> {
                String to = e.path2();
                Stat now = lstat(lower, path);
                if (now == null) {
                    if (offline.localCopy(e.objId()) != null) {
                        upload(lower, e.objId(), to, 0644, true);
                    }
                    redirect(e.objId(), to);
                    conflict(e.objId(), path, "renamed-locally-deleted-remotely", "what the cache has of it is at " + to);
                    return true;
                }
                String target = lstat(lower, to) == null ? to : conflictName(lower, to);
                lower.rename(path, target, 0);
                if (e.objId() != null) {
                    redirect(e.objId(), target); // where it is now, for its later entries
                }
                if (!target.equals(to)) {
                    conflict(e.objId(), to, "rename-onto-existing", "the lower made " + to + " meanwhile; this is " + target);
                    return true;
                }
            }
            case "link" -> {
                String to = e.path2();
                Stat now = lstat(lower, path);
                long linked = Long.parseLong(a.getOrDefault("new-obj", "-1"));
                if (now == null) {
                    upload(lower, linked, to, 0644, true);
                    conflict(e.objId(), to, "linked-locally-deleted-remotely", "the lower lost " + path + "; its copy is " + to);
                    return true;
                }
                String target = lstat(lower, to) == null ? to : conflictName(lower, to);
                try {
                    lower.link(path, target);
                } catch (Guard.Unreachable u) {
                    throw u;
                } catch (ErrnoException ex) {
                    upload(lower, linked, target, now.mode() & 07777, true); // no hard links there: a copy
                    log.warn("replay: the lower cannot hard link {} ({}); {} is a copy", path, ex.getMessage(), target);
                }
                redirect(linked, target);
                if (!target.equals(to)) {
                    conflict(linked, to, "both-created", "the lower made " + to + " too; the link is " + target);
                    return true;
                }
            }
            case "chmod" -> quietly(lower, path, () -> lower.chmod(path, Integer.parseInt(a.get("mode"), 8)));
            case "chown" -> quietly(lower, path, () -> lower.chown(path, Integer.parseInt(a.get("uid")),
                    Integer.parseInt(a.get("gid"))));
            case "utimens" -> quietly(lower, path, () -> {
                String[] at = a.get("atime").split("\\.");
                String[] mt = a.get("mtime").split("\\.");
                lower.utimens(path, Long.parseLong(at[0]), Long.parseLong(at[1]), Long.parseLong(mt[0]), Long.parseLong(mt[1]));
            });
            case "setxattr" -> quietly(lower, path, () -> {
                byte[] v = HexFormat.of().parseHex(a.get("value"));
                try (Arena arena = Arena.ofConfined()) {
                    MemorySegment seg = arena.allocate(Math.max(1, v.length));
                    MemorySegment.copy(v, 0, seg, java.lang.foreign.ValueLayout.JAVA_BYTE, 0, v.length);
                    lower.setxattr(path, name(a), seg.asSlice(0, v.length), 0);
                }
            });
            case "removexattr" -> quietly(lower, path, () -> lower.removexattr(path, name(a)));
            default -> log.warn("journal entry {} has an unknown operation {}; left alone", e.seq(), e.op());
        }
        return false;
    }

    private static String name(Map<String, String> a) {
        return new String(HexFormat.of().parseHex(a.get("name")), java.nio.charset.StandardCharsets.ISO_8859_1);
    }

    private interface Call {
        void run() throws ErrnoException;
    }

    /**
     * A metadata change: applied if the object is still there; a lower that cannot take it (no
     * chown on SMB, no xattrs on NFS via gvfs) says so in the log and the change stays local.
     */
    private void quietly(LowerFs lower, String path, Call c) throws ErrnoException {
        if (lstat(lower, path) == null) {
            return;
        }
        try {
            c.run();
        } catch (Guard.Unreachable u) {
            throw u;
        } catch (ErrnoException e) {
            log.warn("replay: the lower refused a metadata change of {}: {}", path, e.getMessage());
        }
    }

    /**
     * Sends an object's local copy to {@code target} on the lower: written under a temporary name
     * beside it and renamed over it (or, with {@code fresh}, made anew).
     */
    private void upload(LowerFs lower, Long objId, String target, int mode, boolean fresh) throws ErrnoException, IndexException {
        Path local = objId == null ? null : offline.localCopy(objId);
        int slash = target.lastIndexOf('/');
        String tmp = (slash < 0 ? "" : target.substring(0, slash + 1)) + ".cachefs-upload-" + System.nanoTime();
        LowerFile f = lower.open(tmp, Libc.O_WRONLY | Libc.O_CREAT | Libc.O_EXCL, mode);
        try {
            if (local != null) {
                try (FileChannel in = FileChannel.open(local, StandardOpenOption.READ); Arena arena = Arena.ofConfined()) {
                    MemorySegment buf = arena.allocate(1 << 20);
                    long off = 0;
                    java.nio.ByteBuffer bb = buf.asByteBuffer();
                    while (true) {
                        bb.clear();
                        int n = in.read(bb, off);
                        if (n <= 0) {
                            break;
                        }
                        long done = 0;
                        while (done < n) {
                            done += f.write(off + done, buf.asSlice(done, n - done));
                        }
                        off += n;
                    }
                } catch (IOException ex) {
                    throw new ErrnoException(Errno.EIO, "cannot read the local copy " + local + ": " + ex.getMessage());
                }
            }
            f.fsync(false);
        } catch (ErrnoException ex) {
            f.close();
            try {
                lower.unlink(tmp);
            } catch (ErrnoException ignored) {
                // the lower went away: an orphan upload file stays behind, named as one
            }
            throw ex;
        }
        f.close();
        lower.rename(tmp, target, 0); // the target was checked free (fresh) or is being replaced
    }

    /**
     * After a replay that left the journal empty: the local and base copies are retired, objects
     * made offline are forgotten (the lower's identity is found at their next lookup), changed
     * objects' cached data is dropped (it is the old version), and listings of the directories the
     * journal touched are no longer trusted.
     */
    void retire() throws IndexException {
        for (ObjectRecord r : index.changedOffline()) {
            Path local = offline.localCopy(r.id());
            try {
                if (local != null) {
                    Files.deleteIfExists(local);
                }
                Files.deleteIfExists(store.directory().resolve("base").resolve(Long.toString(r.id())));
            } catch (IOException e) {
                log.warn("cannot remove the offline copies of {}: {}", r.path(), e.getMessage());
            }
            if (r.fileId().isProvisional()) {
                index.delete(r.id());
            } else {
                // Its cached data is the version before: the next open sees the lower's new one and drops it.
                index.setLocal(r.id(), null);
                index.setState(r.id(), ObjectState.METADATA_ONLY);
            }
            index.putMeta("replay-path-" + r.id(), "");
        }
        for (String d : touched) {
            index.listingStale(d);
        }
        touched.clear();
    }
}
