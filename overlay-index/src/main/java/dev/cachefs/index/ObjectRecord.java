package dev.cachefs.index;

/**
 * One lower object as the index knows it.
 *
 * @param id the index's own number for the object (stable while the row lives)
 * @param dataName the file name of its data in the store
 * @param dirComplete whether the index has the directory's whole listing as the lower gave it
 * @param dirSettled whether that listing was read when the directory had not changed for a while
 *     (else a change within the same timestamp could be missing from it: it serves offline only)
 */
public record ObjectRecord(long id, FileId fileId, String path, ObjectState state, Fingerprint fingerprint,
                           String dataName, boolean pinned, boolean dirComplete, String symlinkTarget,
                           long lastAccessMs, long accessCount, boolean dirSettled) {
    public ObjectRecord(long id, FileId fileId, String path, ObjectState state, Fingerprint fingerprint,
                        String dataName, boolean pinned, boolean dirComplete, String symlinkTarget,
                        long lastAccessMs, long accessCount) {
        this(id, fileId, path, state, fingerprint, dataName, pinned, dirComplete, symlinkTarget, lastAccessMs,
                accessCount, dirComplete);
    }
}
