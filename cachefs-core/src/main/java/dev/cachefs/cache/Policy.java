package dev.cachefs.cache;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * What the mount's config file says about caching, by path pattern:
 *
 * <pre>
 *   # comment
 *   pin: projects/report/**       always pinned (when the mount starts and each time it comes online)
 *   no-cache: **&#47;*.iso             never cached: read from the lower every time
 *   max-file-size: 2G             larger files are not cached (pins excepted)
 *   [conflicts]                   from here on, what replay does where a file changed on both sides:
 *   **&#47;*.o: keep-remote           PATTERN: POLICY, first match wins, default ask
 *   *.txt: merge
 *   [mount]                       the mount itself, so that one file describes it (fstab, systemd):
 *   lower: /mnt/nfs               the command line's LOWER, MOUNTPOINT, --cache, --cache-size,
 *   mountpoint: /mnt/cached       --pin-size, --cache-files, --identity, --on-event, --log-level; options: adds
 *   cache: /var/cache/cachefs/nfs -o options (the line may repeat). The command line wins.
 *   options: meta_ttl=60,allow_other
 *   writeback: 10                 write-back, uploads 10 s after a change (off: writes go through;
 *                                 -o writeback/nowriteback wins)
 * </pre>
 *
 * Conflict policies: ask, keep-local, keep-remote, discard-local, keep-both, newest-wins, merge
 * (the built-in three-way text merge) or the name of a resolver plug-in.
 *
 * <p>Patterns are relative to the mount's root: {@code *} and {@code ?} stay within a name,
 * {@code **} spans directories ({@code **&#47;} also matches no directory at all), and a pattern
 * without a slash matches a name at any depth (as in .gitignore). An explicit pin overrides
 * no-cache and the size limit; no-cache wins over a pin pattern.
 */
public final class Policy {
    public static final Policy NONE = new Policy(List.of(), List.of(), 0, List.of());

    /** The keys a {@code [mount]} section may set. */
    public static final List<String> MOUNT_KEYS = List.of("lower", "mountpoint", "cache", "cache-size", "pin-size",
            "cache-files", "identity", "on-event", "log-level", "options", "writeback");

    /**
     * What replay does with a conflict: one of the built-in policies, or a resolver named by the
     * config (the built-in three-way {@code merge}, or a plug-in), checked to exist at mount.
     */
    public sealed interface ConflictAction permits Builtin, Resolver {
        /** As the config writes it. */
        String text();

        /** The action {@code text} names: a built-in policy, else a resolver of that name. */
        static ConflictAction parse(String text) {
            for (Builtin b : Builtin.values()) {
                if (b.text.equals(text)) {
                    return b;
                }
            }
            return new Resolver(text);
        }
    }

    /** The built-in policies. */
    public enum Builtin implements ConflictAction {
        /** Leave it open: the mount shows the local version until cachefs resolve. */
        ASK("ask"),
        KEEP_LOCAL("keep-local"),
        KEEP_REMOTE("keep-remote"),
        /** keep-remote, said of the local side (e.g. for build outputs). */
        DISCARD_LOCAL("discard-local"),
        /** The local version goes up beside the lower's, under a conflict name. */
        KEEP_BOTH("keep-both"),
        /** The version changed last wins. */
        NEWEST_WINS("newest-wins");

        private final String text;

        Builtin(String text) {
            this.text = text;
        }

        @Override
        public String text() {
            return text;
        }
    }

    /** A resolver by name: tried first; what it cannot merge cleanly is left open (ask). */
    public record Resolver(String name) implements ConflictAction {
        @Override
        public String text() {
            return name;
        }
    }

    /** A {@code [conflicts]} rule: what replay does with a conflict at a path matching {@code glob}. */
    public record ConflictRule(Glob glob, ConflictAction action) {
        public ConflictRule(Glob glob, String action) {
            this(glob, ConflictAction.parse(action));
        }
    }

    /** A pattern as written and as matched. */
    public record Glob(String text, Pattern regex) {
        public boolean matches(String rel) {
            return regex.matcher(rel).matches();
        }

        /** The directory before the first wildcard: where matches can be looked for. */
        public String literalDir() {
            int w = firstWildcard(text);
            String lit = w < 0 ? text : text.substring(0, w);
            if (!text.contains("/")) {
                return ""; // a bare name matches anywhere
            }
            int slash = lit.lastIndexOf('/');
            return w < 0 ? text : slash < 0 ? "" : lit.substring(0, slash);
        }
    }

    private final List<Glob> pins;
    private final List<Glob> noCache;
    private final long maxFileSize;
    private final List<ConflictRule> conflictRules;
    private final Map<String, String> mount;

    public Policy(List<Glob> pins, List<Glob> noCache, long maxFileSize) {
        this(pins, noCache, maxFileSize, List.of());
    }

    public Policy(List<Glob> pins, List<Glob> noCache, long maxFileSize, List<ConflictRule> conflictRules) {
        this(pins, noCache, maxFileSize, conflictRules, Map.of());
    }

