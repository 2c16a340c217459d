package dev.cachefs.offline;

/** Write-back over the nfs lower. */
class NfsWriteBackIT extends WriteBackSuite {
    @Override
    protected String kind() {
        return "nfs";
    }
}
