package dev.cachefs.harness;

import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Libc;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A long-running process the harness started (a server, a FUSE client), known by PID. It is
 * recorded on disk with its start time, so that a later run can end it if this JVM died before
 * it could, without ever touching a process it did not start (a reused PID has another start time).
 * Signals go to the whole tree: smbd and gvfsd serve from children.
 */
public final class Proc implements AutoCloseable {
    public static final int SIGKILL = 9;
    public static final int SIGTERM = 15;
    public static final int SIGSTOP = 19;
    public static final int SIGCONT = 18;

    private final String name;
    private final Process process;
    private final Path log;
    private final Path record;

    private Proc(String name, Process process, Path log, Path record) {
        this.name = name;
        this.process = process;
        this.log = log;
        this.record = record;
    }

    /** Starts {@code cmd} with its output in {@code log}. */
    public static Proc start(String name, List<String> cmd, Path log, Map<String, String> env) {
        try {
            // A session of its own: smbd, for one, signals its whole process group when it exits,
            // which would otherwise be this JVM's and the shell's that started it.
            List<String> all = new java.util.ArrayList<>(List.of("setsid"));
            all.addAll(cmd);
            ProcessBuilder pb = new ProcessBuilder(all).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
            pb.environment().putAll(env);
            Process p = pb.start();
            Path rec = Harness.procDir().resolve(Long.toString(p.pid()));
            Files.writeString(rec, startTime(p.pid()) + " " + String.join(" ", cmd) + "\n");
            return new Proc(name, p, log, rec);
        } catch (IOException e) {
            throw new HarnessException("cannot start " + name + " (" + cmd.get(0) + "): " + e.getMessage(), e);
        }
    }

    public long pid() {
        return process.pid();
    }

    public boolean alive() {
        return process.isAlive();
    }

    public String name() {
        return name;
    }

    /** The last lines of its log, for error messages. */
    public String tail() {
        try {
            List<String> lines = Files.readAllLines(log, StandardCharsets.ISO_8859_1);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 15), lines.size()));
        } catch (IOException e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }

    /** Fails with the log when the process has already exited. */
    public void checkAlive() {
        if (!process.isAlive()) {
            throw new HarnessException(name + " exited with " + process.exitValue() + ":\n" + tail());
        }
    }

    /** Sends {@code sig} to the process and all its descendants. */
    public void signalTree(int sig) {
        signalTree(pid(), sig);
    }

    static void signalTree(long root, int sig) {
        signal(tree(root), sig);
    }

    /** Sends {@code sig} to each of {@code pids}; ones that are gone meanwhile are skipped. */
    static void signal(List<Long> pids, int sig) {
        for (long p : pids) {
            try {
                Libc.kill((int) p, sig);
            } catch (ErrnoException ignored) {
                // gone meanwhile
            }
        }
    }

    /** Ends the tree: SIGTERM, then SIGKILL after {@code graceMs}; waits for the process itself. */
    public void stop(long graceMs) {
        if (process.isAlive()) {
            List<Long> all = tree(pid());
            signalTree(SIGCONT); // a paused server cannot act on SIGTERM
            signalTree(SIGTERM);
            try {
                if (!process.waitFor(graceMs, TimeUnit.MILLISECONDS)) {
                    signal(all, SIGKILL);
                    process.waitFor(10, TimeUnit.SECONDS);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            signal(all, SIGKILL); // children that outlived the parent
        }
        try {
            Files.deleteIfExists(record);
        } catch (IOException ignored) {
            // the sweep will find a dead PID and drop the record
        }
    }

    /** Kills at once, like a crash: SIGKILL to the tree. */
    public void kill() {
        List<Long> all = tree(pid());
        signal(all, SIGCONT);
        signal(all, SIGKILL);
        try {
            process.waitFor(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        stop(0);
    }

    @Override
    public void close() {
        stop(3000);
    }

    /** The process and its descendants, parents first. */
    static List<Long> tree(long root) {
        Map<Long, List<Long>> children = new HashMap<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(Path.of("/proc"), "[0-9]*")) {
            for (Path p : ds) {
                long ppid = parentOf(Long.parseLong(p.getFileName().toString()));
                if (ppid > 0) {
                    children.computeIfAbsent(ppid, k -> new ArrayList<>()).add(Long.parseLong(p.getFileName().toString()));
                }
            }
        } catch (IOException e) {
            // /proc unreadable: only the root
        }
        List<Long> out = new ArrayList<>();
        Deque<Long> todo = new ArrayDeque<>(List.of(root));
        while (!todo.isEmpty()) {
            long p = todo.poll();
            out.add(p);
            todo.addAll(children.getOrDefault(p, List.of()));
        }
        return out;
    }

    private static String[] statFields(long pid) {
        try {
            String s = Files.readString(Path.of("/proc", Long.toString(pid), "stat"), StandardCharsets.ISO_8859_1);
            return s.substring(s.lastIndexOf(')') + 2).trim().split(" "); // fields from 3 (state) on
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    private static long parentOf(long pid) {
        String[] f = statFields(pid);
        return f == null ? -1 : Long.parseLong(f[1]);
    }

    /** Field 22 of /proc/PID/stat (clock ticks since boot), or -1 when there is no such process. */
    static long startTime(long pid) {
        String[] f = statFields(pid);
        return f == null ? -1 : Long.parseLong(f[19]);
    }

    /** Ends a process recorded by an earlier run if it is still that very process; drops the record. */
    static String endRecorded(Path record) {
        String what = null;
        try {
            long pid = Long.parseLong(record.getFileName().toString());
            String[] line = Files.readString(record).split(" ", 2);
            long start = Long.parseLong(line[0]);
            if (startTime(pid) == start) {
                what = "process " + pid + " (" + line[1].strip() + ")";
                signalTree(pid, SIGCONT);
                signalTree(pid, SIGKILL);
            }
            Files.deleteIfExists(record);
        } catch (IOException | RuntimeException e) {
            // an unreadable record: leave it for a person to look at
        }
        return what;
    }
}
