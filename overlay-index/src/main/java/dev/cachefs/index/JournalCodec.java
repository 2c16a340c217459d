package dev.cachefs.index;

import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The one place journal records meet their stored form: an operation name ({@code op}), two
 * paths, and arguments as {@code key=value} lines (UTF-8; byte strings in hex), the format the
 * journal has had since schema 3. Decoding is lenient as replay always was: a missing mode is the
 * usual default, an unknown operation is {@link JournalRecord.Unknown}.
 */
public final class JournalCodec {
    private JournalCodec() {}

    /** A record as the journal's columns hold it. */
    public record Stored(String op, String path, String path2, byte[] args) {}

    public static Stored encode(JournalRecord r) {
        return switch (r) {
            case JournalRecord.Create c -> new Stored("create", c.path(), null,
                    args("mode", Integer.toOctalString(c.mode() & 07777), "local", c.local()));
            case JournalRecord.Mkdir m -> new Stored("mkdir", m.path(), null, args("mode", Integer.toOctalString(m.mode() & 07777)));
            case JournalRecord.Symlink s -> new Stored("symlink", s.path(), null,
                    args("target", s.target().getBytes(StandardCharsets.ISO_8859_1)));
            case JournalRecord.Write w -> new Stored("write", w.path(), null, args("local", w.local(), "base-data", w.baseData()));
            case JournalRecord.Truncate t -> new Stored("truncate", t.path(), null, args("size", t.size()));
            case JournalRecord.Unlink u -> new Stored("unlink", u.path(), null,
                    u.replacedBy() == null ? null : args("replaced-by", u.replacedBy()));
            case JournalRecord.Rmdir d -> new Stored("rmdir", d.path(), null,
                    d.replacedBy() == null ? null : args("replaced-by", d.replacedBy()));
            case JournalRecord.Rename n -> new Stored("rename", n.path(), n.path2(), args("flags", n.flags()));
            case JournalRecord.Link l -> new Stored("link", l.path(), l.path2(), args("new-obj", l.newObj()));
            case JournalRecord.Chmod c -> new Stored("chmod", c.path(), null, args("mode", Integer.toOctalString(c.mode() & 07777)));
            case JournalRecord.Chown c -> new Stored("chown", c.path(), null, args("uid", c.uid(), "gid", c.gid()));
            case JournalRecord.Utimens t -> new Stored("utimens", t.path(), null,
                    args("atime", t.atimeSec() + "." + t.atimeNsec(), "mtime", t.mtimeSec() + "." + t.mtimeNsec()));
            case JournalRecord.SetXattr x -> new Stored("setxattr", x.path(), null,
                    args("name", x.name().getBytes(StandardCharsets.ISO_8859_1), "value", x.value(), "flags", x.flags()));
            case JournalRecord.RemoveXattr x -> new Stored("removexattr", x.path(), null,
                    args("name", x.name().getBytes(StandardCharsets.ISO_8859_1)));
            case JournalRecord.Unknown u -> throw new IllegalArgumentException("an unknown operation is never written: " + u.op());
        };
    }

    public static JournalRecord decode(String op, String path, String path2, byte[] args) {
        Map<String, String> a = parse(args);
        return switch (op) {
            case "create" -> new JournalRecord.Create(path, octal(a, "mode", 0644), a.get("local"));
            case "mkdir" -> new JournalRecord.Mkdir(path, octal(a, "mode", 0755));
            case "symlink" -> new JournalRecord.Symlink(path, raw(a.get("target")));
            case "write" -> new JournalRecord.Write(path, a.get("local"), a.getOrDefault("base-data", "none"));
            case "truncate" -> new JournalRecord.Truncate(path, Long.parseLong(a.getOrDefault("size", "0")));
            case "unlink" -> new JournalRecord.Unlink(path, a.get("replaced-by"));
            case "rmdir" -> new JournalRecord.Rmdir(path, a.get("replaced-by"));
            case "rename" -> new JournalRecord.Rename(path, path2, Integer.parseInt(a.getOrDefault("flags", "0")));
            case "link" -> new JournalRecord.Link(path, path2, Long.parseLong(a.getOrDefault("new-obj", "-1")));
            case "chmod" -> new JournalRecord.Chmod(path, octal(a, "mode", 0644));
            case "chown" -> new JournalRecord.Chown(path, Integer.parseInt(a.get("uid")), Integer.parseInt(a.get("gid")));
            case "utimens" -> {
                String[] at = a.get("atime").split("\\.");
                String[] mt = a.get("mtime").split("\\.");
                yield new JournalRecord.Utimens(path, Long.parseLong(at[0]), Long.parseLong(at[1]), Long.parseLong(mt[0]),
                        Long.parseLong(mt[1]));
            }
            case "setxattr" -> new JournalRecord.SetXattr(path, raw(a.get("name")), HexFormat.of().parseHex(a.get("value")),
                    Integer.parseInt(a.getOrDefault("flags", "0")));
            case "removexattr" -> new JournalRecord.RemoveXattr(path, raw(a.get("name")));
            default -> new JournalRecord.Unknown(op, path, path2);
        };
    }

    private static int octal(Map<String, String> a, String key, int otherwise) {
        String v = a.get(key);
        return v == null ? otherwise : Integer.parseInt(v, 8);
    }

    /** A raw name or path kept in hex. */
    private static String raw(String hex) {
        return new String(HexFormat.of().parseHex(hex), StandardCharsets.ISO_8859_1);
    }

    /** {@code key=value} lines; byte strings in hex, anything else as its text. */
    static byte[] args(Object... kv) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < kv.length; i += 2) {
            Object v = kv[i + 1];
            String text = v instanceof byte[] bytes ? HexFormat.of().formatHex(bytes) : String.valueOf(v);
            b.append(kv[i]).append('=').append(text).append('\n');
        }
        return b.toString().getBytes(StandardCharsets.UTF_8);
    }

    /** Decodes {@link #args}. */
    static Map<String, String> parse(byte[] a) {
        Map<String, String> m = new LinkedHashMap<>();
        if (a != null) {
            for (String line : new String(a, StandardCharsets.UTF_8).split("\n")) {
                int eq = line.indexOf('=');
                if (eq > 0) {
                    m.put(line.substring(0, eq), line.substring(eq + 1));
                }
            }
        }
        return m;
    }
}
