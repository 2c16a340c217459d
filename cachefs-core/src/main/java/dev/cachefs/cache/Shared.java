package dev.cachefs.cache;

import java.util.function.Consumer;

/**
 * A resource (a descriptor, an open lower file) shared by the threads that use it, closed when
 * the last one lets go: a descriptor is never closed under a read still using it (its number
 * could be reused by another open meanwhile).
 */
final class Shared<T> {
    final T value;
    private final Consumer<T> closer;
    private int refs = 1;

    Shared(T value, Consumer<T> closer) {
        this.value = value;
        this.closer = closer;
    }

    /** One more user; false if it is already closed. */
    synchronized boolean acquire() {
        if (refs == 0) {
            return false;
        }
        refs++;
        return true;
    }

    void release() {
        boolean last;
        synchronized (this) {
            last = --refs == 0;
        }
        if (last) {
            closer.accept(value);
        }
    }
}
