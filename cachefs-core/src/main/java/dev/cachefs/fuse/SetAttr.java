package dev.cachefs.fuse;

/**
 * What a SETATTR asks to change: only the fields whose {@code Fuse.FATTR_*} bit is set in
 * {@code valid} mean anything. {@code fh} is the open file's handle when FATTR_FH is set (ftruncate,
 * futimens), else -1.
 */
public record SetAttr(int valid, long fh, long size, long atimeSec, int atimeNsec, long mtimeSec,
                      int mtimeNsec, int mode, int uid, int gid) {
    public boolean has(int bit) {
        return (valid & bit) != 0;
    }
}
