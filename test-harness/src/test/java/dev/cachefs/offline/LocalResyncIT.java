package dev.cachefs.offline;

/** Reconnection and conflict resolution over the local lower. */
class LocalResyncIT extends ResyncSuite {
    @Override
    protected String kind() {
        return "local";
    }
}
