package dev.cachefs.fs;

import dev.cachefs.fuse.Fuse;
import dev.cachefs.nativeio.Errno;
import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.RawPath;
import dev.cachefs.nativeio.Stat;
import java.util.HashMap;
import java.util.Map;

/**
 * The kernel's node ids and what they stand for on the lower: a node is one lower object (by
 * device and inode number, so hard links share a node), known by its parent node and name. The
 * path of a node is found by walking parents, so renaming a directory renames its subtree for free.
 *
 * <p>Locking: every field of every {@link Node} and both maps are guarded by {@code this}. All
 * methods are short and never call the lower while holding the lock.
 */
final class NodeTable {
    /** A lower object the kernel holds references to. */
    static final class Node {
        final long id;
        final long dev;
        final long ino;
        Node parent; // guarded by the table
        String name; // guarded by the table
        long lookups; // guarded by the table

        Node(long id, long dev, long ino, Node parent, String name) {
            this.id = id;
            this.dev = dev;
            this.ino = ino;
            this.parent = parent;
            this.name = name;
        }
    }

    private record Key(long dev, long ino) {}

    private final Map<Long, Node> byId = new HashMap<>();
    private final Map<Key, Node> byKey = new HashMap<>();
    private final Node root;
    private long nextId = Fuse.ROOT_ID + 1;

    NodeTable(Stat rootStat) {
        root = new Node(Fuse.ROOT_ID, rootStat.dev(), rootStat.ino(), null, "");
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

    /** The lower path of {@code name} in directory node {@code parent}. */
    synchronized String childPath(long parent, String name) throws ErrnoException {
        return RawPath.child(pathOf(get(parent)), name);
    }

    private String pathOf(Node n) {
        if (n.parent == null) {
            return n.name;
        }
        StringBuilder sb = new StringBuilder(64);
        build(n, sb);
        return sb.toString();
    }

    private void build(Node n, StringBuilder sb) {
        if (n.parent != null && n.parent.parent != null) {
            build(n.parent, sb);
            sb.append('/');
        }
        sb.append(n.name);
    }

    /**
     * Records one more kernel reference to the object {@code st} found as {@code name} in
     * {@code parent}; returns its node id. The node's name moves to this one (for hard links,
     * the most recently looked up name is the one used).
     */
    synchronized long remember(long parent, String name, Stat st) throws ErrnoException {
        Node p = get(parent);
        Key key = new Key(st.dev(), st.ino());
        Node n = byKey.get(key);
        if (n == null || n == root) {
            if (n == root) {
                return root.id; // a lower that loops back to its root; keep the root's identity
            }
            n = new Node(nextId++, st.dev(), st.ino(), p, name);
            byId.put(n.id, n);
            byKey.put(key, n);
        } else {
            n.parent = p;
            n.name = name;
        }
        n.lookups++;
        return n.id;
    }

    /** The kernel dropped {@code count} references. */
    synchronized void forget(long id, long count) {
        Node n = byId.get(id);
        if (n == null || n == root) {
            return;
        }
        n.lookups -= count;
        if (n.lookups <= 0) {
            byId.remove(id);
            byKey.remove(new Key(n.dev, n.ino), n);
        }
    }

    /** After a rename on the lower: the object found at the new name now lives there. */
    synchronized void moved(long newParent, String newName, Stat st) throws ErrnoException {
        Node n = byKey.get(new Key(st.dev(), st.ino()));
        if (n != null && n != root) {
            n.parent = get(newParent);
            n.name = newName;
        }
    }

    synchronized int size() {
        return byId.size();
    }
}
