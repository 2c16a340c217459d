package dev.cachefs.index;

import java.io.IOException;

/** The index or the store cannot be used; the message says why and what to do. */
public class IndexException extends IOException {
    public IndexException(String message) {
        super(message);
    }

    public IndexException(String message, Throwable cause) {
        super(message, cause);
    }
}
