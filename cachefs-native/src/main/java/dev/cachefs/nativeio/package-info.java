/**
 * System calls through the FFM API ({@code Libc}: errno captured, no JNI), the values they give
 * ({@code Stat}, {@code StatVfs}, {@code FileHandles}), errno numbers and names ({@code Errno},
 * the only place they are written as literals) and the exception that carries them
 * ({@code ErrnoException}), and names as raw bytes ({@code RawPath}).
 *
 * <p>Uses nothing of the project. Used by every other module.
 */
package dev.cachefs.nativeio;
