package dev.cachefs.harness;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/**
 * A TCP relay inside a namespace, in front of a server that listens on the namespace's loopback:
 * clients reach {@code serverAddr:port}, the relay forwards to {@code 127.0.0.1:port}. Every chunk
 * of data is held for the current one-way delay in each direction, so the round trip grows by
 * twice the delay (this kernel's tc has no netem). With no delay it adds a copy and little else.
 */
public final class DelayProxy implements AutoCloseable {
    private final NetNs ns;
    private final int port;
    private volatile long delayNanos;
    private volatile ServerSocket server;
    private final List<Socket> sockets = new CopyOnWriteArrayList<>();
    private volatile boolean closed;

    private DelayProxy(NetNs ns, int port) {
        this.ns = ns;
        this.port = port;
    }

    /** Starts relaying {@code port}; returns once it listens. */
    public static DelayProxy start(NetNs ns, int port) {
        DelayProxy p = new DelayProxy(ns, port);
        java.util.concurrent.CompletableFuture<Void> listening = new java.util.concurrent.CompletableFuture<>();
        ns.startThreadInside("relay-" + ns.name() + ":" + port, () -> p.acceptLoop(listening));
        try {
            listening.get(10, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new HarnessException("relay for port " + port + " did not start: " + e, e);
        }
        return p;
    }

    public int port() {
        return port;
    }

    /** Sets the one-way delay added in each direction, for connections old and new. */
    public void delay(long millis) {
        delayNanos = TimeUnit.MILLISECONDS.toNanos(millis);
    }

    private void acceptLoop(java.util.concurrent.CompletableFuture<Void> listening) {
        try {
            ServerSocket ss = new ServerSocket();
            ss.setReuseAddress(true);
            ss.bind(new InetSocketAddress(InetAddress.getByName(ns.serverAddr()), port), 64);
            server = ss;
            listening.complete(null);
        } catch (IOException e) {
            listening.completeExceptionally(e);
            return;
        }
        while (!closed) {
            try {
                Socket client = server.accept();
                Socket upstream;
                try {
                    upstream = new Socket(); // made on this thread: it connects inside the namespace
                    upstream.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 5000);
                } catch (IOException e) {
                    client.close(); // the server is down: the client sees a reset, as it would
                    continue;
                }
                for (Socket s : List.of(client, upstream)) {
                    s.setTcpNoDelay(true);
                    sockets.add(s);
                }
                pipe(client, upstream);
                pipe(upstream, client);
            } catch (IOException e) {
                if (!closed) {
                    try {
                        Thread.sleep(50);
                    } catch (InterruptedException ie) {
                        return;
                    }
                }
            }
        }
    }

    private record Chunk(long due, byte[] data) {}

    private static final Chunk EOF = new Chunk(0, new byte[0]);

    /** One direction: a reader stamps each chunk, a writer delivers it when it is due. */
    private void pipe(Socket from, Socket to) {
        BlockingQueue<Chunk> queue = new ArrayBlockingQueue<>(64);
        Thread.ofPlatform().daemon().name("relay-read-" + port).start(() -> {
            byte[] buf = new byte[256 * 1024];
            try (InputStream in = from.getInputStream()) {
                int n;
                while ((n = in.read(buf)) > 0) {
                    queue.put(new Chunk(System.nanoTime() + delayNanos, Arrays.copyOf(buf, n)));
                }
            } catch (IOException | InterruptedException e) {
                // closed or reset: tell the writer
            }
            try {
                queue.put(EOF);
            } catch (InterruptedException ignored) {
                // exiting anyway
            }
        });
        Thread.ofPlatform().daemon().name("relay-write-" + port).start(() -> {
            try {
                OutputStream out = to.getOutputStream();
                while (true) {
                    Chunk c = queue.take();
                    if (c == EOF) {
                        to.shutdownOutput();
                        break;
                    }
                    long wait = c.due() - System.nanoTime();
                    if (wait > 0) {
                        TimeUnit.NANOSECONDS.sleep(wait);
                    }
                    out.write(c.data());
                }
            } catch (IOException | InterruptedException e) {
                close(from);
                close(to);
            }
        });
    }

    private void close(Socket s) {
        try {
            s.close();
        } catch (IOException ignored) {
            // closing anyway
        }
        sockets.remove(s);
    }

    /** Drops every relayed connection, as a server crash would, and keeps listening. */
    public void resetConnections() {
        for (Socket s : sockets) {
            try {
                s.setSoLinger(true, 0);
            } catch (IOException ignored) {
                // closing anyway
            }
            close(s);
        }
    }

    @Override
    public void close() {
        closed = true;
        try {
            if (server != null) {
                server.close();
            }
        } catch (IOException ignored) {
            // closing anyway
        }
        resetConnections();
    }
}
