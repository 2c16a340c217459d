package dev.cachefs.lower;

import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.util.Set;
import java.util.concurrent.atomic.LongAdder;

/**
 * Counts every call that reaches the lower (each one is a round trip on a network lower): the
 * filesystem's own calls, and those on the files and directories it opens. {@code close} and
 * {@code fd} are not counted (no request to a server).
 */
public final class CountingLowerFs {
    private static final Set<String> FREE = Set.of("fd", "toString", "hashCode", "equals");

    private CountingLowerFs() {}

    public static LowerFs wrap(LowerFs target, LongAdder calls) {
        return proxy(LowerFs.class, target, calls);
    }

    private static <T> T proxy(Class<T> type, T target, LongAdder calls) {
        InvocationHandler h = (p, m, args) -> {
            if (!FREE.contains(m.getName())) {
                calls.increment();
            }
            Object r;
            try {
                r = m.invoke(target, args);
            } catch (InvocationTargetException e) {
                throw e.getCause();
            }
            if (r instanceof LowerFile f) {
                return proxy(LowerFile.class, f, calls);
            }
            if (r instanceof LowerDir d) {
                return proxy(LowerDir.class, d, calls);
            }
            return r;
        };
        return type.cast(Proxy.newProxyInstance(type.getClassLoader(), new Class<?>[] {type}, h));
    }
}
