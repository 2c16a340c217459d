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

    /** A caller that is no kernel request (a filesystem driven directly: unit tests, tools). */
    public static Ctx of(int uid, int gid, int pid) {
        Ctx c = new Ctx(null);
        c.uid = uid;
        c.gid = gid;
        c.pid = pid;
        return c;
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
