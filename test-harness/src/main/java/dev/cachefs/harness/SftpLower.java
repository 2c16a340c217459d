package dev.cachefs.harness;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * OpenSSH's sshd in the namespace and sshfs on this host, with reconnect and keepalives so that a
 * cut link gives errors after about two seconds instead of hanging (Debian: openssh-server, sshfs).
 */
public final class SftpLower extends NetworkLower {
    SftpLower() {
        super("sftp");
    }

    @Override
    public String name() {
        return "sftp";
    }

    /**
     * A directory inside the mount, not the mount point itself: if sshfs exits (it does when a
     * reconnect fails), the path is gone instead of silently leading to the empty directory under it.
     */
    @Override
    public Path root() {
        return mnt.resolve(export.getFileName());
    }

    @Override
    public Set<Capability> capabilities() {
        // SFTP v3: no xattrs, no mknod, no fallocate or SEEK_DATA, whole-second times, made-up inodes.
        return EnumSet.of(Capability.HARD_LINKS, Capability.CHOWN, Capability.UNIX_MODES, Capability.APPEND, Capability.READ_WRITE_OPEN, Capability.UNLINKED_OPEN_FILES, Capability.RAW_NAMES, Capability.LONG_NAMES, Capability.WRITE_IN_PLACE);
    }

    private Path key() {
        return dir.resolve("client-key");
    }

    /** The client's private key (for another SFTP client of the same server: the benchmark's rclone). */
    public Path keyFile() {
        return key();
    }

    /** The server's address (port 22, through the namespace's shaping and delay). */
    public String host() {
        return ns.serverAddr();
    }

    @Override
    protected void configure() throws Exception {
        Sh.run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", dir.resolve("host-key").toString());
        Sh.run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key().toString());
        Files.copy(dir.resolve("client-key.pub"), dir.resolve("authorized_keys"));
        // sshd's privilege-separation directory: sshd refuses one that is group or world writable,
        // and a directory made by this JVM after Mounts set its umask to 0 would be 0777
        Path privsep = Files.createDirectories(Path.of("/run/sshd"));
        Files.setPosixFilePermissions(privsep, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.writeString(dir.resolve("sshd_config"), String.join("\n",
                "HostKey " + dir.resolve("host-key"),
                "PidFile none",
                "ListenAddress 127.0.0.1:22",
                "UsePAM no",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PermitRootLogin prohibit-password",
                "AuthorizedKeysFile " + dir.resolve("authorized_keys"),
                "StrictModes no",
                "UseDNS no",
                "Subsystem sftp internal-sftp",
                ""));
    }

    @Override
    protected List<Integer> relayedPorts() {
        return List.of(22);
    }

    @Override
    protected void startServerProcesses() throws Exception {
        Proc sshd = startInNamespace("sshd", List.of("/usr/sbin/sshd", "-D", "-e", "-f", dir.resolve("sshd_config").toString()), Map.of());
        awaitListening(sshd, 22);
    }

    @Override
    protected void mountClient() throws Exception {
        startClient("sshfs", List.of("sshfs", "-f", "root@" + ns.serverAddr() + ":" + export.getParent(), mnt.toString(), "-o",
                "IdentityFile=" + key() + ",UserKnownHostsFile=" + dir.resolve("known_hosts")
                        + ",StrictHostKeyChecking=accept-new,Ciphers=aes128-gcm@openssh.com,BatchMode=yes"
                        + ",reconnect,ServerAliveInterval=1,ServerAliveCountMax=2,ConnectTimeout=3,allow_other"),
                Map.of());
    }
}
