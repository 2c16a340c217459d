package dev.cachefs.index;

/** A present chunk of an object's data: its index (offset / chunk size), length and CRC32C. */
public record Chunk(long index, int length, int crc) {}
