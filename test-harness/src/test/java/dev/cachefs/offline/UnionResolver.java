package dev.cachefs.offline;

import dev.cachefs.resync.ConflictResolver;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * A resolver plug-in for the tests, found through ServiceLoader like any other: the union of
 * both versions' lines (local first), as a log or a list of names would want.
 */
public final class UnionResolver implements ConflictResolver {
    @Override
    public String name() {
        return "union";
    }

    @Override
    public Merge merge(String path, byte[] base, byte[] local, byte[] remote) {
        Set<String> lines = new LinkedHashSet<>();
        lines.addAll(List.of(new String(local, StandardCharsets.UTF_8).split("\n")));
        lines.addAll(List.of(new String(remote, StandardCharsets.UTF_8).split("\n")));
        return new Merge((String.join("\n", lines) + "\n").getBytes(StandardCharsets.UTF_8), true);
    }
}
