package dev.cachefs.resync;

import dev.cachefs.lower.LowerFs;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Stat;
import java.io.IOException;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.List;

/** Names beside a file for a version that cannot have the file's own (keep-both, both-created). */
final class ConflictNames {
    private static final DateTimeFormatter STAMP = DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss");
    private final String host;

    ConflictNames() {
        String h;
        try {
            h = java.net.InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            h = "local";
        }
        this.host = h.replaceAll("[^A-Za-z0-9_.-]", "_");
    }

    /**
     * A name beside {@code path} for the local version, fixed by the time of the local change
     * (so a replay that resumes finds the copy it made): name.conflict-HOST-TIMESTAMP.ext, with
     * -1, -2... where taken by something else.
     */
    String of(LowerFs lower, String path, long timeMs, Path local) throws ErrnoException {
        int slash = path.lastIndexOf('/');
        String dir = slash < 0 ? "" : path.substring(0, slash + 1);
        String name = path.substring(slash + 1);
        int dot = name.lastIndexOf('.');
        String stem = dot > 0 ? name.substring(0, dot) : name;
        String ext = dot > 0 ? name.substring(dot) : "";
        String when = LocalDateTime.ofInstant(java.time.Instant.ofEpochMilli(timeMs), java.time.ZoneId.systemDefault())
                .format(STAMP);
        String base = dir + stem + ".conflict-" + host + "-" + when;
        for (int i = 0; ; i++) {
            String candidate = base + (i == 0 ? "" : "-" + i) + ext;
            Stat there = LowerCopies.lstat(lower, candidate);
            if (there == null || (local != null && there.isRegular() && LowerCopies.sameContent(lower, candidate, there, local))) {
                return candidate;
            }
        }
    }

    /** Like {@link #of} for a symlink: the name already holding this symlink is reused. */
    String ofSymlink(LowerFs lower, String path, long timeMs, String target) throws ErrnoException {
        String first = of(lower, path, timeMs, null);
        String plain = first.replaceFirst("-1$", "");
        for (String candidate : List.of(plain, first)) {
            Stat there = LowerCopies.lstat(lower, candidate);
            if (there != null && there.isSymlink() && lower.readlink(candidate).equals(target)) {
                return candidate;
            }
        }
        return first;
    }
}
