package dev.cachefs.offline;

/** Disconnected operation over the nfs lower. */
class NfsOfflineIT extends OfflineSuite {
    @Override
    protected String kind() {
        return "nfs";
    }
}
