package dev.cachefs.cache;

/** The read cache over the local lower. */
class LocalCacheIT extends CacheSuite {
    @Override
    protected String kind() {
        return "local";
    }
}
