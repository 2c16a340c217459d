package dev.cachefs.cli;

import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/** {@code cachefs offline MOUNT} and {@code cachefs online MOUNT}: force the mount's mode. */
final class ModeCommands {
    private ModeCommands() {}

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
                    "It stays offline while local changes made offline wait for replay."})
    static final class Online implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "MOUNTPOINT", description = "where cachefs is mounted")
        Path mountpoint;

        @Override
        public Integer call() {
            Map<String, String> a = ControlServer.query(mountpoint.toAbsolutePath().normalize(), "online");
            String result = a.getOrDefault("result", "?");
            if (result.equals("online") || result.equals("already online")) {
                System.out.println("cachefs: " + mountpoint + " is online");
                return 0;
            }
            throw new Main.UserError(Main.FAILED, mountpoint + " " + result);
        }
    }
}
