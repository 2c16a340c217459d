package dev.cachefs.harness;

import java.nio.file.Path;
import java.util.Set;

/**
 * A lower filesystem for cachefs to stack over: a directory, usually on a real network mount,
 * with the controls a test needs to hurt it. Start it with {@link Lowers}; closing it takes down
 * the client mount, the servers and the namespace, whatever state they are in.
 */
public abstract class Lower implements AutoCloseable {
    /** What a lower can do, so that a test expects of it only what it supports. */
    public enum Capability {
        /** errno exactly as POSIX names it for every mistake (ENAMETOOLONG, ELOOP, ENOTEMPTY...). */
        POSIX_ERRNO,
        HARD_LINKS, SYMLINKS, XATTRS,
        /** mknod: fifos and device nodes. */
        SPECIAL_FILES,
        CHOWN,
        /** chmod is kept and reported back. */
        UNIX_MODES,
        NANOSECOND_TIMES,
        /** SEEK_DATA / SEEK_HOLE find holes. */
        SPARSE_SEEK,
        /** fallocate, hole punching included. */
        FALLOCATE,
        /** st_ino of a file stays the same while it exists. */
        STABLE_INODES,
        /** The server checks each local caller's own permissions (not all as one remote user). */
        PERMISSIONS_PER_CALLER,
        /** RENAME_EXCHANGE and RENAME_NOREPLACE are honoured, not ignored. */
        RENAME_FLAGS,
        /** O_APPEND writes go to the end. */
        APPEND,
        /** open(O_RDWR) works. */
        READ_WRITE_OPEN,
        /** A file stays usable through its open descriptors after its last name goes. */
        UNLINKED_OPEN_FILES,
        /** Names are bytes: invalid UTF-8 and control characters are kept. */
        RAW_NAMES,
        /** A 256-byte name gets an error and the client keeps working (smbnetfs does not: EIO ever after). */
        LONG_NAMES,
        /** Opening for writing without O_TRUNC keeps the content (gvfs's NFS client truncates). */
        WRITE_IN_PLACE,
        /**
         * Paths of about 4,000 bytes below the root work (sshd refuses them, as its own root plus
         * the path passes PATH_MAX; smbnetfs answers EIO to everything after one).
         */
        DEEP_PATHS
    }

    /** "local", "sftp", "nfs", "smb". */
    public abstract String name();

    /** The directory cachefs stacks over (empty when the lower starts), as the client sees it. */
    public abstract Path root();

    /** The same directory on the server's own disk, for changes made behind the client's back. */
    public abstract Path serverDir();

    public abstract Set<Capability> capabilities();

    public boolean can(Capability c) {
        return capabilities().contains(c);
    }

    /** Whether the controls below work (a plain directory has no link to cut). */
    public boolean isNetwork() {
        return false;
    }

    /** Takes the network link down; calls on the mount fail or stall until {@link #restoreLink}. */
    public void cutLink() {
        throw notNetwork("cut the link");
    }

    public void restoreLink() {
        throw notNetwork("restore the link");
    }

    /** SIGKILL to the server processes; clients see the connection drop. */
    public void killServer() {
        throw notNetwork("kill the server");
    }

    /** Starts the server again after {@link #killServer}, with the same export. */
    public void startServer() {
        throw notNetwork("start the server");
    }

    /** SIGSTOP to the server: connections stay up and calls hang, as on a wedged server. */
    public void pauseServer() {
        throw notNetwork("pause the server");
    }

    public void resumeServer() {
        throw notNetwork("resume the server");
    }

    /** Limits the link to {@code kbit} kilobits per second each way; 0 removes the limit. */
    public void bandwidth(long kbit) {
        throw notNetwork("limit bandwidth");
    }

    /** Adds {@code millis} to every round trip to the server; 0 removes it. */
    public void latency(long millis) {
        throw notNetwork("add latency");
    }

    private UnsupportedOperationException notNetwork(String what) {
        return new UnsupportedOperationException("the " + name() + " lower has no network: cannot " + what);
    }

    @Override
    public abstract void close();

    @Override
    public String toString() {
        return name() + " lower at " + root();
    }
}
