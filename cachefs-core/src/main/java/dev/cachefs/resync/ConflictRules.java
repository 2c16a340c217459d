package dev.cachefs.resync;

import dev.cachefs.cache.Policy;
import java.util.List;
import java.util.Map;

/**
 * The mount's conflict rules ({@code [conflicts]} in the config): the first rule whose pattern
 * matches a path gives the action for a conflict there, else ask. An action is a built-in policy
 * or the name of a {@link ConflictResolver} (the built-in {@code merge}, or a plug-in on the class
 * path).
 */
public final class ConflictRules {
    /** The built-in policies by name, for messages. */
    static final List<String> ACTIONS = java.util.Arrays.stream(Policy.Builtin.values()).map(Policy.Builtin::text).toList();

    private final List<Policy.ConflictRule> rules;
    private final Map<String, ConflictResolver> resolvers;

    /** @throws IllegalArgumentException a rule names neither a policy nor a resolver */
    public ConflictRules(List<Policy.ConflictRule> rules) {
        this.rules = List.copyOf(rules);
        this.resolvers = resolvers();
        check(this.rules);
    }

    /** The built-in merge and every plug-in on the class path, by name. */
    static Map<String, ConflictResolver> resolvers() {
        Map<String, ConflictResolver> m = new java.util.TreeMap<>();
        m.put("merge", new TextMerge());
        for (ConflictResolver r : java.util.ServiceLoader.load(ConflictResolver.class)) {
            m.putIfAbsent(r.name(), r);
        }
        return m;
    }

    /** Checks that every rule names a policy or a resolver on the class path (IllegalArgumentException). */
    public static void check(List<Policy.ConflictRule> rules) {
        Map<String, ConflictResolver> resolvers = resolvers();
        for (Policy.ConflictRule r : rules) {
            if (r.action() instanceof Policy.Resolver res && !resolvers.containsKey(res.name())) {
                throw new IllegalArgumentException("conflict rule '" + r.glob().text() + ": " + res.name()
                        + "': no such policy or resolver (" + String.join(", ", ACTIONS) + ", or a resolver: "
                        + String.join(", ", resolvers.keySet()) + ")");
            }
        }
    }

    /** The policy for a conflict at {@code path}: the first matching rule's, else ask. */
    public Policy.ConflictAction actionFor(String path) {
        for (Policy.ConflictRule r : rules) {
            if (r.glob().matches(path)) {
                return r.action();
            }
        }
        return Policy.Builtin.ASK;
    }

    /** The resolver an action names, or null (a built-in policy, or no such plug-in). */
    ConflictResolver resolverFor(Policy.ConflictAction action) {
        return action instanceof Policy.Resolver r ? resolvers.get(r.name()) : null;
    }
}
