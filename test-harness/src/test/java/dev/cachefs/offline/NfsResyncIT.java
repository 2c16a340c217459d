package dev.cachefs.offline;

/** Reconnection and conflict resolution over the nfs lower. */
class NfsResyncIT extends ResyncSuite {
    @Override
    protected String kind() {
        return "nfs";
    }
}
