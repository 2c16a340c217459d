package dev.cachefs.cli;

import dev.cachefs.fuse.FuseSession;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "umount", header = "Unmount a cachefs mount.", aliases = "unmount", mixinStandardHelpOptions = true,
        description = "Unmount a cachefs mount; the daemon serving it exits. Offline changes stay in the cache's"
                + " journal and are replayed by the next mount.",
        footer = {"", "Examples:  cachefs umount /mnt/cached", "           cachefs umount --lazy /mnt/cached"})
final class UmountCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "MOUNTPOINT", description = "where cachefs is mounted")
    Path mountpoint;

    @Option(names = {"-l", "--lazy"}, description = "detach now even if files are open (the daemon exits when they close)")
    boolean lazy;

    @Option(names = "--timeout", defaultValue = "30", description = "seconds to wait for the mount to go (default ${DEFAULT-VALUE})")
    int timeoutSeconds;

    @Override
    public Integer call() throws IOException, InterruptedException {
        Path mp = mountpoint.toAbsolutePath().normalize();
        if (!Files.isDirectory(mp)) {
            throw new Main.UserError(Main.USAGE, mp + " is not a directory");
        }
        var m = MountTable.at(mp);
        if (m.isEmpty()) {
            throw new Main.UserError(Main.USAGE, mp + " is not a mount point");
        }
        if (!m.get().type().equals("fuse.cachefs")) {
            throw new Main.UserError(Main.USAGE, mp + " is a " + m.get().type() + " mount, not cachefs");
        }
        try {
            FuseSession.unmount(mp, lazy);
        } catch (IOException e) {
            throw new Main.UserError(Main.FAILED, e.getMessage());
        }
        long deadline = System.nanoTime() + timeoutSeconds * 1_000_000_000L;
        while (MountTable.at(mp).filter(x -> x.type().equals("fuse.cachefs")).isPresent()) {
            if (System.nanoTime() > deadline) {
                throw new Main.UserError(Main.FAILED, mp + " is still mounted after " + timeoutSeconds + " s");
            }
            Thread.sleep(50);
        }
        return 0;
    }
}
