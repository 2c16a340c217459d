package dev.cachefs.fuse;

/**
 * Who sent the request being served. One instance per worker thread, refilled for each request:
 * a filesystem must not keep a reference to it past the call.
 */
public final class Ctx {
    long unique;
    int uid;
    int gid;
    int pid;
    private final FuseSession session;

    Ctx(FuseSession session) {
        this.session = session;
    }

    public long unique() { return unique; }
    public int uid() { return uid; }
    public int gid() { return gid; }
    public int pid() { return pid; }

    /** True once the kernel asked to interrupt this request (the caller got a signal). */
    public boolean interrupted() {
        return session != null && session.isInterrupted(unique);
    }
}
