package dev.cachefs.resync;

/**
 * A plug-in that merges the two versions of a file changed on both sides while a mount was
 * offline. Found with {@link java.util.ServiceLoader} (a jar on the class path with
 * {@code META-INF/services/dev.cachefs.offline.ConflictResolver}) and chosen by name in the
 * mount's config ({@code [conflicts]} rules: {@code *.json: my-json-merge}). The built-in
 * {@code merge} is {@link TextMerge}.
 *
 * <p>Called during replay, on the replaying thread, with whole files in memory (at most
 * {@link #MAX_BYTES} each); it must not block on the network.
 */
public interface ConflictResolver {
    /** Files larger than this are never handed to a resolver: the conflict stays open. */
    long MAX_BYTES = 16L << 20;

    /** The name rules use. */
    String name();

    /**
     * Merges {@code local} and {@code remote}, both descended from {@code base} (null when the
     * cache holds no base: both sides created the file). Returns null when it cannot merge these
     * (not its kind of file): the conflict stays open for the user.
     */
    Merge merge(String path, byte[] base, byte[] local, byte[] remote);

    /** A merge result: applied to the lower when {@code clean}, else offered as the {@code merged} variant. */
    record Merge(byte[] content, boolean clean) {}
}
