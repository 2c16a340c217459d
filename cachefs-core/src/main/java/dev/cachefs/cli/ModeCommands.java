package dev.cachefs.cli;

import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/** {@code cachefs offline MOUNT} and {@code cachefs online MOUNT}: force the mount's mode. */
final class ModeCommands {
    private ModeCommands() {}

    /** Asks the daemon to go online (it replays first); a refusal is the command's failure. */
    private static Path goOnline(Path mountpoint) {
        Path mp = mountpoint.toAbsolutePath().normalize();
        String result = ControlServer.query(mp, "online").getOrDefault("result", "?");
        if (!result.equals("online") && !result.equals("already online")) {
            throw new Main.UserError(Main.FAILED, mountpoint + " " + result);
        }
        return mp;
    }

    @Command(name = "offline", mixinStandardHelpOptions = true,
            description = {"Make a cachefs mount work from its cache alone, until `cachefs online`.",
                    "Changes are journaled for replay; reads of what is not cached fail with ENOTCONN."})
    static final class Offline implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "MOUNTPOINT", description = "where cachefs is mounted")
        Path mountpoint;

        @Override
        public Integer call() {
            ControlServer.query(mountpoint.toAbsolutePath().normalize(), "offline");
            System.out.println("cachefs: " + mountpoint + " is offline");
            return 0;
        }
    }

    @Command(name = "online", mixinStandardHelpOptions = true,
            description = {"Make a cachefs mount use its lower again, if it answers.",
                    "Changes made offline are replayed onto it first (as cachefs sync does)."})
    static final class Online implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "MOUNTPOINT", description = "where cachefs is mounted")
        Path mountpoint;

        @Override
        public Integer call() {
            goOnline(mountpoint);
            System.out.println("cachefs: " + mountpoint + " is online");
            return 0;
        }
    }

    @Command(name = "sync", mixinStandardHelpOptions = true,
            description = {"Replay the changes a cachefs mount made offline onto its lower now, and go online.",
                    "Where the lower changed the same thing, both versions are kept (see cachefs conflicts)."})
    static final class Sync implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "MOUNTPOINT", description = "where cachefs is mounted")
        Path mountpoint;

        @Override
        public Integer call() {
            Path mp = goOnline(mountpoint);
            Map<String, String> st = ControlServer.query(mp, "status");
            System.out.println("cachefs: " + mountpoint + " is online; " + st.getOrDefault("journal", "?") + " left"
                    + (st.containsKey("last event") ? "; " + st.get("last event") : ""));
            return 0;
        }
    }

    @Command(name = "conflicts", mixinStandardHelpOptions = true,
            description = "List the conflicts replay found in a cachefs mount: kind, path, when.")
    static final class Conflicts implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "MOUNTPOINT", description = "where cachefs is mounted")
        Path mountpoint;

        @Override
        public Integer call() {
            Map<String, String> a = ControlServer.query(mountpoint.toAbsolutePath().normalize(), "conflicts");
            if (a.containsKey("error")) {
                throw new Main.UserError(Main.FAILED, a.get("error"));
            }
            a.forEach((k, v) -> {
                if (k.startsWith("conflict ")) {
                    System.out.println(v);
                }
            });
            System.out.println(a.getOrDefault("count", "0") + " conflicts");
            return 0;
        }
    }
}
