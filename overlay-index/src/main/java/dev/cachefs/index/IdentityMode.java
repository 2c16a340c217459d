package dev.cachefs.index;

/** How lower objects are identified: by file handle, by path plus fingerprint, or detected. */
public enum IdentityMode {
    AUTO, HANDLE, PATH;

    public static IdentityMode parse(String s) {
        return switch (s.toLowerCase(java.util.Locale.ROOT)) {
            case "auto" -> AUTO;
            case "handle" -> HANDLE;
            case "path" -> PATH;
            default -> throw new IllegalArgumentException("identity must be auto, handle or path, not '" + s + "'");
        };
    }
}
