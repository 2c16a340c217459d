package dev.cachefs.cli;

import dev.cachefs.index.Fsck;
import dev.cachefs.index.IndexException;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "fsck", header = "Check (and repair) a cache directory.", mixinStandardHelpOptions = true,
        description = "Check a cache directory: every chunk the index marks present must be in its data file and match"
                + " its checksum; every data file must belong to an object. The cache must not be mounted. Exit "
                + "code 0: clean (or repaired); 1: problems remain; 2: cannot check.",
        footer = {"", "With --repair, drops what cannot be trusted (it is fetched again from the lower) and removes"
                + " orphan files, but never drops locally changed data that is not yet on the lower: that is reported as"
                + " LOCAL CHANGES DAMAGED and left for you. A corrupt index is moved aside, not deleted.",
                "", "Examples:  cachefs fsck ~/.cache/cachefs/mnt_nfs",
                "           cachefs fsck --repair /var/cache/cachefs/nfs"})
final class FsckCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "CACHE_DIR", description = "the cache directory (mount --cache)")
    Path cacheDir;

    @Option(names = "--repair", description = "fix what can be fixed safely")
    boolean repair;

    @Override
    public Integer call() {
        try {
            Fsck.Report r = Fsck.run(cacheDir.toAbsolutePath().normalize(), repair, System.out);
            if (r.clean()) {
                return 0;
            }
            return repair && r.precious() == 0 ? 0 : 1;
        } catch (IndexException e) {
            throw new Main.UserError(Main.USAGE, e.getMessage());
        }
    }
}
