package dev.cachefs.harness.conformance;

/** The conformance suite over the local lower. */
class LocalConformanceIT extends ConformanceSuite {
    @Override
    protected String kind() {
        return "local";
    }
}
