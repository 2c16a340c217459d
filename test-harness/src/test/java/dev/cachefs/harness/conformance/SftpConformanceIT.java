package dev.cachefs.harness.conformance;

/** The conformance suite over the sftp lower. */
class SftpConformanceIT extends ConformanceSuite {
    @Override
    protected String kind() {
        return "sftp";
    }
}
