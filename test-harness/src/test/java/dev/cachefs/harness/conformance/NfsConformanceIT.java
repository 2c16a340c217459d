package dev.cachefs.harness.conformance;

/** The conformance suite over the nfs lower. */
class NfsConformanceIT extends ConformanceSuite {
    @Override
    protected String kind() {
        return "nfs";
    }
}
