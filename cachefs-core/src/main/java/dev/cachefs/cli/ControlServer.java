package dev.cachefs.cli;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The daemon's control channel: a Unix socket, mode 0600 in a 0700 directory of the mounting
 * user, named after the mount point so that {@code cachefs status MOUNTPOINT} finds it. A client
 * sends one command line; the daemon answers with "key: value" lines and closes. Commands:
 * {@code status}, {@code stats}. Later issues add pinning to the same channel.
 */
final class ControlServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ControlServer.class);

    private final Path socket;
    private final ServerSocketChannel server;
    private final Supplier<Map<String, String>> status;
    private final Supplier<Map<String, String>> stats;
    private volatile boolean closed;

    private ControlServer(Path socket, ServerSocketChannel server, Supplier<Map<String, String>> status,
                          Supplier<Map<String, String>> stats) {
        this.socket = socket;
        this.server = server;
        this.status = status;
        this.stats = stats;
    }

    /** Where the control socket of a mount at {@code mountpoint} lives, for this user. */
    static Path socketFor(Path mountpoint) {
        int uid = dev.cachefs.nativeio.Libc.geteuid();
        Path dir = uid == 0 ? Path.of("/run/cachefs")
                : Path.of(System.getenv().getOrDefault("XDG_RUNTIME_DIR", "/tmp/cachefs-" + uid), "cachefs");
        try {
            byte[] h = MessageDigest.getInstance("SHA-256").digest(mountpoint.toString().getBytes(StandardCharsets.UTF_8));
            return dir.resolve(HexFormat.of().formatHex(h, 0, 12) + ".sock");
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    static ControlServer start(Path mountpoint, Supplier<Map<String, String>> status,
                               Supplier<Map<String, String>> stats) throws IOException {
        Path sock = socketFor(mountpoint);
        Path dir = sock.getParent();
        Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        if (Files.isSymbolicLink(dir) || ((Integer) Files.getAttribute(dir, "unix:uid")) != dev.cachefs.nativeio.Libc.geteuid()) {
            throw new IOException("control directory " + dir + " is not this user's own");
        }
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
        Files.deleteIfExists(sock); // a daemon that died left it; the mount point is ours now
        ServerSocketChannel ch = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        ch.bind(UnixDomainSocketAddress.of(sock));
        Files.setPosixFilePermissions(sock, PosixFilePermissions.fromString("rw-------"));
        ControlServer s = new ControlServer(sock, ch, status, stats);
        Thread.ofPlatform().daemon().name("cachefs-control").start(s::serve);
        return s;
    }

    private void serve() {
        while (!closed) {
            try (SocketChannel c = server.accept()) {
                String cmd = readLine(c);
                Map<String, String> answer = switch (cmd) {
                    case "status" -> status.get();
                    case "stats" -> stats.get();
                    default -> Map.of("error", "unknown command '" + cmd + "'");
                };
                StringBuilder b = new StringBuilder();
                answer.forEach((k, v) -> b.append(k).append(": ").append(v).append('\n'));
                writeAll(c, b.toString());
            } catch (IOException | RuntimeException e) {
                if (!closed) {
                    log.debug("control request failed: {}", e.toString());
                }
            }
        }
    }

    private static void writeAll(SocketChannel c, String text) throws IOException {
        ByteBuffer out = ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8));
        while (out.hasRemaining()) {
            c.write(out);
        }
    }

    private static String readLine(SocketChannel c) throws IOException {
        ByteBuffer in = ByteBuffer.allocate(4096);
        while (in.hasRemaining() && c.read(in) > 0) {
            if (in.get(in.position() - 1) == '\n') {
                break;
            }
        }
        return new String(in.array(), 0, in.position(), StandardCharsets.UTF_8).strip();
    }

    /** Sends {@code command} to the daemon of {@code mountpoint}; its answer, in order. */
    static Map<String, String> ask(Path mountpoint, String command) throws IOException {
        Path sock = socketFor(mountpoint);
        try (SocketChannel c = SocketChannel.open(UnixDomainSocketAddress.of(sock))) {
            writeAll(c, command + "\n");
            String text = new String(java.nio.channels.Channels.newInputStream(c).readAllBytes(), StandardCharsets.UTF_8);
            Map<String, String> m = new LinkedHashMap<>();
            for (String line : text.split("\n")) {
                int i = line.indexOf(": ");
                if (i > 0) {
                    m.put(line.substring(0, i), line.substring(i + 2));
                }
            }
            return m;
        }
    }

    /**
     * Asks the daemon of cachefs mount {@code mp} (after checking it is one), with a 10 s bound so
     * a wedged daemon cannot wedge the command; failures are {@link Main.UserError}s naming the fix.
     */
    static Map<String, String> query(Path mp, String command) {
        java.util.Optional<MountTable.Mount> m;
        try {
            m = MountTable.at(mp);
        } catch (IOException e) {
            throw new Main.UserError(Main.FAILED, "cannot read the mount table: " + e.getMessage());
        }
        if (m.isEmpty() || !m.get().type().equals("fuse.cachefs")) {
            throw new Main.UserError(Main.USAGE, mp + " is not a cachefs mount point");
        }
        java.util.concurrent.CompletableFuture<Map<String, String>> answer = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                return ask(mp, command);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        try {
            return answer.get(10, java.util.concurrent.TimeUnit.SECONDS);
        } catch (java.util.concurrent.TimeoutException e) {
            throw new Main.UserError(Main.FAILED, "the daemon of " + mp + " did not answer within 10 s");
        } catch (Exception e) {
            Throwable c = e.getCause() != null ? e.getCause() : e;
            Path sock = socketFor(mp);
            throw new Main.UserError(Main.FAILED, "cannot reach the daemon of " + mp + " (" + c.getMessage()
                    + "); is it mounted by another user? socket " + sock + (Files.exists(sock) ? "" : " does not exist"));
        }
    }

    @Override
    public void close() {
        closed = true;
        try {
            server.close();
            Files.deleteIfExists(socket);
        } catch (IOException ignored) {
            // the next daemon on this mount point replaces it
        }
    }
}
