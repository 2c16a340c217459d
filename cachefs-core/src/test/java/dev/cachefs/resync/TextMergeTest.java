package dev.cachefs.resync;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class TextMergeTest {
    private final TextMerge merge = new TextMerge();

    private static byte[] b(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private ConflictResolver.Merge run(String base, String local, String remote) {
        return merge.merge("f.txt", b(base), b(local), b(remote));
    }

    @Test
    void changesToDifferentLinesMergeCleanly() {
        var m = run("a\nb\nc\nd\ne\n", "A\nb\nc\nd\ne\n", "a\nb\nc\nd\nE\nf\n");
        assertTrue(m.clean());
        assertEquals("A\nb\nc\nd\nE\nf\n", new String(m.content(), StandardCharsets.UTF_8));
    }

    @Test
    void theSameChangeOnBothSidesIsTakenOnce() {
        var m = run("a\nb\n", "a\nX\nb\n", "a\nX\nb\n");
        assertTrue(m.clean());
        assertEquals("a\nX\nb\n", new String(m.content(), StandardCharsets.UTF_8));
    }

    @Test
    void differentChangesToOneLineAreMarked() {
        var m = run("a\nb\nc\n", "a\nlocal\nc\n", "a\nremote\nc\n");
        assertFalse(m.clean());
        assertEquals("a\n<<<<<<< local\nlocal\n||||||| base\nb\n=======\nremote\n>>>>>>> remote\nc\n",
                new String(m.content(), StandardCharsets.UTF_8));
    }

    @Test
    void aLastLineWithoutNewlineKeepsTheMarkersOnTheirOwnLines() {
        var m = run("a", "b", "c");
        assertFalse(m.clean());
        assertEquals("<<<<<<< local\nb\n||||||| base\na\n=======\nc\n>>>>>>> remote\n", new String(m.content(), StandardCharsets.UTF_8));
    }

    @Test
    void binaryOrBaselessFilesAreNotMerged() {
        assertNull(merge.merge("f", new byte[] {1, 0, 2}, b("x"), b("y")));
        assertNull(merge.merge("f", null, b("x"), b("y")));
        assertNull(merge.merge("f", b("a"), new byte[] {(byte) 0xff, (byte) 0xfe}, b("y")));
    }

    @Test
    void matchIsALongestCommonSubsequence() {
        Random r = new Random(7);
        for (int round = 0; round < 300; round++) {
            String[] a = randomLines(r, r.nextInt(40));
            String[] c = randomLines(r, r.nextInt(40));
            int[] m = TextMerge.match(a, c);
            assertNotNull(m);
            int last = -1;
            int count = 0;
            for (int i = 0; i < a.length; i++) {
                if (m[i] >= 0) {
                    assertTrue(m[i] > last, "monotone");
                    assertEquals(a[i], c[m[i]]);
                    last = m[i];
                    count++;
                }
            }
            assertEquals(lcs(a, c), count, "round " + round);
        }
    }

    @Test
    void editsToSeparateRegionsAlwaysMergeToBoth() {
        Random r = new Random(11);
        for (int round = 0; round < 200; round++) {
            List<String> base = new ArrayList<>();
            for (int i = 0; i < 60; i++) {
                base.add("line " + i + "\n");
            }
            List<String> local = new ArrayList<>(base);
            List<String> remote = new ArrayList<>(base);
            List<String> expected = new ArrayList<>(base);
            // local edits lines in the first half, remote in the second; a stable line between
            int li = r.nextInt(25);
            int ri = 35 + r.nextInt(20);
            String lv = "local " + r.nextInt() + "\n";
            String rv = "remote " + r.nextInt() + "\n";
            remote.set(ri, rv);
            expected.set(ri, rv);
            if (r.nextBoolean()) {
                local.set(li, lv);
                expected.set(li, lv);
            } else {
                local.add(li, lv);
                expected.add(li, lv);
            }
            var m = run(String.join("", base), String.join("", local), String.join("", remote));
            assertTrue(m.clean(), "round " + round);
            assertArrayEquals(b(String.join("", expected)), m.content(), "round " + round);
        }
    }

    private static String[] randomLines(Random r, int n) {
        String[] out = new String[n];
        for (int i = 0; i < n; i++) {
            out[i] = (char) ('a' + r.nextInt(4)) + "\n";
        }
        return out;
    }

    private static int lcs(String[] a, String[] b) {
        int[][] t = new int[a.length + 1][b.length + 1];
        for (int i = a.length - 1; i >= 0; i--) {
            for (int j = b.length - 1; j >= 0; j--) {
                t[i][j] = a[i].equals(b[j]) ? 1 + t[i + 1][j + 1] : Math.max(t[i + 1][j], t[i][j + 1]);
            }
        }
        return t[0][0];
    }
}
