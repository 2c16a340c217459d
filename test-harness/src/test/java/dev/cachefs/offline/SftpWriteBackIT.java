package dev.cachefs.offline;

/** Write-back over the sftp lower. */
class SftpWriteBackIT extends WriteBackSuite {
    @Override
    protected String kind() {
        return "sftp";
    }
}
