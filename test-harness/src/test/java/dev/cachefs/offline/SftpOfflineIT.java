package dev.cachefs.offline;

/** Disconnected operation over the sftp lower. */
class SftpOfflineIT extends OfflineSuite {
    @Override
    protected String kind() {
        return "sftp";
    }
}
