package dev.cachefs.lower;

import java.util.concurrent.atomic.LongAdder;

/**
 * Counts every call that reaches the lower (each one is a round trip on a network lower): the
 * filesystem's own calls, and those on the files and directories it opens ({@link LowerOp});
 * {@code close} and {@code fd} ask nothing of a server and are not counted.
 */
public final class CountingLowerFs extends ForwardingLowerFs {
    private final LongAdder calls;

    private CountingLowerFs(LowerFs inner, LongAdder calls) {
        super(inner);
        this.calls = calls;
    }

    public static LowerFs wrap(LowerFs target, LongAdder calls) {
        return new CountingLowerFs(target, calls);
    }

    @Override
    protected void before(LowerOp op) {
        calls.increment();
    }
}
