package dev.cachefs.cache;

import java.util.Locale;

/** Byte sizes as people write them: 4096, 64K, 48M, 20G, 1T (binary multiples; a trailing B or iB is allowed). */
public final class ByteSizes {
    private ByteSizes() {}

    /** @throws IllegalArgumentException saying what a size looks like */
    public static long parse(String text) {
        String t = text.trim().toUpperCase(Locale.ROOT);
        if (t.endsWith("IB")) {
            t = t.substring(0, t.length() - 2);
        } else if (t.endsWith("B")) {
            t = t.substring(0, t.length() - 1);
        }
        long mult = 1;
        if (!t.isEmpty()) {
            int shift = switch (t.charAt(t.length() - 1)) {
                case 'K' -> 10;
                case 'M' -> 20;
                case 'G' -> 30;
                case 'T' -> 40;
                default -> 0;
            };
            if (shift > 0) {
                mult = 1L << shift;
                t = t.substring(0, t.length() - 1);
            }
        }
        try {
            double v = Double.parseDouble(t);
            if (v < 0 || Double.isNaN(v) || v * mult > Long.MAX_VALUE) {
                throw new NumberFormatException();
            }
            return (long) (v * mult);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("'" + text + "' is not a size (examples: 4096, 64K, 48M, 20G)");
        }
    }
}
