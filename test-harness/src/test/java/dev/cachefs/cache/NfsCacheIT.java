package dev.cachefs.cache;

/** The read cache over the nfs lower. */
class NfsCacheIT extends CacheSuite {
    @Override
    protected String kind() {
        return "nfs";
    }
}
