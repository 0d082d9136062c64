package io.minray.runtime;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertThrows;
import static org.junit.Assume.assumeTrue;

import java.nio.charset.StandardCharsets;
import org.junit.Test;

public class NativeLibTest {
  @Test
  public void normalisesOs() {
    assertEquals("linux", NativeLib.normalizeOs("Linux"));
    assertEquals("darwin", NativeLib.normalizeOs("Mac OS X"));
    assertThrows(UnsupportedOperationException.class, () -> NativeLib.normalizeOs("Windows 10"));
  }

  @Test
  public void normalisesArch() {
    assertEquals("x86_64", NativeLib.normalizeArch("amd64"));
    assertEquals("x86_64", NativeLib.normalizeArch("x86_64"));
    assertEquals("aarch64", NativeLib.normalizeArch("aarch64"));
    assertEquals("aarch64", NativeLib.normalizeArch("arm64"));
    assertThrows(UnsupportedOperationException.class, () -> NativeLib.normalizeArch("ppc64le"));
  }

  @Test
  public void resourcePaths() {
    assertEquals("native/linux/x86_64/libminray_jni.so", NativeLib.resourcePath("linux", "x86_64"));
    assertEquals("native/linux/aarch64/libminray_jni.so", NativeLib.resourcePath("linux", "aarch64"));
    assertEquals("native/darwin/aarch64/libminray_jni.dylib", NativeLib.resourcePath("darwin", "aarch64"));
  }

  /** Runs only when the library was staged into the resources (see java/README.md). */
  @Test
  public void bundledLibraryLoadsAndComputes() {
    if (!NativeLib.isBundled()) {
      System.out.println("NativeLibTest: SKIPPED native calls: " + NativeLib.hostResourcePath()
          + " is not staged in the runtime resources");
    }
    assumeTrue("native library not staged: " + NativeLib.hostResourcePath(), NativeLib.isBundled());
    NativeLib.load();
    assertFalse(NativeLib.version().isEmpty());
    byte[] data = "minray".getBytes(StandardCharsets.UTF_8);
    assertEquals(Fnv1a32.hash(data), NativeLib.checksum32(data));
    assertEquals(Fnv1a32.hash(new byte[0]), NativeLib.checksum32(new byte[0]));
    byte[] all = new byte[256];
    for (int i = 0; i < all.length; i++) {
      all[i] = (byte) i;
    }
    assertEquals(Fnv1a32.hash(all), NativeLib.checksum32(all));
    assertThrows(NullPointerException.class, () -> NativeLib.checksum32(null));
  }
}