    private Policy(List<Glob> pins, List<Glob> noCache, long maxFileSize, List<ConflictRule> conflictRules,
                   Map<String, String> mount) {
        this.mount = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(mount));
        this.pins = List.copyOf(pins);
        this.noCache = List.copyOf(noCache);
        this.maxFileSize = maxFileSize;
        this.conflictRules = List.copyOf(conflictRules);
    }

    /** What the {@code [mount]} section sets, by key ({@link #MOUNT_KEYS}); options comma-joined. */
    public Map<String, String> mount() {
        return mount;
    }

    /** The {@code [conflicts]} rules, in order. */
    public List<ConflictRule> conflictRules() {
        return conflictRules;
    }

    /** Parses a config file; an error names the file and line. */
    public static Policy load(Path file) throws IOException {
        List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        return parse(lines, file.toString());
    }

    public static Policy parse(List<String> lines, String source) {
        List<Glob> pins = new ArrayList<>();
        List<Glob> noCache = new ArrayList<>();
        long max = 0;
        List<ConflictRule> rules = new ArrayList<>();
        Map<String, String> mount = new LinkedHashMap<>();
        String section = "";
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).strip();
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            if (line.startsWith("[")) {
                if (!line.equals("[conflicts]") && !line.equals("[mount]")) {
                    throw new IllegalArgumentException(source + ":" + (i + 1) + ": unknown section " + line
                            + " ([conflicts] or [mount])");
                }
                section = line;
                continue;
            }
            if (section.equals("[mount]")) {
                int c = line.indexOf(':');
                String key = c < 0 ? "" : line.substring(0, c).strip();
                String value = c < 0 ? "" : line.substring(c + 1).strip();
                if (!MOUNT_KEYS.contains(key)) {
                    throw new IllegalArgumentException(source + ":" + (i + 1) + ": unknown key '" + key + "' in [mount] ("
                            + String.join(", ", MOUNT_KEYS) + ")");
                }
                if (value.isEmpty()) {
                    throw new IllegalArgumentException(source + ":" + (i + 1) + ": " + key + " needs a value");
                }
                if (key.equals("options")) {
                    mount.merge(key, value, (a, b) -> a + "," + b);
                } else if (mount.putIfAbsent(key, value) != null) {
                    throw new IllegalArgumentException(source + ":" + (i + 1) + ": " + key + " is set twice in [mount]");
                }
                continue;
            }
            if (section.equals("[conflicts]")) {
                int c = line.lastIndexOf(':');
                String pattern = c < 0 ? "" : line.substring(0, c).strip();
                String action = c < 0 ? "" : line.substring(c + 1).strip();
                if (pattern.isEmpty() || action.isEmpty() || action.contains(" ")) {
                    throw new IllegalArgumentException(source + ":" + (i + 1) + ": expected 'PATTERN: POLICY' in [conflicts], got '"
                            + line + "'");
                }
                rules.add(new ConflictRule(glob(pattern), action));
                continue;
            }
            int colon = line.indexOf(':');
            if (colon < 0) {
                throw new IllegalArgumentException(source + ":" + (i + 1) + ": expected 'key: value', got '" + line + "'");
            }
            String key = line.substring(0, colon).strip();
            String value = line.substring(colon + 1).strip();
            if (value.isEmpty()) {
                throw new IllegalArgumentException(source + ":" + (i + 1) + ": " + key + " needs a value");
            }
            switch (key) {
                case "pin" -> pins.add(glob(value));
                case "writeback" -> mount.put("writeback", value); // the mount's, wherever it is written
                case "no-cache" -> noCache.add(glob(value));
                case "max-file-size" -> {
                    try {
                        max = ByteSizes.parse(value);
                    } catch (IllegalArgumentException e) {
                        throw new IllegalArgumentException(source + ":" + (i + 1) + ": " + e.getMessage());
                    }
                }
                default -> throw new IllegalArgumentException(source + ":" + (i + 1) + ": unknown key '" + key
                        + "' (pin, no-cache, max-file-size, writeback)");
            }
        }
        return new Policy(pins, noCache, max, rules, mount);
    }

    private static int firstWildcard(String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '*' || c == '?' || c == '[') {
                return i;
            }
        }
        return -1;
    }

    /** A glob (see the class) as a regular expression over relative paths. */
    public static Glob glob(String text) {
        String t = text.startsWith("/") ? text.substring(1) : text;
        if (t.endsWith("/")) {
            t = t + "**";
        }
        StringBuilder re = new StringBuilder();
        if (!t.contains("/")) {
            re.append("(?:.*/)?"); // a bare name: at any depth
        }
        for (int i = 0; i < t.length(); i++) {
            char c = t.charAt(i);
            if (c == '*' && i + 1 < t.length() && t.charAt(i + 1) == '*') {
                if (i + 2 < t.length() && t.charAt(i + 2) == '/') {
                    re.append("(?:.*/)?");
                    i += 2;
                } else {
                    re.append(".*");
                    i += 1;
                }
            } else if (c == '*') {
                re.append("[^/]*");
            } else if (c == '?') {
                re.append("[^/]");
            } else {
                re.append(Pattern.quote(String.valueOf(c)));
            }
        }
        return new Glob(t, Pattern.compile(re.toString(), Pattern.DOTALL));
    }

    public List<Glob> pins() {
        return pins;
    }

    public boolean isEmpty() {
        return pins.isEmpty() && noCache.isEmpty() && maxFileSize == 0 && conflictRules.isEmpty();
    }

    /** Whether a file at {@code rel} of {@code size} bytes is kept out of the cache. */
    public boolean uncached(String rel, long size) {
        if (maxFileSize > 0 && size > maxFileSize) {
            return true;
        }
        for (Glob g : noCache) {
            if (g.matches(rel)) {
                return true;
            }
        }
        return false;
    }

    /** Whether {@code rel} is to be pinned by the config. */
    public boolean pinned(String rel) {
        for (Glob g : pins) {
            if (g.matches(rel)) {
                return !uncached(rel, 0);
            }
        }
        return false;
    }

    @Override
    public String toString() {
        return "pin " + pins.stream().map(Glob::text).toList() + ", no-cache " + noCache.stream().map(Glob::text).toList()
                + (maxFileSize > 0 ? ", max-file-size " + maxFileSize : "");
    }
}
