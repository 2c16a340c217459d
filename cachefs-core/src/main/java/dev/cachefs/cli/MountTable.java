package dev.cachefs.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** What /proc/self/mountinfo says is mounted. */
public final class MountTable {
    /** One mount: where, what type (e.g. fuse.cachefs), and its source. */
    public record Mount(Path mountpoint, String type, String source) {}

    private MountTable() {}

    public static List<Mount> read() throws IOException {
        List<Mount> out = new ArrayList<>();
        for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
            String[] f = line.split(" ");
            int dash = List.of(f).indexOf("-");
            if (f.length < 5 || dash < 0 || dash + 2 >= f.length) {
                continue;
            }
            out.add(new Mount(Path.of(unescape(f[4])), f[dash + 1], unescape(f[dash + 2])));
        }
        return out;
    }

    /** The mount whose mount point is exactly {@code dir}, the last one if stacked. */
    public static Optional<Mount> at(Path dir) throws IOException {
        Path abs = dir.toAbsolutePath().normalize();
        Mount found = null;
        for (Mount m : read()) {
            if (m.mountpoint().equals(abs)) {
                found = m;
            }
        }
        return Optional.ofNullable(found);
    }

    /** mountinfo writes space, tab, newline and backslash as \\ooo octal escapes. */
    static String unescape(String s) {
        StringBuilder sb = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && i + 3 < s.length()) {
                String oct = s.substring(i + 1, Math.min(i + 4, s.length()));
                if (oct.length() == 3 && oct.chars().allMatch(ch -> ch >= '0' && ch <= '7')) {
                    sb.append((char) Integer.parseInt(oct, 8));
                    i += 3;
                    continue;
                }
            }
            sb.append(c);
        }
        return sb.toString();
    }
}
