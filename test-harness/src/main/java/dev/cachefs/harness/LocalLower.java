package dev.cachefs.harness;

import java.nio.file.Path;
import java.util.EnumSet;
import java.util.Set;

/** A plain local directory: the fast path for tests that do not need a network. */
public final class LocalLower extends Lower {
    private final Path dir;

    LocalLower(Path dir) {
        this.dir = dir;
    }

    @Override
    public String name() {
        return "local";
    }

    @Override
    public Path root() {
        return dir;
    }

    @Override
    public Path serverDir() {
        return dir;
    }

    @Override
    public Set<Capability> capabilities() {
        return EnumSet.allOf(Capability.class);
    }

    @Override
    public void close() {
        try {
            Harness.deleteTree(dir);
        } catch (java.io.IOException ignored) {
            // the run directory goes at session end
        }
    }
}
