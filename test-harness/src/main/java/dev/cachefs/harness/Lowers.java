package dev.cachefs.harness;

import java.util.List;

/** Starts lowers by name; each start skips the test, with the reason, where it cannot run here. */
public final class Lowers {
    private Lowers() {}

    /** Every kind, local first. */
    public static final List<String> ALL = List.of("local", "sftp", "nfs", "smb");

    public static Lower start(String kind) {
        if (!kind.equals("local") && ALL.contains(kind)) {
            Harness.requireRoot("a server in a network namespace");
        }
        return switch (kind) {
            case "local" -> new LocalLower(Harness.newDir("local"));
            case "sftp" -> {
                Harness.requireProgram("/usr/sbin/sshd", "openssh-server");
                Harness.requireProgram("sshfs", "sshfs");
                yield started(new SftpLower());
            }
            case "nfs" -> {
                Harness.requireProgram("ganesha.nfsd", "nfs-ganesha nfs-ganesha-vfs");
                Harness.requireProgram("rpcbind", "rpcbind");
                Harness.requireProgram("/usr/libexec/gvfsd-fuse", "gvfs-fuse");
                Harness.requireProgram("/usr/libexec/gvfsd-nfs", "gvfs-backends");
                Harness.requireProgram("dbus-daemon", "dbus");
                Harness.requireProgram("gio", "libglib2.0-bin");
                yield started(new NfsLower());
            }
            case "smb" -> {
                Harness.requireProgram("smbd", "samba");
                Harness.requireProgram("smbpasswd", "samba");
                Harness.requireProgram("smbnetfs", "smbnetfs");
                yield started(new SmbLower());
            }
            default -> throw new IllegalArgumentException("no lower called '" + kind + "'; known: " + ALL);
        };
    }

    private static NetworkLower started(NetworkLower l) {
        l.start();
        return l;
    }
}
