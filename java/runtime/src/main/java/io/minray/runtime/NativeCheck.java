package io.minray.runtime;

import java.nio.charset.StandardCharsets;

/**
 * Smoke check of the bundled native library: loads it, calls it, compares the native checksum
 * with {@link Fnv1a32} and prints one line, e.g.
 * {@code minray-native OK linux/x86_64 version=0.1.0 checksum=1234}. Exits 1 on failure.
 *
 * <p>Run: {@code java -cp minray-runtime-VERSION.jar io.minray.runtime.NativeCheck}
 */
public final class NativeCheck {
  /** The bytes whose checksum is printed. */
  static final byte[] PROBE = "minray".getBytes(StandardCharsets.UTF_8);

  private NativeCheck() {}

  /**
   * @param args ignored
   */
  public static void main(String[] args) {
    String platform;
    try {
      platform = NativeLib.hostPlatformOs() + "/" + NativeLib.hostPlatformArch();
      NativeLib.load();
      String version = NativeLib.version();
      int nativeSum = NativeLib.checksum32(PROBE);
      int javaSum = Fnv1a32.hash(PROBE);
      if (nativeSum != javaSum) {
        System.err.println("minray-native FAILED " + platform + ": checksum32 returned "
            + Integer.toUnsignedString(nativeSum) + ", expected FNV-1a " + Integer.toUnsignedString(javaSum));
        System.exit(1);
      }
      String checksum = Integer.toUnsignedString(nativeSum);
      System.out.println("minray-native OK " + platform + " version=" + version + " checksum=" + checksum);
    } catch (UnsatisfiedLinkError | UnsupportedOperationException e) {
      System.err.println("minray-native FAILED: " + e.getMessage());
      System.exit(1);
    }
  }
}
