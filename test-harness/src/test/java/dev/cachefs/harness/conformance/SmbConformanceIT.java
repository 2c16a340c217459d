package dev.cachefs.harness.conformance;

/** The conformance suite over the smb lower. */
class SmbConformanceIT extends ConformanceSuite {
    @Override
    protected String kind() {
        return "smb";
    }
}
