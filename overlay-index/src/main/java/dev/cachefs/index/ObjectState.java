package dev.cachefs.index;

/** What the cache holds of a lower object. Stored by {@link #code}; never renumber. */
public enum ObjectState {
    /** Attributes (and listing or target) copied up, no data. */
    METADATA_ONLY(0),
    /** Some chunks of the data are present. */
    PARTIAL(1),
    /** Every chunk of the data is present. */
    CACHED(2),
    /** Changed locally and not yet written to the lower: must never be dropped. */
    DIRTY(3),
    /** Changed on both sides; waiting for the user. */
    CONFLICT(4);

    public final int code;

    ObjectState(int code) {
        this.code = code;
    }

    public static ObjectState of(int code) {
        for (ObjectState s : values()) {
            if (s.code == code) {
                return s;
            }
        }
        throw new IllegalArgumentException("unknown object state " + code);
    }

    /** Data in this state exists nowhere else. */
    public boolean isPrecious() {
        return this == DIRTY || this == CONFLICT;
    }
}
