package dev.cachefs.offline;

/** Disconnected operation over the local lower: it cannot be cut, so the mount is forced offline. */
class LocalOfflineIT extends OfflineSuite {
    @Override
    protected String kind() {
        return "local";
    }
}
