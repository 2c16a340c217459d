package dev.cachefs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Model.ArgSpec;

/** Every command's help is complete, fits 80 columns and renders without picocli complaining. */
class HelpTest {
    private static Map<String, CommandLine> commands() {
        CommandLine root = Main.command();
        Map<String, CommandLine> all = new LinkedHashMap<>();
        all.put("cachefs", root);
        root.getSubcommands().forEach((name, cl) -> {
            if (!name.equals("help") && name.equals(cl.getCommandName())) { // aliases once
                all.put(name, cl);
            }
        });
        return all;
    }

    private static String usage(CommandLine cl, ByteArrayOutputStream err) {
        PrintStream saved = System.err;
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8)); // picocli warns there
        try {
            StringWriter w = new StringWriter();
            cl.usage(new PrintWriter(w, true));
            return w.toString();
        } finally {
            System.setErr(saved);
        }
    }

    @Test
    void everyCommandHasADescriptionExamplesAndDescribedArguments() {
        Map<String, CommandLine> all = commands();
        assertTrue(all.size() >= 16, "commands: " + all.keySet());
        for (var e : all.entrySet()) {
            var spec = e.getValue().getCommandSpec();
            String text = usage(e.getValue(), new ByteArrayOutputStream());
            assertTrue(spec.usageMessage().description().length > 0, e.getKey() + " has a description");
            assertTrue(text.contains("Example"), e.getKey() + " shows an example:\n" + text);
            for (ArgSpec a : spec.args()) {
                if (a.hidden()) {
                    continue;
                }
                String d = String.join(" ", a.description()).strip();
                assertFalse(d.isEmpty(), e.getKey() + ": " + a.paramLabel() + " " + (a.isOption() ? ((CommandLine.Model.OptionSpec) a).longestName() : "")
                        + " has no description");
            }
        }
    }

    @Test
    void helpFitsEightyColumnsAndRendersCleanly() {
        for (var e : commands().entrySet()) {
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            String text = usage(e.getValue(), err);
            assertEquals("", err.toString(StandardCharsets.UTF_8), e.getKey() + ": picocli complained rendering the help");
            for (String line : text.split("\n")) {
                assertTrue(line.length() <= 80, e.getKey() + ": a line of " + line.length() + " columns: " + line);
            }
            assertFalse(text.contains("%n"), e.getKey() + ": an unformatted %n");
        }
    }

    @Test
    void theMountOptionsTableListsEachOptionOnceWithItsDefault() {
        String footer = MountCommand.footer(80);
        for (String[] o : MountCommand.OPTIONS) {
            assertTrue(footer.contains("  " + o[0] + " ") || footer.contains("  " + o[0] + "\n"), o[0] + " is in the table");
        }
        assertTrue(footer.contains("cull_free=P%"), footer);
        String text = usage(Main.command().getSubcommands().get("mount"), new ByteArrayOutputStream());
        assertTrue(text.contains("cull cached data when the cache disk has less than P%"), "% survives formatting:\n" + text);
    }
}
