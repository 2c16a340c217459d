package dev.cachefs.fs;

import dev.cachefs.lower.LowerFile;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Libc;
import dev.cachefs.nativeio.Stat;
import java.util.HashMap;
import java.util.Map;

/**
 * The opens of local files (the local copies of write-back and offline changes) by node, and
 * whether the next one may be handed to the kernel with FUSE passthrough. The kernel keeps one
 * I/O mode and one backing file per inode while it has opens: a passthrough open next to a
 * daemon-served one, or onto another backing file, fails with EIO. So a local copy is passed
 * through only when the node has no open served otherwise (by this class's count and the cache
 * layer's), or joins the passthrough opens already made onto that same file.
 *
 * <p>Counts drop at the daemon's release, which comes after the kernel's close: they are never
 * lower than the kernel's, so the choice errs towards the daemon, never towards EIO.
 */
final class LocalOpens {
    private record Key(long dev, long ino) {}

    private static final class Node {
        Key passed;
        int passOpens;
        int daemonOpens;
    }

    private record Open(long nodeid, boolean passed) {}

    private final Map<Long, Node> nodes = new HashMap<>();
    private final Map<Long, Open> byHandle = new HashMap<>();

    /**
     * Records open {@code fh} of local file {@code f} on {@code nodeid}; true if it is to be a
     * passthrough open ({@code mayPass}: the mount passes through and the node has no open of the
     * cache layer).
     */
    synchronized boolean opened(long nodeid, long fh, LowerFile f, boolean mayPass) {
        Node n = nodes.computeIfAbsent(nodeid, k -> new Node());
        Key key = mayPass && n.daemonOpens == 0 ? keyOf(f) : null;
        boolean pass = key != null && (n.passOpens == 0 || key.equals(n.passed));
        if (pass) {
            n.passed = key;
            n.passOpens++;
        } else {
            n.daemonOpens++;
        }
        byHandle.put(fh, new Open(nodeid, pass));
        return pass;
    }

    /** Open {@code fh} was released (no-op for a handle not recorded here). */
    synchronized void released(long fh) {
        Open o = byHandle.remove(fh);
        if (o == null) {
            return;
        }
        Node n = nodes.get(o.nodeid());
        if (o.passed()) {
            n.passOpens--;
        } else {
            n.daemonOpens--;
        }
        if (n.passOpens == 0 && n.daemonOpens == 0) {
            nodes.remove(o.nodeid());
        }
    }

    /** Whether node {@code nodeid} has local opens now (an open through the cache layer must not mix with them). */
    synchronized boolean has(long nodeid) {
        return nodes.containsKey(nodeid);
    }

    private static Key keyOf(LowerFile f) {
        if (f.fd() < 0) {
            return null;
        }
        try {
            Stat st = Libc.fstat(f.fd());
            return st.isRegular() ? new Key(st.dev(), st.ino()) : null;
        } catch (ErrnoException e) {
            return null;
        }
    }
}
