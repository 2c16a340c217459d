package dev.cachefs.offline;

/** Write-back over the local lower. */
class LocalWriteBackIT extends WriteBackSuite {
    @Override
    protected String kind() {
        return "local";
    }
}
