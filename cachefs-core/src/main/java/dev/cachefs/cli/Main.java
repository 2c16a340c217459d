package dev.cachefs.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code cachefs} command. */
@Command(name = "cachefs", mixinStandardHelpOptions = true, version = "cachefs 0.1.0",
        description = "A caching filesystem stacked over a (network) directory: what is read stays on local disk, and"
                + " the mount keeps working from it while the network is away.",
        footer = {"", "Each command's options: cachefs COMMAND --help. The user guide is docs/user-guide.md.",
                "", "Examples:  cachefs mount /mnt/nfs ~/nfs --cache-size 20G",
                "           cachefs status ~/nfs",
                "           cachefs pin -r ~/nfs/project"},
        subcommands = {MountCommand.class, UmountCommand.class, StatusCommand.class, StatsCommand.class,
                PinCommands.Pin.class, PinCommands.Unpin.class, PinCommands.Evict.class, PinCommands.Pins.class, PinCommands.Invalidate.class, ModeCommands.Offline.class, ModeCommands.Online.class, ModeCommands.Sync.class, ModeCommands.Conflicts.class, ModeCommands.Resolve.class, FsckCommand.class, AotCache.class, CommandLine.HelpCommand.class})
public final class Main implements Runnable {
    /** Exit code for wrong arguments or an unusable environment. */
    static final int USAGE = 2;
    /** Exit code for a failure while doing what was asked. */
    static final int FAILED = 1;

    public static void main(String[] args) {
        int code = run(args);
        if (code != 0 || args.length == 0 || !args[0].equals("mount") || !isForeground(args)) {
            System.exit(code);
        }
    }

    static boolean isForeground(String[] args) {
        for (String a : args) {
            if (a.equals("--foreground") || a.equals("-f")) {
                return true;
            }
        }
        return false;
    }

    public static int run(String... args) {
        CommandLine cl = command();
        cl.setExecutionExceptionHandler((ex, cmd, parsed) -> {
            if (ex instanceof UserError u) {
                cmd.getErr().println("cachefs: " + u.getMessage());
                return u.code;
            }
            cmd.getErr().println("cachefs: " + ex);
            ex.printStackTrace(cmd.getErr());
            return FAILED;
        });
        return cl.execute(args);
    }

    /** The command line with every subcommand, its help complete. */
    static CommandLine command() {
        CommandLine cl = new CommandLine(new Main());
        var mount = cl.getSubcommands().get("mount").getCommandSpec().usageMessage();
        mount.footer(MountCommand.footer(mount.width()).replace("%", "%%")); // help text is a format string
        return cl;
    }

    @Override
    public void run() {
        command().usage(System.out);
    }

    /** A failure to report as one clear line, with an exit code. */
    static final class UserError extends RuntimeException {
        final int code;

        UserError(int code, String message) {
            super(message, null, false, false);
            this.code = code;
        }
    }
}
