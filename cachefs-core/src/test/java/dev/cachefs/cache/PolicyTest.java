package dev.cachefs.cache;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class PolicyTest {
    @Test
    void conflictActionsAreTheBuiltInPoliciesOrAResolverByName() {
        assertEquals(Policy.Builtin.KEEP_BOTH, Policy.ConflictAction.parse("keep-both"));
        assertEquals(Policy.Builtin.NEWEST_WINS, Policy.ConflictAction.parse("newest-wins"));
        assertEquals(new Policy.Resolver("merge"), Policy.ConflictAction.parse("merge"));
        for (Policy.Builtin b : Policy.Builtin.values()) {
            assertEquals(b, Policy.ConflictAction.parse(b.text()), "its text names it");
        }
        Policy.ConflictRule r = new Policy.ConflictRule(Policy.glob("**/*.o"), "discard-local");
        assertEquals(Policy.Builtin.DISCARD_LOCAL, r.action());
        assertTrue(r.glob().matches("a/b.o"));
    }

    @Test
    void globsFollowGitignoreHabits() {
        assertTrue(Policy.glob("*.iso").matches("a.iso"), "a bare name matches at the root");
        assertTrue(Policy.glob("*.iso").matches("x/y/a.iso"), "and at any depth");
        assertFalse(Policy.glob("*.iso").matches("a.iso.txt"));
        assertTrue(Policy.glob("**/*.o").matches("main.o"), "**/ also matches no directory");
        assertTrue(Policy.glob("**/*.o").matches("src/x/main.o"));
        assertTrue(Policy.glob("build/**").matches("build/a/b"));
        assertFalse(Policy.glob("build/**").matches("src/build/a"), "a pattern with a slash is anchored");
        assertTrue(Policy.glob("docs/").matches("docs/x.pdf"), "a trailing slash means all under it");
        assertTrue(Policy.glob("a?c/*.txt").matches("abc/n.txt"));
        assertFalse(Policy.glob("a/*.txt").matches("a/b/n.txt"), "* stays within a name");
        assertTrue(Policy.glob("we+ird(name).txt").matches("we+ird(name).txt"), "regex characters are literal");
    }

    @Test
    void literalDirectoriesBoundTheWalkForPins() {
        assertEquals("projects/report", Policy.glob("projects/report/**").literalDir());
        assertEquals("docs", Policy.glob("docs/*.pdf").literalDir());
        assertEquals("", Policy.glob("*.pdf").literalDir());
        assertEquals("exact/file.txt", Policy.glob("exact/file.txt").literalDir());
    }

    @Test
    void rulesAndTheirErrors() {
        Policy p = Policy.parse(List.of("# comment", "", "pin: keep/**", "no-cache: *.iso", "max-file-size: 1M"), "t");
        assertTrue(p.uncached("big.iso", 10));
        assertTrue(p.uncached("x.bin", 2 << 20), "over the size limit");
        assertFalse(p.uncached("x.bin", 1 << 20));
        assertTrue(p.pinned("keep/a"));
        assertFalse(p.pinned("keep/a.iso"), "no-cache wins over a pin pattern");
        var e = assertThrows(IllegalArgumentException.class, () -> Policy.parse(List.of("pin keep"), "conf"));
        assertEquals("conf:1: expected 'key: value', got 'pin keep'", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Policy.parse(List.of("", "colour: red"), "conf"));
        assertThrows(IllegalArgumentException.class, () -> Policy.parse(List.of("max-file-size: lots"), "conf"));
    }

    @Test
    void aMountSectionDescribesTheMountItself() throws Exception {
        Policy p = Policy.parse(List.of("pin: a/**", "[mount]", "lower: /mnt/nfs", "mountpoint: /mnt/c",
                "options: meta_ttl=5", "options: allow_other", "cache-size: 2G"), "t");
        assertEquals("/mnt/nfs", p.mount().get("lower"));
        assertEquals("meta_ttl=5,allow_other", p.mount().get("options"), "options lines add up, in order");
        assertTrue(p.pinned("a/x"), "the rules before it still hold");
        IllegalArgumentException twice = assertThrows(IllegalArgumentException.class,
                () -> Policy.parse(List.of("[mount]", "lower: /a", "lower: /b"), "t"));
        assertEquals("t:3: lower is set twice in [mount]", twice.getMessage());
        IllegalArgumentException unknown = assertThrows(IllegalArgumentException.class,
                () -> Policy.parse(List.of("[mount]", "cahce: /x"), "t"));
        assertTrue(unknown.getMessage().startsWith("t:2: unknown key 'cahce' in [mount] (lower, mountpoint, cache"),
                unknown.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Policy.parse(List.of("[mounts]"), "t"));
        assertEquals("10", Policy.parse(List.of("writeback: 10"), "t").mount().get("writeback"),
                "writeback: belongs to the mount, at the top as in [mount]");
        assertEquals("on", Policy.parse(List.of("[mount]", "writeback: on"), "t").mount().get("writeback"));
    }

    @Test
    void theExampleConfigInContribParses() throws Exception {
        java.nio.file.Path example = java.nio.file.Path.of("../contrib/cachefs.conf.example");
        Policy p = Policy.load(example);
        assertEquals("/mnt/cached", p.mount().get("mountpoint"));
        assertEquals("meta_ttl=30,allow_other,metrics=127.0.0.1:9464", p.mount().get("options"));
        assertEquals(3, p.conflictRules().size());
        assertTrue(p.pinned("projects/report/draft.tex"));
    }
}
