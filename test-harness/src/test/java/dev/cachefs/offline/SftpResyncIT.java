package dev.cachefs.offline;

/** Reconnection and conflict resolution over the sftp lower. */
class SftpResyncIT extends ResyncSuite {
    @Override
    protected String kind() {
        return "sftp";
    }
}
