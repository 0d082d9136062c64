package io.minray.runtime;

/**
 * Pure-Java 32-bit FNV-1a, the algorithm of the C library's {@code minray_checksum32}; used to
 * check the native library's answers.
 */
public final class Fnv1a32 {
  private static final int OFFSET_BASIS = 0x811C9DC5;
  private static final int PRIME = 0x01000193;

  private Fnv1a32() {}

  /**
   * @param data the bytes
   * @return the 32-bit FNV-1a hash, as a (possibly negative) int
   */
  public static int hash(byte[] data) {
    int h = OFFSET_BASIS;
    for (byte b : data) {
      h = (h ^ (b & 0xFF)) * PRIME;
    }
    return h;
  }
}
