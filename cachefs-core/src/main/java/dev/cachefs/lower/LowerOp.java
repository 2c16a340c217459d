package dev.cachefs.lower;

/**
 * Every call a lower takes that asks something of it (a round trip on a network lower): the
 * filesystem's own calls, then those of the files and directories it opens. {@code close},
 * {@code fd} is not among them: it asks nothing of a server.
 */
public enum LowerOp {
    STAT, READLINK, MKDIR, MKNOD, SYMLINK, UNLINK, RMDIR, RENAME, LINK, CHMOD, CHOWN, UTIMENS, TRUNCATE,
    ACCESS, STATFS, OPEN, OPENDIR, GETXATTR, LISTXATTR, SETXATTR, REMOVEXATTR,
    /** Calls on an open file. */
    READ, WRITE, FSTAT, FTRUNCATE, FSYNC, FLUSH, FALLOCATE, LSEEK, FCHOWN, FCHMOD,
    /** Calls on an open directory. */
    READDIR, SEEKDIR, FSYNCDIR
}
