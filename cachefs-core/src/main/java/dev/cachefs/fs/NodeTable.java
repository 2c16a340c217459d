package dev.cachefs.fs;

import dev.cachefs.fuse.Fuse;
import dev.cachefs.nativeio.Errno;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.RawPath;
import dev.cachefs.nativeio.Stat;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The kernel's node ids and what they stand for on the lower: a node is one lower object (by
 * device and inode number, so hard links share a node), known by the names (parent node + name)
 * under which the kernel found it. A node's path is found by walking the first name's parents, so
 * renaming a directory renames its subtree for free, and when one name of a hard-linked file goes,
 * the others still lead to it.
 *
 * <p>Locking: every field of every {@link Node} and all maps are guarded by {@code this}. Methods
 * are short and never call the lower while holding the lock.
 */
final class NodeTable {
    /** One name of a node: a directory node and a name in it. */
    private record Alias(Node parent, String name) {}

    private record ChildKey(long parent, String name) {}

    private record Key(long dev, long ino) {}

    /** A lower object the kernel holds references to. */
    static final class Node {
        final long id;
        final long dev;
        final long ino;
        /** Names under which the kernel knows this node, preferred first. Guarded by the table. */
        final List<Alias> names = new ArrayList<>(1);
        /** The last name it had, kept when all names are gone (an unlinked open file). */
        Alias lastName;
        long lookups;
        /** The version the kernel was last given (size, mtime, ctime), or null: it may be holding it. */
        Stat told;

        Node(long id, long dev, long ino) {
            this.id = id;
            this.dev = dev;
            this.ino = ino;
        }
    }

    private final Map<Long, Node> byId = new HashMap<>();
    private final Map<Key, Node> byKey = new HashMap<>();
    private final Map<ChildKey, Node> byName = new HashMap<>();
    private final Node root;
    private long nextId = Fuse.ROOT_ID + 1;

    NodeTable(Stat rootStat) {
        root = new Node(Fuse.ROOT_ID, rootStat.dev(), rootStat.ino());
        root.lookups = 1;
        byId.put(root.id, root);
        byKey.put(new Key(root.dev, root.ino), root);
    }

    synchronized Node get(long id) throws ErrnoException {
        Node n = byId.get(id);
        if (n == null) {
            throw new ErrnoException(Errno.ESTALE, "unknown node " + id);
        }
        return n;
    }

    /** The lower path of a node ("" for the root). */
    synchronized String path(long id) throws ErrnoException {
        return pathOf(get(id));
    }

    /** The nodes at {@code path} and (with {@code under}) below it, with their paths. */
    synchronized Map<Long, String> at(String path, boolean under) {
        Map<Long, String> out = new java.util.LinkedHashMap<>();
        String prefix = path.isEmpty() ? "" : path + "/";
        for (Node n : byId.values()) {
            String p = pathOf(n);
            if (p.equals(path) || (under && p.startsWith(prefix))) {
                out.put(n.id, p);
            }
        }
        return out;
    }

    /** The lower path of {@code name} in directory node {@code parent}. */
    synchronized String childPath(long parent, String name) throws ErrnoException {
        return RawPath.child(pathOf(get(parent)), name);
    }

    private String pathOf(Node n) {
        if (n == root) {
            return "";
        }
        StringBuilder sb = new StringBuilder(64);
        build(n, sb, 0);
        return sb.toString();
    }

    private void build(Node n, StringBuilder sb, int depth) {
        Alias a = n.names.isEmpty() ? n.lastName : n.names.get(0);
        if (a == null || depth > 4096) {
            return;
        }
        if (a.parent() != root) {
            build(a.parent(), sb, depth + 1);
            sb.append('/');
        }
        sb.append(a.name());
    }

    private void bind(Node n, Node parent, String name) {
        ChildKey ck = new ChildKey(parent.id, name);
        Node old = byName.put(ck, n);
        if (old != null && old != n) {
            dropAlias(old, parent, name);
        }
        Alias a = new Alias(parent, name);
        n.names.remove(a);
        n.names.add(0, a);
        n.lastName = a;
    }

