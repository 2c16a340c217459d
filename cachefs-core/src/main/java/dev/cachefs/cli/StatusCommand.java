package dev.cachefs.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

@Command(name = "status", mixinStandardHelpOptions = true,
        description = "Show what a live cachefs mount is doing: lower, cache, identity mode, daemon.")
final class StatusCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "MOUNTPOINT", description = "where cachefs is mounted")
    Path mountpoint;

    @Override
    public Integer call() throws IOException {
        Path mp = mountpoint.toAbsolutePath().normalize();
        var m = MountTable.at(mp);
        if (m.isEmpty() || !m.get().type().equals("fuse.cachefs")) {
            throw new Main.UserError(Main.USAGE, mp + " is not a cachefs mount point");
        }
        // Asked on another thread: a wedged daemon must not wedge the command.
        CompletableFuture<Map<String, String>> answer = CompletableFuture.supplyAsync(() -> {
            try {
                return ControlServer.ask(mp, "status");
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        Map<String, String> status;
        try {
            status = answer.get(10, TimeUnit.SECONDS);
        } catch (java.util.concurrent.TimeoutException e) {
            throw new Main.UserError(Main.FAILED, "the daemon of " + mp + " did not answer within 10 s");
        } catch (Exception e) {
            Throwable c = e.getCause() != null ? e.getCause() : e;
            Path sock = ControlServer.socketFor(mp);
            throw new Main.UserError(Main.FAILED, "cannot reach the daemon of " + mp + " (" + c.getMessage()
                    + "); is it mounted by another user? socket " + sock + (Files.exists(sock) ? "" : " does not exist"));
        }
        int width = status.keySet().stream().mapToInt(String::length).max().orElse(0);
        status.forEach((k, v) -> System.out.println(String.format("%-" + width + "s  %s", k, v)));
        return 0;
    }
}
