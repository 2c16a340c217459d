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
    private final Map<String, Handler> handlers;
    private volatile boolean closed;

    /** Where a handler writes its answer: "key: value" lines, sent at once (progress can stream). */
    interface Reply {
        void send(Map<String, String> lines) throws IOException;
    }

    /** One command: its words after the name, and where to answer. */
    interface Handler {
        void handle(java.util.List<String> args, Reply out) throws IOException;
    }

    /** A handler that answers once. */
    static Handler answering(Supplier<Map<String, String>> s) {
        return (args, out) -> out.send(s.get());
    }

    private ControlServer(Path socket, ServerSocketChannel server, Map<String, Handler> handlers) {
        this.socket = socket;
        this.server = server;
        this.handlers = handlers;
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

    static ControlServer start(Path mountpoint, Map<String, Handler> handlers) throws IOException {
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
        ControlServer s = new ControlServer(sock, ch, handlers);
        Thread.ofPlatform().daemon().name("cachefs-control").start(s::serve);
        return s;
    }

    private void serve() {
        while (!closed) {
            SocketChannel c;
            try {
                c = server.accept();
            } catch (IOException e) {
                if (!closed) {
                    log.debug("control accept failed: {}", e.toString());
                }
                continue;
            }
            // Each request on its own thread: a pin of a big tree must not hold up status.
            Thread.ofPlatform().daemon().name("cachefs-control-request").start(() -> answer(c));
        }
    }

    /** Closes connections whose request has not arrived within {@link #REQUEST_SECONDS}. */
    private static final java.util.concurrent.ScheduledExecutorService WATCHDOG =
            java.util.concurrent.Executors.newSingleThreadScheduledExecutor(
                    r -> Thread.ofPlatform().daemon().name("cachefs-control-watchdog").unstarted(r));
    static final int REQUEST_SECONDS = 10;

    private void answer(SocketChannel c) {
        try (c) {
            Reply out = lines -> {
                StringBuilder b = new StringBuilder();
                lines.forEach((k, v) -> b.append(k).append(": ").append(v.replace('\n', ' ')).append('\n'));
                writeAll(c, b.toString());
            };
            // A client that connects and says nothing cannot keep a thread: its request has a deadline.
            var stall = WATCHDOG.schedule(() -> {
                try {
                    c.close();
                } catch (IOException ignored) {
                    // closed already
                }
            }, REQUEST_SECONDS, java.util.concurrent.TimeUnit.SECONDS);
            String line;
            try {
                line = readLine(c);
            } catch (IllegalArgumentException e) {
                out.send(Map.of("error", e.getMessage()));
                c.shutdownOutput();
                drain(c); // closing with unread data would reset the connection, and the client lose the answer
                return;
            } finally {
                stall.cancel(false);
            }
            if (!allowed(c)) { // after reading the request, for the same reason as the drain
                out.send(Map.of("error", "only the user who mounted this and root may control it"));
                return;
            }
            java.util.List<String> words = java.util.List.of(line.split(" "));
            Handler h = handlers.get(words.get(0));
            if (h == null) {
                out.send(Map.of("error", "unknown command '" + words.get(0) + "'"));
                return;
            }
            try {
                h.handle(words.subList(1, words.size()), out);
            } catch (IllegalArgumentException e) {
                out.send(Map.of("error", e.getMessage()));
            }
        } catch (IOException | RuntimeException e) {
            if (!closed) {
                log.debug("control request failed: {}", e.toString());
            }
        }
    }

    /** The peer is the mounting user or root (SO_PEERCRED), whatever the socket's mode says. */
    private static boolean allowed(SocketChannel c) {
        try {
            var peer = c.getOption(jdk.net.ExtendedSocketOptions.SO_PEERCRED);
            String name = peer.user().getName();
            return name.equals("root") || name.equals(System.getProperty("user.name"));
        } catch (IOException | UnsupportedOperationException e) {
            return false;
        }
    }

    private static void writeAll(SocketChannel c, String text) throws IOException {
        ByteBuffer out = ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8));
        while (out.hasRemaining()) {
            c.write(out);
        }
    }

    /** Reads and drops what the client still sends, up to 16 MiB. */
    private static void drain(SocketChannel c) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(64 << 10);
        for (long total = 0; total < 16 << 20; ) {
            b.clear();
            int n = c.read(b);
            if (n < 0) {
                return;
            }
            total += n;
        }
    }

    /** The longest request: a command and two hex-encoded paths of PATH_MAX bytes, with room to spare. */
    static final int MAX_REQUEST = 64 << 10;

    /**
     * One request line, whole: a line cut short by the size bound or by the client is refused, so
     * a truncated path can never be taken for a shorter one (an evict of a parent, say).
     */
    private static String readLine(SocketChannel c) throws IOException {
        ByteBuffer in = ByteBuffer.allocate(MAX_REQUEST);
        while (in.hasRemaining() && c.read(in) > 0) {
            if (in.get(in.position() - 1) == '\n') {
                return new String(in.array(), 0, in.position() - 1, StandardCharsets.UTF_8).strip();
            }
        }
        throw new IllegalArgumentException(in.hasRemaining() ? "request without an end of line"
                : "request longer than " + MAX_REQUEST + " bytes");
    }

    /** Sends {@code command} to the daemon of {@code mountpoint}; its answer, in order (a later key wins). */
    static Map<String, String> ask(Path mountpoint, String command) throws IOException {
        Map<String, String> m = new LinkedHashMap<>();
        ask(mountpoint, command, (k, v) -> m.put(k, v));
        return m;
    }

    /** Sends {@code command}; each answer line as it arrives (progress streams). */
    static void ask(Path mountpoint, String command, java.util.function.BiConsumer<String, String> line) throws IOException {
        Path sock = socketFor(mountpoint);
        try (SocketChannel c = SocketChannel.open(UnixDomainSocketAddress.of(sock));
             var in = new java.io.BufferedReader(new java.io.InputStreamReader(java.nio.channels.Channels.newInputStream(c),
                     StandardCharsets.UTF_8))) {
            writeAll(c, command + "\n");
            String l;
            while ((l = in.readLine()) != null) {
                int i = l.indexOf(": ");
                if (i > 0) {
                    line.accept(l.substring(0, i), l.substring(i + 2));
                }
            }
        }
    }

    /**
     * Asks the daemon of cachefs mount {@code mp} (after checking it is one), with a 10 s bound so
     * a wedged daemon cannot wedge the command; failures are {@link Main.UserError}s naming the fix.
     */
    /**
     * Asks the daemon of {@code mountpoint} (as the user gave it) for {@code command}; its answer,
     * or a clear error if it answered with one.
     */
    static Map<String, String> answer(Path mountpoint, String command) {
        Path mp = mountpoint.toAbsolutePath().normalize();
        Map<String, String> a = query(mp, command);
        if (a.containsKey("error")) {
            throw new Main.UserError(Main.FAILED, "the daemon of " + mp + " answered: " + a.get("error"));
        }
        return a;
    }

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
