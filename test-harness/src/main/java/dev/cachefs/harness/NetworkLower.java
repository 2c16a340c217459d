package dev.cachefs.harness;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * A server in a namespace of its own and a FUSE client on this host. The server listens on the
 * namespace's loopback; a {@link DelayProxy} per port relays the client's connections to it, which
 * is where latency is added. Subclasses say how to start the server and mount the client.
 */
public abstract class NetworkLower extends Lower {
    protected final Path dir;
    protected final Path export;
    protected final Path mnt;
    protected NetNs ns;
    protected final List<Proc> servers = new ArrayList<>();
    protected final List<Proc> clients = new ArrayList<>();
    private final List<DelayProxy> proxies = new ArrayList<>();

    protected NetworkLower(String name) {
        this.dir = Harness.newDir(name);
        this.export = dir.resolve("export");
        this.mnt = dir.resolve("mnt");
    }

    @Override
    public boolean isNetwork() {
        return true;
    }

    @Override
    public Path serverDir() {
        return export;
    }

    /** Sets everything up; on failure tears down what was made and rethrows. */
    final void start() {
        try {
            Files.createDirectories(export);
            Files.createDirectories(mnt);
            ns = NetNs.create();
            configure();
            startServer();
            for (int port : relayedPorts()) {
                proxies.add(DelayProxy.start(ns, port));
            }
            mountClient();
            awaitTrue(Duration.ofSeconds(30), "the " + name() + " mount to show the export",
                    () -> Files.isDirectory(root()) && Files.isWritable(root()));
        } catch (Exception e) {
            String logs = diagnostics();
            close();
            if (e instanceof org.opentest4j.TestAbortedException skip) {
                throw skip;
            }
            throw new HarnessException("cannot start the " + name() + " lower: " + e.getMessage() + "\n" + logs, e);
        }
    }

    /** Writes configuration files and keys into {@link #dir}. */
    protected abstract void configure() throws Exception;

    /** The TCP ports the client connects to, relayed from the namespace address to its loopback. */
    protected abstract List<Integer> relayedPorts();

    /** Starts the server processes (again, after {@link #killServer}); adds them to {@link #servers}. */
    protected abstract void startServerProcesses() throws Exception;

    /** Mounts the client on {@link #mnt}; adds its processes to {@link #clients}. */
    protected abstract void mountClient() throws Exception;

    /** Unmounts the client; the processes are stopped after this. */
    protected void unmountClient() {
        Sh.tryRun(Duration.ofSeconds(10), Map.of(), "fusermount3", "-u", mnt.toString());
    }

    protected Proc startInNamespace(String name, List<String> cmd, Map<String, String> env) {
        Proc p = Proc.start(name, Sh.inNetns(ns.name(), cmd), dir.resolve(name + ".log"), env);
        servers.add(p);
        return p;
    }

    protected Proc startClient(String name, List<String> cmd, Map<String, String> env) {
        Proc p = Proc.start(name, cmd, dir.resolve(name + ".log"), env);
        clients.add(p);
        return p;
    }

    /** Waits until something listens on {@code port} of the namespace's loopback. */
    protected void awaitListening(Proc p, int port) throws Exception {
        awaitTrue(Duration.ofSeconds(30), p.name() + " to listen on port " + port, () -> {
            p.checkAlive();
            String hex = String.format(":%04X ", port);
            for (String table : List.of("tcp", "tcp6")) {
                // The process's own view of /proc/net is its namespace's (nsenter --net execs, no fork).
                Path f = Path.of("/proc", Long.toString(p.pid()), "net", table);
                for (String line : Files.exists(f) ? Files.readAllLines(f) : List.<String>of()) {
                    String[] c = line.trim().split("\\s+");
                    if (c.length > 3 && c[1].endsWith(hex.trim()) && c[3].equals("0A")) { // 0A: LISTEN
                        return true;
                    }
                }
            }
            return false;
        });
    }

    /** Whether every client process still runs (sshfs exits when a reconnect fails). */
    public boolean clientAlive() {
        return clients.stream().allMatch(Proc::alive);
    }

    /** Unmounts the client (lazily if it must) and ends its processes. */
    private void takeClientDown() {
        unmountClient();
        for (String m : Harness.mountsUnder(mnt)) {
            Sh.tryRun("fusermount3", "-u", "-z", m);
        }
        for (Proc p : clients) {
            p.close();
        }
        clients.clear();
    }

