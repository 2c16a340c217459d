package dev.cachefs.index;

/**
 * One lower object as the index knows it.
 *
 * @param id the index's own number for the object (stable while the row lives)
 * @param dataName the file name of its data in the store
 */
public record ObjectRecord(long id, FileId fileId, String path, ObjectState state, Fingerprint fingerprint,
                           String dataName, boolean pinned, boolean dirComplete, String symlinkTarget,
                           long lastAccessMs, long accessCount) {}
