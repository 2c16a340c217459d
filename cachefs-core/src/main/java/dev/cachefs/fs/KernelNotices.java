package dev.cachefs.fs;

import dev.cachefs.fuse.FuseConnection;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the kernel is told to forget: a node's pages and attributes, a name in a directory. Sent
 * from a thread of its own, outside the request that finds them needed: a notification about an
 * inode the kernel holds locked for that very request would wait for it (no deadlock on its own
 * inode).
 */
final class KernelNotices {
    private static final Logger log = LoggerFactory.getLogger(KernelNotices.class);
    private final NodeTable nodes;
    private final ExecutorService notifier =
            Executors.newSingleThreadExecutor(r -> Thread.ofPlatform().daemon().name("cachefs-notify").unstarted(r));
    private volatile FuseConnection connection;

    KernelNotices(NodeTable nodes) {
        this.nodes = nodes;
    }

    void connect(FuseConnection c) {
        this.connection = c;
    }

    /** The kernel connection, or null before INIT. */
    FuseConnection connection() {
        return connection;
    }

    /** The kernel drops node {@code nodeid}'s pages and attributes, soon (not waited for). */
    boolean dropData(long nodeid) {
        FuseConnection c = connection;
        if (c == null) {
            return false;
        }
        try {
            notifier.execute(() -> c.invalidateInode(nodeid, 0, 0));
            return true;
        } catch (RejectedExecutionException e) {
            return false; // unmounting
        }
    }

    /**
     * The kernel forgets the pages and attributes of {@code inodes} and the names {@code names}
     * (under each node of their directory); returns once it has been told, 5 s per notification
     * at most. Call it on no FUSE request thread.
     */
    void forget(Collection<Long> inodes, Collection<String> names) {
        FuseConnection c = connection;
        if (c == null) {
            return;
        }
        List<Future<?>> sent = new ArrayList<>();
        for (long id : inodes) {
            sent.add(notifier.submit(() -> c.invalidateInode(id, 0, 0)));
        }
        for (String rel : names) {
            if (rel.isEmpty()) {
                continue;
            }
            int slash = rel.lastIndexOf('/');
            Map<Long, String> parent = nodes.at(slash < 0 ? "" : rel.substring(0, slash), false);
            String name = rel.substring(slash + 1);
            for (long p : parent.keySet()) {
                sent.add(notifier.submit(() -> c.invalidateEntry(p, name)));
            }
        }
        for (var f : sent) {
            try {
                f.get(5, TimeUnit.SECONDS);
            } catch (ExecutionException | TimeoutException ex) {
                log.debug("kernel invalidation: {}", ex.toString());
            } catch (InterruptedException ex) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    void shutdown() {
        notifier.shutdown();
    }
}
