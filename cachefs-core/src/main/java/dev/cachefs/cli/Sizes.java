package dev.cachefs.cli;

import dev.cachefs.cache.ByteSizes;

/** {@link ByteSizes} for the command line: a bad size is a usage error. */
final class Sizes {
    private Sizes() {}

    static long parse(String text) {
        try {
            return ByteSizes.parse(text);
        } catch (IllegalArgumentException e) {
            throw new Main.UserError(Main.USAGE, e.getMessage());
        }
    }
}
