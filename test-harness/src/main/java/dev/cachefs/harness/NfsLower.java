package dev.cachefs.harness;

import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.locks.ReentrantLock;

/**
 * NFS-Ganesha (VFS backend, NFSv3, with rpcbind) in the namespace, and gvfs's NFS backend (libnfs)
 * behind gvfsd-fuse on this host, on a private D-Bus session bus (Debian: nfs-ganesha,
 * nfs-ganesha-vfs, rpcbind, gvfs-backends, gvfs-fuse, dbus, libglib2.0-bin). This kernel has no NFS
 * client of its own. rpcbind's socket is a fixed path shared by every namespace, so only one NFS
 * lower runs at a time in a JVM.
 */
public final class NfsLower extends NetworkLower {
    private static final ReentrantLock ONE_AT_A_TIME = new ReentrantLock();
    private Proc rpcbind;
    private Path share;
    private boolean locked;

    NfsLower() {
        super("nfs");
    }

    @Override
    public String name() {
        return "nfs";
    }

    @Override
    public Path root() {
        if (share == null) {
            share = findShare();
        }
        return share == null ? mnt.resolve("missing") : share;
    }

    private Path findShare() {
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(mnt, "nfs:*")) {
            for (Path p : ds) {
                return p;
            }
        } catch (java.io.IOException e) {
            // not mounted yet
        }
        return null;
    }

    @Override
    public Set<Capability> capabilities() {
        return EnumSet.of(Capability.UNIX_MODES, Capability.RAW_NAMES, Capability.LONG_NAMES, Capability.DEEP_PATHS);
    }

    private Map<String, String> busEnv() {
        return Map.of("DBUS_SESSION_BUS_ADDRESS", "unix:path=" + dir.resolve("run/bus"),
                "XDG_RUNTIME_DIR", dir.resolve("run").toString(), "HOME", dir.toString());
    }

    @Override
    protected void configure() throws Exception {
        if (!ONE_AT_A_TIME.tryLock(60, java.util.concurrent.TimeUnit.SECONDS)) {
            throw new HarnessException("another NFS lower of this JVM holds rpcbind");
        }
        locked = true;
        Files.createDirectories(dir.resolve("recovery"));
        Files.createDirectories(dir.resolve("run"), PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        Files.writeString(dir.resolve("ganesha.conf"), String.join("\n",
                "NFS_CORE_PARAM { Protocols = 3; Enable_NLM = false; Enable_RQUOTA = false; Enable_UDP = false;",
                "  NFS_Port = 2049; MNT_Port = 20048; Bind_addr = 127.0.0.1;",
                "  Plugins_Dir = \"/usr/lib/x86_64-linux-gnu/ganesha\"; }",
                "NFS_KRB5 { Active_krb5 = false; }",
                "NFSV4 { Graceless = true; RecoveryRoot = \"" + dir.resolve("recovery") + "\"; }",
                "EXPORT { Export_Id = 1; Path = \"" + export + "\"; Pseudo = /export; Access_Type = RW;",
                "  Squash = No_Root_Squash; Transports = TCP; Protocols = 3; FSAL { Name = VFS; } }",
                ""));
    }

    @Override
    protected List<Integer> relayedPorts() {
        return List.of(2049, 20048);
    }

    @Override
    protected void startServerProcesses() throws Exception {
        if (rpcbind == null || !rpcbind.alive()) {
            rpcbind = startInNamespace("rpcbind", List.of("rpcbind", "-f", "-w"), Map.of());
            awaitListening(rpcbind, 111);
        }
        Proc ganesha = startInNamespace("ganesha", List.of("ganesha.nfsd", "-F", "-L", dir.resolve("ganesha-events.log").toString(),
                "-f", dir.resolve("ganesha.conf").toString(), "-p", dir.resolve("ganesha.pid").toString(), "-N", "NIV_EVENT"), Map.of());
        awaitListening(ganesha, 2049);
        awaitListening(ganesha, 20048);
    }

    @Override
    protected boolean serverRunning() {
        return servers.stream().anyMatch(p -> p != rpcbind && p.alive()) && rpcbind != null && rpcbind.alive();
    }

    @Override
    public void killServer() {
        for (Proc p : List.copyOf(servers)) {
            if (p != rpcbind) {
                p.kill();
                servers.remove(p);
            }
        }
        killStragglers(rpcbind == null ? List.of() : List.of(rpcbind.pid()));
    }

    @Override
    protected void mountClient() throws Exception {
        Map<String, String> env = busEnv();
        Proc bus = startClient("dbus", List.of("dbus-daemon", "--session", "--nofork", "--nopidfile",
                "--address=" + env.get("DBUS_SESSION_BUS_ADDRESS")), env);
        awaitTrue(Duration.ofSeconds(10), "the D-Bus session bus", () -> {
            bus.checkAlive();
            return Files.exists(dir.resolve("run/bus"));
        });
        startClient("gvfsd", List.of("/usr/libexec/gvfsd", "--no-fuse"), env);
        awaitTrue(Duration.ofSeconds(10), "gvfsd on the bus", () -> Sh.tryRun(Duration.ofSeconds(5), env,
                "gdbus", "call", "--session", "--dest", "org.freedesktop.DBus", "--object-path", "/org/freedesktop/DBus",
                "--method", "org.freedesktop.DBus.NameHasOwner", "org.gtk.vfs.Daemon").output().contains("true"));
        startClient("gvfsd-fuse", List.of("/usr/libexec/gvfsd-fuse", mnt.toString(), "-f", "-o", "allow_other"), env);
        awaitTrue(Duration.ofSeconds(10), "gvfsd-fuse to mount", () -> !Harness.mountsUnder(mnt).isEmpty());
        Sh.Result r = Sh.tryRun(Duration.ofSeconds(30), env, "gio", "mount", "nfs://" + ns.serverAddr() + export);
        if (!r.ok()) {
            throw new HarnessException("gio mount failed: " + r.output());
        }
    }

    @Override
    protected void unmountClient() {
        if (ns != null) {
            Sh.tryRun(Duration.ofSeconds(10), busEnv(), "gio", "mount", "-u", "nfs://" + ns.serverAddr() + export);
        }
        super.unmountClient();
    }

    @Override
    public void close() {
        try {
            super.close();
        } finally {
            rpcbind = null;
            if (locked) {
                locked = false;
                ONE_AT_A_TIME.unlock();
            }
        }
    }
}
