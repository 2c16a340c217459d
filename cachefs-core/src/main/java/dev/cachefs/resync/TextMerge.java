package dev.cachefs.resync;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The built-in three-way merge of text files ({@code merge} in the rules), line by line as diff3
 * does it: the base is matched against each side (a longest common subsequence, Myers' O(ND)
 * algorithm); where only one side changed a stretch of the base, that change is taken; where
 * both changed it the same way, once; where they changed it differently, the merge is unclean
 * and the stretch gets the usual markers ({@code <<<<<<< local}, {@code ||||||| base},
 * {@code =======}, {@code >>>>>>> remote}). Files that are not UTF-8 text (or hold a NUL byte),
 * and files with no base, are not merged.
 */
public final class TextMerge implements ConflictResolver {
    /** Most edits (D in O(ND)) it follows before giving up on a pair of files. */
    private static final int MAX_EDITS = 4000;

    @Override
    public String name() {
        return "merge";
    }

    @Override
    public Merge merge(String path, byte[] base, byte[] local, byte[] remote) {
        if (base == null) {
            return null;
        }
        String[] o = lines(base);
        String[] a = lines(local);
        String[] b = lines(remote);
        if (o == null || a == null || b == null) {
            return null;
        }
        int[] ma = match(o, a);
        int[] mb = match(o, b);
        if (ma == null || mb == null) {
            return null;
        }
        StringBuilder out = new StringBuilder();
        boolean clean = true;
        int i = 0;
        int x = 0;
        int y = 0;
        while (true) {
            if (i < o.length && ma[i] == x && mb[i] == y) {
                out.append(o[i]);
                i++;
                x++;
                y++;
                continue;
            }
            int j = i;
            while (j < o.length && (ma[j] < 0 || mb[j] < 0)) {
                j++;
            }
            int ea = j < o.length ? ma[j] : a.length;
            int eb = j < o.length ? mb[j] : b.length;
            String[] co = Arrays.copyOfRange(o, i, j);
            String[] ca = Arrays.copyOfRange(a, x, ea);
            String[] cb = Arrays.copyOfRange(b, y, eb);
            if (Arrays.equals(ca, co)) {
                append(out, cb);
            } else if (Arrays.equals(cb, co) || Arrays.equals(ca, cb)) {
                append(out, ca);
            } else {
                clean = false;
                marker(out, "<<<<<<< local");
                append(out, ca);
                marker(out, "||||||| base");
                append(out, co);
                marker(out, "=======");
                append(out, cb);
                marker(out, ">>>>>>> remote");
            }
            i = j;
            x = ea;
            y = eb;
            if (j >= o.length) {
                break;
            }
        }
        return new Merge(out.toString().getBytes(StandardCharsets.UTF_8), clean);
    }

    private static void append(StringBuilder out, String[] lines) {
        for (String l : lines) {
            out.append(l);
        }
    }

    private static void marker(StringBuilder out, String m) {
        if (!out.isEmpty() && out.charAt(out.length() - 1) != '\n') {
            out.append('\n');
        }
        out.append(m).append('\n');
    }

    /** The lines of a UTF-8 text, each with its line end; null when it is not text. */
    static String[] lines(byte[] data) {
        for (byte c : data) {
            if (c == 0) {
                return null;
            }
        }
        String s;
        try {
            s = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(data)).toString();
        } catch (CharacterCodingException e) {
            return null;
        }
        List<String> out = new ArrayList<>();
        int start = 0;
        for (int i = 0; i < s.length(); i++) {
            if (s.charAt(i) == '\n') {
                out.add(s.substring(start, i + 1));
                start = i + 1;
            }
        }
        if (start < s.length()) {
            out.add(s.substring(start));
        }
        return out.toArray(String[]::new);
    }

    /**
     * For each line of {@code a}, the line of {@code b} it is matched with in a longest common
     * subsequence, or -1; null when the two differ by more than {@link #MAX_EDITS} edits.
     */
    static int[] match(String[] a, String[] b) {
        int n = a.length;
        int m = b.length;
        int max = n + m;
        int[] v = new int[2 * max + 3];
        int off = max + 1;
        List<int[]> trace = new ArrayList<>();
        int found = -1;
        for (int d = 0; d <= Math.min(max, MAX_EDITS) && found < 0; d++) {
            for (int k = -d; k <= d; k += 2) {
                int x = k == -d || (k != d && v[off + k - 1] < v[off + k + 1]) ? v[off + k + 1] : v[off + k - 1] + 1;
                int y = x - k;
                while (x < n && y < m && a[x].equals(b[y])) {
                    x++;
                    y++;
                }
                v[off + k] = x;
                if (x >= n && y >= m) {
                    found = d;
                }
            }
            trace.add(Arrays.copyOfRange(v, off - d, off + d + 1));
        }
        if (found < 0) {
            return null;
        }
        int[] match = new int[n];
        Arrays.fill(match, -1);
        int x = n;
        int y = m;
        for (int d = found; d > 0; d--) {
            int[] prev = trace.get(d - 1); // index k + (d - 1)
            int k = x - y;
            int pk = k == -d || (k != d && prev[k - 1 + d - 1] < prev[k + 1 + d - 1]) ? k + 1 : k - 1;
            int px = prev[pk + d - 1];
            int py = px - pk;
            // the snake after the edit
            int sx = pk == k + 1 ? px : px + 1;
            int sy = sx - k;
            while (x > sx && y > sy) {
                match[--x] = --y;
            }
            x = px;
            y = py;
        }
        while (x > 0 && y > 0) {
            match[--x] = --y;
        }
        return match;
    }
}