    /** Takes the client down, whatever its state, and mounts it again. */
    public void remountClient() throws Exception {
        takeClientDown();
        mountClient();
        awaitTrue(Duration.ofSeconds(30), "the " + name() + " mount to show the export again",
                () -> Files.isDirectory(root()) && Files.isWritable(root()));
    }

    /** Whether the server is up (every server process alive); then {@link #startServer} does nothing. */
    protected boolean serverRunning() {
        return !servers.isEmpty() && servers.stream().allMatch(Proc::alive);
    }

    @Override
    public final void startServer() {
        if (serverRunning()) {
            return; // idempotent: a second start must not start a second server on the same port
        }
        try {
            startServerProcesses();
        } catch (RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new HarnessException("cannot start the " + name() + " server: " + e.getMessage(), e);
        }
    }

    @Override
    public void cutLink() {
        ns.cutLink();
    }

    @Override
    public void restoreLink() {
        ns.restoreLink();
    }

    @Override
    public void killServer() {
        for (Proc p : servers) {
            p.kill();
        }
        servers.clear();
        killStragglers(List.of());
    }

    /**
     * SIGKILLs what is still inside the namespace but for {@code keep}: a server's per-connection
     * children can outlive the kill of their tree (reparented before the tree was read).
     */
    protected void killStragglers(List<Long> keep) {
        List<Long> left = new ArrayList<>(ns.processesInside());
        left.removeAll(keep);
        Proc.signal(left, Proc.SIGKILL);
    }

    @Override
    public void pauseServer() {
        for (Proc p : servers) {
            p.signalTree(Proc.SIGSTOP);
        }
    }

    @Override
    public void resumeServer() {
        for (Proc p : servers) {
            p.signalTree(Proc.SIGCONT);
        }
    }

    @Override
    public void bandwidth(long kbit) {
        if (kbit <= 0) {
            ns.unshape();
        } else {
            ns.bandwidth(kbit);
        }
    }

    @Override
    public void latency(long millis) {
        for (DelayProxy p : proxies) {
            p.delay(millis / 2); // half each way
        }
    }

    /** The namespace, for tests that need its address or want to shape it themselves. */
    public NetNs netns() {
        return ns;
    }

    /** The logs of every process, for a failure message. */
    public String diagnostics() {
        StringBuilder b = new StringBuilder();
        for (Proc p : concat(servers, clients)) {
            b.append("--- ").append(p.name()).append(p.alive() ? "" : " (exited)").append(":\n").append(p.tail()).append('\n');
        }
        return b.toString();
    }

    private static List<Proc> concat(List<Proc> a, List<Proc> b) {
        List<Proc> all = new ArrayList<>(a);
        all.addAll(b);
        return all;
    }

    @Override
    public void close() {
        if (ns != null && !ns.closed()) {
            Sh.tryRun("ip", "-n", ns.name(), "link", "set", ns.nsIf(), "up"); // a client waits for a cut link
        }
        resumeServer(); // and for a paused server, before it can unmount
        takeClientDown();
        for (DelayProxy p : proxies) {
            p.close();
        }
        proxies.clear();
        for (Proc p : servers) {
            p.close();
        }
        servers.clear();
        if (ns != null) {
            ns.close();
        }
        if (Harness.mountsUnder(dir).isEmpty()) {
            try {
                Harness.deleteTree(dir);
            } catch (java.io.IOException ignored) {
                // goes with the run directory
            }
        }
    }

    /**
     * Polls {@code probe} until it says true. Each probe runs on its own daemon thread with a
     * deadline, because a probe of a FUSE mount can block in the kernel where no signal reaches.
     */
    public static void awaitTrue(Duration deadline, String what, Callable<Boolean> probe) throws Exception {
        long end = System.nanoTime() + deadline.toNanos();
        Exception last = null;
        while (System.nanoTime() < end) {
            CompletableFuture<Boolean> f = new CompletableFuture<>();
            Thread.ofPlatform().daemon().start(() -> {
                try {
                    f.complete(probe.call());
                } catch (Exception e) {
                    f.completeExceptionally(e);
                }
            });
            try {
                long left = Math.max(1, end - System.nanoTime());
                if (f.get(left, TimeUnit.NANOSECONDS)) {
                    return;
                }
            } catch (java.util.concurrent.ExecutionException e) {
                if (e.getCause() instanceof HarnessException he) {
                    throw he;
                }
                last = (Exception) e.getCause();
            } catch (java.util.concurrent.TimeoutException e) {
                break;
            }
            Thread.sleep(100);
        }
        throw new HarnessException("timed out after " + deadline.toSeconds() + " s waiting for " + what
                + (last == null ? "" : " (last error: " + last + ")"));
    }
}
