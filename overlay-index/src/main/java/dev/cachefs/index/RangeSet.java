package dev.cachefs.index;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A set of byte offsets as disjoint, non-adjacent half-open ranges [start, end): which parts of a
 * file are present in the cache. Not thread-safe; the owner guards it.
 */
public final class RangeSet {
    /** start -> end, disjoint and never touching. */
    private final TreeMap<Long, Long> ranges = new TreeMap<>();

    public void add(long start, long end) {
        check(start, end);
        if (start == end) {
            return;
        }
        Map.Entry<Long, Long> before = ranges.floorEntry(start);
        if (before != null && before.getValue() >= start) {
            start = before.getKey();
            end = Math.max(end, before.getValue());
        }
        Map.Entry<Long, Long> next = ranges.ceilingEntry(start);
        while (next != null && next.getKey() <= end) {
            end = Math.max(end, next.getValue());
            ranges.remove(next.getKey());
            next = ranges.ceilingEntry(start);
        }
        ranges.put(start, end);
    }

    public void remove(long start, long end) {
        check(start, end);
        if (start == end) {
            return;
        }
        Map.Entry<Long, Long> before = ranges.lowerEntry(start);
        if (before != null && before.getValue() > start) {
            ranges.put(before.getKey(), start);
            if (before.getValue() > end) {
                ranges.put(end, before.getValue());
                return;
            }
        }
        Map.Entry<Long, Long> e = ranges.ceilingEntry(start);
        while (e != null && e.getKey() < end) {
            ranges.remove(e.getKey());
            if (e.getValue() > end) {
                ranges.put(end, e.getValue());
                break;
            }
            e = ranges.ceilingEntry(start);
        }
    }

    /** Whether every byte of [start, end) is present. */
    public boolean contains(long start, long end) {
        check(start, end);
        if (start == end) {
            return true;
        }
        Map.Entry<Long, Long> e = ranges.floorEntry(start);
        return e != null && e.getValue() >= end;
    }

    /** The parts of [start, end) that are not present, in order. */
    public List<long[]> missing(long start, long end) {
        check(start, end);
        List<long[]> out = new ArrayList<>();
        long pos = start;
        Map.Entry<Long, Long> e = ranges.floorEntry(start);
        if (e != null && e.getValue() > pos) {
            pos = e.getValue();
        }
        for (Map.Entry<Long, Long> r : ranges.subMap(start, true, end, false).entrySet()) {
            if (r.getKey() > pos) {
                out.add(new long[] {pos, r.getKey()});
            }
            pos = Math.max(pos, r.getValue());
        }
        if (pos < end) {
            out.add(new long[] {pos, end});
        }
        return out;
    }

    /** Total bytes present. */
    public long bytes() {
        long n = 0;
        for (Map.Entry<Long, Long> e : ranges.entrySet()) {
            n += e.getValue() - e.getKey();
        }
        return n;
    }

    public int size() {
        return ranges.size();
    }

    public void clear() {
        ranges.clear();
    }

    /** Stable encoding: count, then start and length of each range, as varints. */
    public byte[] encode() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        varint(out, ranges.size());
        for (Map.Entry<Long, Long> e : ranges.entrySet()) {
            varint(out, e.getKey());
            varint(out, e.getValue() - e.getKey());
        }
        return out.toByteArray();
    }

    public static RangeSet decode(byte[] b) {
        ByteBuffer buf = ByteBuffer.wrap(b);
        RangeSet s = new RangeSet();
        long n = readVarint(buf);
        for (long i = 0; i < n; i++) {
            long start = readVarint(buf);
            long len = readVarint(buf);
            s.add(start, start + len);
        }
        return s;
    }

    private static void varint(ByteArrayOutputStream out, long v) {
        while ((v & ~0x7fL) != 0) {
            out.write((int) ((v & 0x7f) | 0x80));
            v >>>= 7;
        }
        out.write((int) v);
    }

    private static long readVarint(ByteBuffer b) {
        long v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            int x = Byte.toUnsignedInt(b.get());
            v |= (long) (x & 0x7f) << shift;
            if ((x & 0x80) == 0) {
                return v;
            }
        }
        throw new IllegalArgumentException("varint too long");
    }

    private static void check(long start, long end) {
        if (start < 0 || end < start) {
            throw new IllegalArgumentException("bad range [" + start + ", " + end + ")");
        }
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("{");
        ranges.forEach((s, e) -> sb.append(sb.length() > 1 ? ", " : "").append('[').append(s).append(',').append(e).append(')'));
        return sb.append('}').toString();
    }
}