    private static void dropAlias(Node n, Node parent, String name) {
        n.names.removeIf(a -> a.parent() == parent && a.name().equals(name));
    }

    /**
     * Records one more kernel reference to the object {@code st} found as {@code name} in
     * {@code parent}; returns its node id.
     */
    synchronized long remember(long parent, String name, Stat st) throws ErrnoException {
        Node p = get(parent);
        Key key = new Key(st.dev(), st.ino());
        Node n = byKey.get(key);
        if (n == root) {
            return root.id; // a lower that loops back to its root keeps the root's identity
        }
        if (n != null && (st.isDirectory() || st.nlink() <= 1) && !n.names.isEmpty()
                && n.names.stream().noneMatch(a -> a.parent() == p && a.name().equals(name))) {
            // One link, yet known under another name: not a hard link but an inode number used
            // again (the old object went; an upload replaced a file): a node of its own, or the
            // kernel would serve one file's pages for the other.
            n = null;
        }
        if (n == null) {
            n = new Node(nextId++, st.dev(), st.ino());
            byId.put(n.id, n);
            byKey.put(key, n);
        }
        bind(n, p, name);
        n.lookups++;
        n.told = st;
        return n.id;
    }

    /** The kernel was given {@code st} for node {@code id}. */
    synchronized void told(long id, Stat st) {
        Node n = byId.get(id);
        if (n != null) {
            n.told = st;
        }
    }

    /**
     * Whether the kernel may hold attributes of node {@code id} of another version than
     * {@code now} (size, times or mode differ): it must then be told to drop them.
     */
    synchronized boolean toldOtherThan(long id, Stat now) {
        Node n = byId.get(id);
        Stat o = n == null ? null : n.told;
        return o != null && (o.size() != now.size() || o.mtimeNsTotal() != now.mtimeNsTotal()
                || o.ctimeSec() != now.ctimeSec() || o.ctimeNsec() != now.ctimeNsec() || o.mode() != now.mode());
    }

    /** The kernel dropped {@code count} references; true if that was the last (the node is gone). */
    synchronized boolean forget(long id, long count) {
        Node n = byId.get(id);
        if (n == null || n == root) {
            return false;
        }
        n.lookups -= count;
        if (n.lookups <= 0) {
            byId.remove(id);
            byKey.remove(new Key(n.dev, n.ino), n);
            for (Alias a : n.names) {
                byName.remove(new ChildKey(a.parent().id, a.name()), n);
            }
            n.names.clear();
            return true;
        }
        return false;
    }

    /** {@code name} in {@code parent} was removed (unlink, rmdir); the node it named, or 0. */
    synchronized long removed(long parent, String name) {
        Node n = byName.remove(new ChildKey(parent, name));
        if (n != null) {
            Node p = byId.get(parent);
            dropAlias(n, p, name);
            return n.id;
        }
        return 0;
    }

    /**
     * A rename on the lower succeeded; {@code exchange}: the two names swapped their objects.
     * Returns the node the rename replaced (0 if none, or an exchange).
     */
    synchronized long renamed(long parent, String name, long newParent, String newName, boolean exchange)
            throws ErrnoException {
        Node p = get(parent);
        Node np = get(newParent);
        Node moving = byName.remove(new ChildKey(parent, name));
        Node displaced = byName.remove(new ChildKey(newParent, newName));
        if (moving != null) {
            dropAlias(moving, p, name);
        }
        if (displaced != null) {
            dropAlias(displaced, np, newName);
        }
        if (moving != null) {
            bind(moving, np, newName);
        }
        if (exchange && displaced != null) {
            bind(displaced, p, name);
        }
        return !exchange && displaced != null && displaced != moving ? displaced.id : 0;
    }

    /** The node named {@code name} in {@code parent}, or 0 if the kernel does not know one. */
    synchronized long lookupChild(long parent, String name) {
        Node n = byName.get(new ChildKey(parent, name));
        return n == null ? 0 : n.id;
    }

    synchronized int size() {
        return byId.size();
    }
}
