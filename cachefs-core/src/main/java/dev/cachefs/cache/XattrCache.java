package dev.cachefs.cache;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import dev.cachefs.nativeio.Errno;
import dev.cachefs.nativeio.ErrnoException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Extended attribute values (not lists) served from memory for the attribute timeout: the kernel caches none of
 * them, so without this every getxattr (ls -l asks for ACLs and security labels of each file) is
 * a lower round trip, and a value read is two (size, then bytes). A miss reads the size and the
 * value once; "no such attribute" and "not supported" are remembered too. Changes through the mount
 * (setxattr, removexattr, chmod, renames and removals) drop what they touch.
 */
public final class XattrCache {
    /** The lower's answer: bytes, or the errno it failed with. */
    private record Value(byte[] bytes, int errno) {}

    /** The largest value Linux allows (XATTR_SIZE_MAX). */
    private static final int MAX = 65536;

    private final Cache<String, Map<String, Value>> values;
    private final CacheStats stats;
    private final ThreadLocal<MemorySegment> buffers = ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(MAX));

    /** The lower call a miss makes: fill {@code dst}, return the length. */
    public interface Reader {
        int read(MemorySegment dst) throws ErrnoException;
    }

    public XattrCache(long ttlNs, CacheStats stats) {
        Duration ttl = Duration.ofNanos(Math.max(1, ttlNs));
        this.values = Caffeine.newBuilder().executor(Runnable::run).expireAfterWrite(ttl).maximumSize(100_000).build();
        this.stats = stats;
    }

    public int get(String path, String name, MemorySegment dst, Reader lower) throws ErrnoException {
        Map<String, Value> m = values.get(path, k -> new ConcurrentHashMap<>());
        Value v = m.get(name);
        if (v == null) {
            stats.metaMisses.increment();
            v = load(lower);
            if (v == null) {
                return lower.read(dst);
            }
            m.put(name, v);
        } else {
            stats.metaHits.increment();
        }
        return answer(v, dst);
    }

    /** The lower's answer, or null when it cannot be cached (ask the lower with the caller's buffer). */
    private Value load(Reader lower) throws ErrnoException {
        MemorySegment buf = buffers.get();
        try {
            // Size first, then exactly that much: asking some lowers for far more than the value
            // breaks them (smbnetfs answers EIO to a 64 KiB listxattr, and to everything after).
            int size = lower.read(MemorySegment.NULL);
            int n;
            try {
                n = size == 0 ? 0 : lower.read(buf.asSlice(0, Math.min(MAX, size)));
            } catch (ErrnoException e) {
                if (e.errno() != Errno.ERANGE) {
                    throw e;
                }
                return null; // it grew meanwhile, or the lower's sizes do not add up (smbnetfs): do not cache
            }
            return new Value(buf.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE), 0);
        } catch (ErrnoException e) {
            if (e.errno() == Errno.ENODATA || e.errno() == Errno.EOPNOTSUPP) {
                return new Value(null, e.errno());
            }
            throw e; // not an answer about the attribute: ask again next time
        }
    }

    private static int answer(Value v, MemorySegment dst) throws ErrnoException {
        if (v.errno() != 0) {
            throw new ErrnoException(v.errno());
        }
        return copyOut(v.bytes(), dst);
    }

    /**
     * An xattr value (or name list) answered as getxattr(2) does: its size for an empty buffer,
     * ERANGE for one too small, else copied in.
     */
    public static int copyOut(byte[] v, MemorySegment dst) throws ErrnoException {
        if (dst.byteSize() == 0) {
            return v.length;
        }
        if (dst.byteSize() < v.length) {
            throw new ErrnoException(Errno.ERANGE);
        }
        MemorySegment.copy(v, 0, dst, ValueLayout.JAVA_BYTE, 0, v.length);
        return v.length;
    }

    /** The attributes of {@code path} changed through the mount. */
    public void drop(String path) {
        values.invalidate(path);
    }

    /** {@code path} and everything under it moved or went away. */
    public void dropUnder(String path) {
        String prefix = path + "/";
        values.asMap().keySet().removeIf(k -> k.equals(path) || k.startsWith(prefix));
    }
}
