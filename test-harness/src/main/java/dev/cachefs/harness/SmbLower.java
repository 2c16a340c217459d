package dev.cachefs.harness;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Samba's smbd in the namespace (SMB2 and up, every state directory private) and smbnetfs on this
 * host (Debian: samba, smbclient, smbnetfs).
 */
public final class SmbLower extends NetworkLower {
    private static final String SECRET = "cachefs-harness";

    SmbLower() {
        super("smb");
    }

    @Override
    public String name() {
        return "smb";
    }

    @Override
    public Path root() {
        return mnt.resolve(ns == null ? "none" : ns.serverAddr()).resolve("share");
    }

    @Override
    public Set<Capability> capabilities() {
        return EnumSet.of(Capability.READ_WRITE_OPEN, Capability.WRITE_IN_PLACE);
    }

    @Override
    protected void configure() throws Exception {
        Path state = dir.resolve("state");
        for (String d : List.of("lock", "state", "cache", "private", "pid", "ncalrpc", "bind-dns")) {
            Files.createDirectories(state.resolve(d));
        }
        Files.writeString(dir.resolve("smb.conf"), String.join("\n",
                "[global]",
                "  disable netbios = yes",
                "  server min protocol = SMB2",
                "  smb ports = 445",
                "  interfaces = 127.0.0.1",
                "  bind interfaces only = yes",
                "  lock directory = " + state.resolve("lock"),
                "  state directory = " + state.resolve("state"),
                "  cache directory = " + state.resolve("cache"),
                "  private dir = " + state.resolve("private"),
                "  pid directory = " + state.resolve("pid"),
                "  ncalrpc dir = " + state.resolve("ncalrpc"),
                "  binddns dir = " + state.resolve("bind-dns"),
                "  log file = " + state.resolve("log.%m"),
                "  passdb backend = tdbsam:" + state.resolve("private/passdb.tdb"),
                "  load printers = no",
                "  printing = bsd",
                "  printcap name = /dev/null",
                "  disable spoolss = yes",
                "  map to guest = never",
                "[share]",
                "  path = " + export,
                "  read only = no",
                "  force user = root",
                ""));
        Sh.Result r = Sh.tryRun(java.time.Duration.ofSeconds(30), Map.of(), "sh", "-c",
                "printf '%s\\n%s\\n' \"$1\" \"$1\" | smbpasswd -c \"$2\" -s -a root", "sh", SECRET, dir.resolve("smb.conf").toString());
        if (!r.ok()) {
            throw new HarnessException("smbpasswd failed: " + r.output());
        }
        Path home = dir.resolve("home");
        Files.createDirectories(home.resolve(".smb"));
        Path conf = home.resolve(".smb/smbnetfs.conf");
        Files.writeString(conf, "");
        Files.setPosixFilePermissions(conf, PosixFilePermissions.fromString("rw-------"));
    }

    @Override
    protected List<Integer> relayedPorts() {
        return List.of(445);
    }

    @Override
    protected void startServerProcesses() throws Exception {
        Proc smbd = startInNamespace("smbd", List.of("smbd", "-F", "--no-process-group", "-s", dir.resolve("smb.conf").toString()), Map.of());
        awaitListening(smbd, 445);
    }

    @Override
    protected void mountClient() throws Exception {
        Path conf = dir.resolve("home/.smb/smbnetfs.conf");
        Files.writeString(conf, String.join("\n",
                "smb_query_browsers \"false\"",
                "use_libsecret \"false\"",
                "auth \"" + ns.serverAddr() + "\" \"root\" \"" + SECRET + "\"",
                ""));
        startClient("smbnetfs", List.of("smbnetfs", mnt.toString(), "-f", "-o", "config=" + conf + ",allow_other"),
                Map.of("HOME", dir.resolve("home").toString()));
    }
}
