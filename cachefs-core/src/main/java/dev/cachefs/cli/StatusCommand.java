package dev.cachefs.cli;

import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

@Command(name = "status", mixinStandardHelpOptions = true,
        description = "Show what a live cachefs mount is doing: lower, cache, identity mode, daemon.")
final class StatusCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "MOUNTPOINT", description = "where cachefs is mounted")
    Path mountpoint;

    @Override
    public Integer call() {
        Path mp = mountpoint.toAbsolutePath().normalize();
        Map<String, String> status = ControlServer.query(mp, "status");
        int width = status.keySet().stream().mapToInt(String::length).max().orElse(0);
        status.forEach((k, v) -> System.out.println(String.format("%-" + width + "s  %s", k, v)));
        return 0;
    }
}
