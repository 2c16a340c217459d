package dev.cachefs.cache;

/** The read cache over the sftp lower. */
class SftpCacheIT extends CacheSuite {
    @Override
    protected String kind() {
        return "sftp";
    }
}
