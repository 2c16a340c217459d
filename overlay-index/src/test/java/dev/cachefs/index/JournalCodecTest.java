package dev.cachefs.index;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.DriverManager;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Journal records in their stored form: the format journals have had since schema 3 (rows written
 * by earlier versions, as they are on users' disks) decodes to the records, and every record
 * encodes back to exactly those bytes.
 */
class JournalCodecTest {
    @TempDir
    Path tmp;

    private static final String RAW = "caf\u00e9 \u00ff"; // a raw name: Latin-1 chars for the bytes

    /** op, path, path2, args text as the earlier writer made them -> the record. */
    private static Map<List<String>, JournalRecord> todaysRows() {
        String hexRaw = java.util.HexFormat.of().formatHex(RAW.getBytes(StandardCharsets.ISO_8859_1));
        Map<List<String>, JournalRecord> m = new LinkedHashMap<>();
        m.put(List.of("create", "d/new", "", "mode=640\nlocal=new-1234\n"), new JournalRecord.Create("d/new", 0640, "new-1234"));
        m.put(List.of("mkdir", "d/sub", "", "mode=750\n"), new JournalRecord.Mkdir("d/sub", 0750));
        m.put(List.of("symlink", "d/l", "", "target=" + hexRaw + "\n"), new JournalRecord.Symlink("d/l", RAW));
        m.put(List.of("write", "d/a", "", "local=w-1\nbase-data=none\n"), new JournalRecord.Write("d/a", "w-1", "none"));
        m.put(List.of("truncate", "d/a", "", "size=123\n"), new JournalRecord.Truncate("d/a", 123));
        m.put(List.of("unlink", "d/gone", "", ""), new JournalRecord.Unlink("d/gone", null));
        m.put(List.of("unlink", "d/b", "", "replaced-by=d/" + RAW + "\n"), new JournalRecord.Unlink("d/b", "d/" + RAW));
        m.put(List.of("rmdir", "d/e", "", ""), new JournalRecord.Rmdir("d/e", null));
        m.put(List.of("rename", "d/x", "d/y", "flags=1\n"), new JournalRecord.Rename("d/x", "d/y", 1));
        m.put(List.of("link", "d/x", "d/z", "new-obj=42\n"), new JournalRecord.Link("d/x", "d/z", 42));
        m.put(List.of("chmod", "d/a", "", "mode=600\n"), new JournalRecord.Chmod("d/a", 0600));
        m.put(List.of("chown", "d/a", "", "uid=1000\ngid=100\n"), new JournalRecord.Chown("d/a", 1000, 100));
        m.put(List.of("utimens", "d/a", "", "atime=1.2\nmtime=3.4\n"), new JournalRecord.Utimens("d/a", 1, 2, 3, 4));
        m.put(List.of("removexattr", "d/a", "", "name=" + hexRaw + "\n"), new JournalRecord.RemoveXattr("d/a", RAW));
        return m;
    }

    private static byte[] args(String text) {
        return text.isEmpty() ? null : text.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void todaysRowsDecodeAndEncodeBackByteForByte() {
        todaysRows().forEach((row, expected) -> {
            String path2 = row.get(2).isEmpty() ? null : row.get(2);
            JournalRecord r = JournalCodec.decode(row.get(0), row.get(1), path2, args(row.get(3)));
            assertEquals(expected, r, row.toString());
            JournalCodec.Stored s = JournalCodec.encode(r);
            assertEquals(row.get(0), s.op());
            assertEquals(row.get(1), s.path());
            assertEquals(path2, s.path2());
            assertArrayEquals(args(row.get(3)), s.args(), row.toString());
        });
        byte[] value = {0, 1, (byte) 0xfe};
        JournalRecord x = JournalCodec.decode("setxattr", "d/a", null, args("name=757365722e6b\nvalue=0001fe\nflags=2\n"));
        JournalRecord.SetXattr sx = assertInstanceOf(JournalRecord.SetXattr.class, x);
        assertEquals("user.k", sx.name());
        assertArrayEquals(value, sx.value());
        assertEquals(2, sx.flags());
        assertArrayEquals(args("name=757365722e6b\nvalue=0001fe\nflags=2\n"), JournalCodec.encode(x).args());
        assertEquals(new JournalRecord.Unknown("chattr", "d/a", null), JournalCodec.decode("chattr", "d/a", null, null),
                "an operation of a newer cachefs: kept, left alone");
    }

    @Test
    void aJournalWrittenByAnEarlierVersionIsReadAsRecords() throws Exception {
        Path db = tmp.resolve("index.db");
        CacheIndex.open(db).close();
        try (var c = DriverManager.getConnection("jdbc:sqlite:" + db);
             var p = c.prepareStatement("INSERT INTO journal(op, obj_id, path, path2, args, base_fp, time_ms) VALUES (?, NULL, ?, ?, ?, NULL, 1)")) {
            for (List<String> row : todaysRows().keySet()) {
                p.setString(1, row.get(0));
                p.setBytes(2, row.get(1).getBytes(StandardCharsets.ISO_8859_1));
                p.setBytes(3, row.get(2).isEmpty() ? null : row.get(2).getBytes(StandardCharsets.ISO_8859_1));
                p.setBytes(4, args(row.get(3)));
                p.executeUpdate();
            }
        }
        try (CacheIndex ix = CacheIndex.open(db)) {
            List<JournalRecord> read = ix.offlineJournal().entries().stream().map(CacheIndex.JournalEntry::record).toList();
            assertEquals(List.copyOf(todaysRows().values()), read);
            long seq = ix.offlineJournal().append(new JournalRecord.Mkdir("again", 0700), null, null);
            CacheIndex.JournalEntry last = ix.offlineJournal().entries().getLast();
            assertEquals(seq, last.seq());
            assertEquals("mkdir", last.op());
            assertEquals(new JournalRecord.Mkdir("again", 0700), last.record());
            assertNull(last.path2());
        }
    }
}
