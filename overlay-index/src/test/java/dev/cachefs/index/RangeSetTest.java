package dev.cachefs.index;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.BitSet;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** RangeSet against a BitSet model, over seeded random operations. */
class RangeSetTest {
    @Test
    void matchesABitSetModel() {
        for (long seed = 0; seed < 200; seed++) {
            Random r = new Random(seed);
            RangeSet s = new RangeSet();
            BitSet model = new BitSet();
            for (int step = 0; step < 200; step++) {
                int a = r.nextInt(1000);
                int b = a + r.nextInt(100);
                if (r.nextInt(3) == 0) {
                    s.remove(a, b);
                    model.clear(a, b);
                } else {
                    s.add(a, b);
                    model.set(a, b);
                }
                int qa = r.nextInt(1100);
                int qb = qa + r.nextInt(120);
                assertEquals(model.get(qa, qb).cardinality() == qb - qa, s.contains(qa, qb), "seed " + seed);
                BitSet missing = new BitSet();
                for (long[] m : s.missing(qa, qb)) {
                    missing.set((int) m[0], (int) m[1]);
                }
                BitSet want = new BitSet();
                want.set(qa, qb);
                want.andNot(model);
                assertEquals(want, missing, "missing, seed " + seed + " step " + step);
                assertEquals(model.cardinality(), s.bytes(), "bytes, seed " + seed);
            }
            RangeSet copy = RangeSet.decode(s.encode());
            assertEquals(s.toString(), copy.toString());
        }
    }

    @Test
    void adjacentRangesMerge() {
        RangeSet s = new RangeSet();
        s.add(0, 10);
        s.add(10, 20);
        s.add(30, 40);
        assertEquals(2, s.size());
        s.add(15, 35);
        assertEquals(1, s.size());
        assertEquals("{[0,40)}", s.toString());
        s.remove(5, 6);
        assertEquals(List.of(5L, 6L), List.of(s.missing(0, 40).get(0)[0], s.missing(0, 40).get(0)[1]));
    }
}
