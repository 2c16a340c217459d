package dev.cachefs.nativeio;

/**
 * A system call or filesystem operation failed with an errno. Inside the project every expected
 * failure travels as this exception; the FUSE edge turns it into the reply's error field.
 * Stack traces are not filled: these are frequent, ordinary outcomes (ENOENT on lookup).
 */
public class ErrnoException extends Exception {
    private final int errno;
    private final boolean retryable;

    public ErrnoException(int errno, String what) {
        this(errno, what, false);
    }

    /**
     * @param retryable the request that met this failure may be run once more as a whole: the
     *     failure changed the conditions it ran under (the mount went offline on it), so a second
     *     run takes another way (the cache) and nothing of the first run was done
     */
    public ErrnoException(int errno, String what, boolean retryable) {
        super(what == null ? Errno.name(errno) : what + ": " + Errno.name(errno), null, false, false);
        this.errno = errno;
        this.retryable = retryable;
    }

    /** Whether the whole request may be run once more (see the constructor). */
    public boolean retryable() {
        return retryable;
    }

    public ErrnoException(int errno) {
        this(errno, null);
    }

    /** The positive errno value. */
    public int errno() {
        return errno;
    }
}
