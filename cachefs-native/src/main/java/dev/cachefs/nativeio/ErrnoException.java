package dev.cachefs.nativeio;

/**
 * A system call or filesystem operation failed with an errno. Inside the project every expected
 * failure travels as this exception; the FUSE edge turns it into the reply's error field.
 * Stack traces are not filled: these are frequent, ordinary outcomes (ENOENT on lookup).
 */
public class ErrnoException extends Exception {
    private final int errno;

    public ErrnoException(int errno, String what) {
        super(what == null ? Errno.name(errno) : what + ": " + Errno.name(errno), null, false, false);
        this.errno = errno;
    }

    public ErrnoException(int errno) {
        this(errno, null);
    }

    /** The positive errno value. */
    public int errno() {
        return errno;
    }
}
