package dev.cachefs.harness;

import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Libc;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;

/**
 * A network namespace of the harness's own, joined to this host by a veth pair on a /24 of
 * 10.213.0.0/16: the host end is .1, the namespace end .2. An unreachable guard route for the
 * subnet goes in right after the namespace, so that a cut link can never send its traffic out of
 * the machine. Links are cut from the namespace side.
 */
public final class NetNs implements AutoCloseable {
    /** Every name the harness gives starts with this, so a later run can find what a dead one left. */
    public static final String PREFIX = "cfsh";
    static final String GUARD_METRIC = "4242";

    private final int subnet;
    private final String name;
    private volatile boolean closed;

    private NetNs(int subnet) {
        this.subnet = subnet;
        this.name = PREFIX + subnet;
    }

    /** Makes a namespace on the first free subnet. Needs root. */
    public static NetNs create() {
        Harness.requireRoot("network namespaces");
        for (int x = 20; x < 250; x++) {
            if (Files.exists(Path.of("/run/netns", PREFIX + x)) || Sh.run("ip", "route", "show", "10.213." + x + ".0/24").contains("10.213")) {
                continue;
            }
            NetNs ns = new NetNs(x);
            Harness.recordNetns(ns); // before it exists: a crash right after still leaves a record
            try {
                ns.setUp();
                return ns;
            } catch (RuntimeException e) {
                ns.close();
                throw e;
            }
        }
        throw new HarnessException("no free 10.213.x.0/24 subnet for a test namespace");
    }

    private void setUp() {
        Sh.run("ip", "netns", "add", name);
        Sh.run("ip", "route", "add", "unreachable", cidr(), "metric", GUARD_METRIC);
        Sh.run("ip", "link", "add", hostIf(), "type", "veth", "peer", "name", nsIf());
        Sh.run("ip", "link", "set", nsIf(), "netns", name);
        Sh.run("ip", "addr", "add", hostAddr() + "/24", "dev", hostIf());
        Sh.run("ip", "link", "set", hostIf(), "up");
        Sh.run("ip", "-n", name, "addr", "add", serverAddr() + "/24", "dev", nsIf());
        Sh.run("ip", "-n", name, "link", "set", nsIf(), "up");
        Sh.run("ip", "-n", name, "link", "set", "lo", "up");
    }

    public String name() {
        return name;
    }

    /** The address servers are reached at, inside the namespace. */
    public String serverAddr() {
        return "10.213." + subnet + ".2";
    }

    public String hostAddr() {
        return "10.213." + subnet + ".1";
    }

    String cidr() {
        return "10.213." + subnet + ".0/24";
    }

    String hostIf() {
        return name + "h";
    }

    String nsIf() {
        return name + "n";
    }

    /** Takes the link down from the namespace side; the guard route keeps the traffic on this host. */
    public void cutLink() {
        Sh.run("ip", "-n", name, "link", "set", nsIf(), "down");
    }

    public void restoreLink() {
        Sh.run("ip", "-n", name, "link", "set", nsIf(), "up");
    }

    /** Limits both directions to {@code kbit} kilobits per second (htb on both veth ends). */
    public void bandwidth(long kbit) {
        unshape();
        String rate = kbit + "kbit";
        for (String[] dev : new String[][] {{"-n", name, nsIf()}, {"-n", "", hostIf()}}) {
            String[] pre = dev[1].isEmpty() ? new String[] {"tc"} : new String[] {"tc", "-n", dev[1]};
            Sh.run(concat(pre, "qdisc", "add", "dev", dev[2], "root", "handle", "1:", "htb", "default", "10", "r2q", "1000"));
            Sh.run(concat(pre, "class", "add", "dev", dev[2], "parent", "1:", "classid", "1:10", "htb",
                    "rate", rate, "ceil", rate, "burst", "64k"));
        }
    }

    /** Removes any bandwidth limit. */
    public void unshape() {
        Sh.tryRun("tc", "-n", name, "qdisc", "del", "dev", nsIf(), "root");
        Sh.tryRun("tc", "qdisc", "del", "dev", hostIf(), "root");
    }

    private static String[] concat(String[] a, String... b) {
        String[] out = new String[a.length + b.length];
        System.arraycopy(a, 0, out, 0, a.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    /**
     * Starts a platform thread that lives inside the namespace: sockets it creates (listening or
     * connecting) belong to the namespace for their whole life, whichever thread uses them later.
     * The returned future completes once the thread has joined the namespace.
     */
    public CompletableFuture<Void> startThreadInside(String threadName, Runnable body) {
        CompletableFuture<Void> joined = new CompletableFuture<>();
        Thread t = Thread.ofPlatform().daemon().name(threadName).unstarted(() -> {
            try {
                int fd = Libc.open("/run/netns/" + name, Libc.O_RDONLY, 0);
                try {
                    Libc.setns(fd, Libc.CLONE_NEWNET);
                } finally {
                    Libc.close(fd);
                }
            } catch (ErrnoException e) {
                joined.completeExceptionally(new HarnessException("cannot join namespace " + name + ": " + e.getMessage(), e));
                return;
            }
            joined.complete(null);
            body.run();
        });
        t.start();
        return joined;
    }

    /** PIDs of every process inside the namespace: all of them are the harness's, by construction. */
    public java.util.List<Long> processesInside() {
        java.util.List<Long> out = new java.util.ArrayList<>();
        String want;
        try {
            want = "net:[" + Files.getAttribute(Path.of("/run/netns", name), "unix:ino") + "]";
        } catch (java.io.IOException | RuntimeException e) {
            return out;
        }
        try (java.nio.file.DirectoryStream<Path> ds = Files.newDirectoryStream(Path.of("/proc"), "[0-9]*")) {
            for (Path p : ds) {
                try {
                    if (Files.readSymbolicLink(p.resolve("ns/net")).toString().equals(want)) {
                        out.add(Long.parseLong(p.getFileName().toString()));
                    }
                } catch (java.io.IOException | RuntimeException e) {
                    // exited meanwhile
                }
            }
        } catch (java.io.IOException e) {
            // no /proc
        }
        return out;
    }

    public boolean closed() {
        return closed;
    }

    /** Deletes the namespace (and with it the veth pair) and the guard route. */
    @Override
    public void close() {
        closed = true;
        remove(name, cidr());
        Harness.forgetNetns(this);
    }

    static void remove(String ns, String cidr) {
        Sh.tryRun("ip", "netns", "del", ns);
        // The veth pair dies with the namespace, which lives on while any process is still inside
        // it: delete the host end outright so nothing can route through it any more.
        if (Sh.tryRun("ip", "link", "show", ns + "h").ok()) {
            Sh.tryRun("ip", "link", "del", ns + "h");
        }
        // The guard route goes last: the link is gone, nothing can leave through it any more.
        Sh.tryRun("ip", "route", "del", "unreachable", cidr, "metric", GUARD_METRIC);
    }
}
