package dev.cachefs.fuse;

import dev.cachefs.nativeio.ErrnoException;
import dev.cachefs.nativeio.Libc;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * A power cut, as SQLite's crash tests make one: an in-memory filesystem that remembers, per
 * file, what was last made durable (fsync or fdatasync) and the writes and truncations since.
 * {@link #imageAfterPowerCut} writes out what a disk could hold after the power went: the durable
 * content with each later change kept, dropped, or kept with its sectors garbled, seeded. Names
 * (create, rename, unlink, mkdir) count as durable at once, as on a journaling filesystem that
 * orders metadata; data is what this tests.
 */
public final class CrashFs extends MemFs {
    /** A change not yet made durable: a write of {@code data} at {@code offset}, or a truncation to {@code offset}. */
    private record Pending(long offset, byte[] data) {}

    private final Map<Long, byte[]> durable = new HashMap<>();
    private final Map<Long, List<Pending>> pending = new HashMap<>();
    private long writes;
    private long syncs;

    public CrashFs() {
        super();
    }

    @Override
    public synchronized int write(Ctx ctx, long nodeid, long fh, long offset, MemorySegment src, int writeFlags)
            throws ErrnoException {
        int n = super.write(ctx, nodeid, fh, offset, src, writeFlags);
        pending.computeIfAbsent(nodeid, k -> new ArrayList<>()).add(new Pending(offset, src.toArray(ValueLayout.JAVA_BYTE)));
        writes++;
        return n;
    }

    @Override
    public synchronized Attributes setattr(Ctx ctx, long nodeid, SetAttr c) throws ErrnoException {
        if (c.has(Fuse.FATTR_SIZE)) {
            pending.computeIfAbsent(nodeid, k -> new ArrayList<>()).add(new Pending(c.size(), null));
        }
        return super.setattr(ctx, nodeid, c);
    }

    @Override
    public OpenResult open(Ctx ctx, long nodeid, int flags) throws ErrnoException {
        if ((flags & Libc.O_TRUNC) != 0) {
            synchronized (this) {
                pending.computeIfAbsent(nodeid, k -> new ArrayList<>()).add(new Pending(0, null));
            }
        }
        return super.open(ctx, nodeid, flags);
    }

    @Override
    public synchronized void fsync(Ctx ctx, long nodeid, long fh, boolean dataOnly) throws ErrnoException {
        durable.put(nodeid, nodes.get(nodeid).data.clone());
        pending.remove(nodeid);
        syncs++;
    }

    @Override
    public void fsyncdir(Ctx ctx, long nodeid, long fh, boolean dataOnly) {
        // names are durable at once here
    }

    @Override
    public void flush(Ctx ctx, long nodeid, long fh, long lockOwner) {}

    @Override
    public void release(Ctx ctx, long nodeid, long fh, int flags) {}

    /** Writes and syncs seen so far. */
    public synchronized long[] counts() {
        return new long[] {writes, syncs};
    }

    /** What the fate of the changes not yet durable was, in a crash image. */
    public record Fates(int kept, int dropped, int garbled) {}

    /**
     * Writes into {@code dir} (an empty real directory) the tree as a disk could hold it after a
     * power cut now: per file the durable content, then each later change in order kept, dropped
     * or garbled (kept with a 512-byte sector of it overwritten by noise), chosen by {@code r}.
     */
    public synchronized Fates imageAfterPowerCut(Path dir, Random r) throws IOException {
        int[] fates = new int[3];
        write(Fuse.ROOT_ID, dir, r, fates);
        return new Fates(fates[0], fates[1], fates[2]);
    }

    private void write(long id, Path at, Random r, int[] fates) throws IOException {
        Node n = nodes.get(id);
        for (var e : n.children.entrySet()) {
            Node c = nodes.get(e.getValue());
            Path p = at.resolve(e.getKey());
            String perms = PosixFilePermissions.toString(PosixFilePermissions.fromString(modeString(c.mode)));
            if ((c.mode & Libc.S_IFMT) == Libc.S_IFDIR) {
                Files.createDirectory(p);
                write(c.id, p, r, fates);
            } else if ((c.mode & Libc.S_IFMT) == Libc.S_IFREG) {
                Files.write(p, afterCut(c.id, r, fates));
            } else {
                continue;
            }
            Files.setPosixFilePermissions(p, PosixFilePermissions.fromString(perms));
        }
    }

    private byte[] afterCut(long id, Random r, int[] fates) {
        byte[] data = durable.getOrDefault(id, new byte[0]).clone();
        for (Pending p : pending.getOrDefault(id, List.of())) {
            int fate = r.nextInt(3);
            fates[fate]++;
            if (fate == 1) {
                continue; // dropped: never reached the disk
            }
            if (p.data() == null) {
                data = Arrays.copyOf(data, (int) p.offset());
                continue;
            }
            int end = (int) p.offset() + p.data().length;
            if (end > data.length) {
                data = Arrays.copyOf(data, end);
            }
            System.arraycopy(p.data(), 0, data, (int) p.offset(), p.data().length);
            if (fate == 2) { // torn: a sector of it is noise
                int sector = (int) (p.offset() / 512 + r.nextInt(Math.max(1, p.data().length / 512 + 1))) * 512;
                for (int i = sector; i < Math.min(end, sector + 512); i++) {
                    data[i] = (byte) r.nextInt(256);
                }
            }
        }
        return data;
    }

    private static String modeString(int mode) {
        String rwx = "rwxrwxrwx";
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < 9; i++) {
            b.append((mode & (1 << (8 - i))) != 0 ? rwx.charAt(i) : '-');
        }
        return b.toString();
    }
}
