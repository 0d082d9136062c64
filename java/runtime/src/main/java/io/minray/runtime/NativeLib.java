package io.minray.runtime;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Locale;

/**
 * Loads the JNI library {@code libminray_jni} and exposes its native methods.
 *
 * <p>The library is looked up as the class-path resource {@code native/<os>/<arch>/<file>}
 * (see {@link #resourcePath(String, String)}), extracted to a temporary file and loaded with
 * {@link System#load(String)}, as Ray's runtime does. Setting the system property
 * {@code minray.native.lib} to a path loads that file instead.
 */
public final class NativeLib {
  /** Base name of the library, without the platform's prefix and suffix. */
  public static final String LIBRARY_NAME = "minray_jni";

  /** System property naming a library file to load instead of the bundled one. */
  public static final String OVERRIDE_PROPERTY = "minray.native.lib";

  private static volatile String loadedFrom;

  private NativeLib() {}

  /**
   * Normalises {@code os.name} to the directory name used in the JAR.
   *
   * @param osName a value of the {@code os.name} system property
   * @return {@code linux} or {@code darwin}
   * @throws UnsupportedOperationException for any other operating system
   */
  public static String normalizeOs(String osName) {
    String os = osName.toLowerCase(Locale.ROOT);
    if (os.startsWith("linux")) {
      return "linux";
    }
    if (os.startsWith("mac") || os.startsWith("darwin")) {
      return "darwin";
    }
    throw new UnsupportedOperationException(
        "minray native library: unsupported os.name '" + osName + "'; supported: linux, darwin");
  }

  /**
   * Normalises {@code os.arch} to the directory name used in the JAR.
   *
   * @param osArch a value of the {@code os.arch} system property
   * @return {@code x86_64} or {@code aarch64}
   * @throws UnsupportedOperationException for any other architecture
   */
  public static String normalizeArch(String osArch) {
    String arch = osArch.toLowerCase(Locale.ROOT);
    if (arch.equals("amd64") || arch.equals("x86_64")) {
      return "x86_64";
    }
    if (arch.equals("aarch64") || arch.equals("arm64")) {
      return "aarch64";
    }
    throw new UnsupportedOperationException(
        "minray native library: unsupported os.arch '" + osArch + "'; supported: x86_64 (amd64), aarch64 (arm64)");
  }

  /**
   * The library's file name on an operating system.
   *
   * @param os {@code linux} or {@code darwin}
   * @return {@code libminray_jni.so} or {@code libminray_jni.dylib}
   */
  public static String libraryFileName(String os) {
    return "lib" + LIBRARY_NAME + ("darwin".equals(os) ? ".dylib" : ".so");
  }

  /**
   * The class-path resource holding the library for a platform.
   *
   * @param os normalised os, see {@link #normalizeOs(String)}
   * @param arch normalised arch, see {@link #normalizeArch(String)}
   * @return e.g. {@code native/linux/x86_64/libminray_jni.so}
   */
  public static String resourcePath(String os, String arch) {
    return "native/" + os + "/" + arch + "/" + libraryFileName(os);
  }

  /** @return the resource path for the running JVM's platform */
  public static String hostResourcePath() {
    return resourcePath(hostPlatformOs(), hostPlatformArch());
  }

  /** @return the running JVM's normalised os */
  public static String hostPlatformOs() {
    return normalizeOs(System.getProperty("os.name"));
  }

  /** @return the running JVM's normalised arch */
  public static String hostPlatformArch() {
    return normalizeArch(System.getProperty("os.arch"));
  }

  /** @return whether the library for this platform is on the class path */
  public static boolean isBundled() {
    return NativeLib.class.getClassLoader().getResource(hostResourcePath()) != null;
  }

  /**
   * Loads the library once; later calls do nothing.
   *
   * @return where the library was loaded from (the extracted temporary file, or the override)
   * @throws UnsatisfiedLinkError if it is not bundled for this platform or cannot be loaded
   */
  public static synchronized String load() {
    if (loadedFrom != null) {
      return loadedFrom;
    }
    String override = System.getProperty(OVERRIDE_PROPERTY);
    String path;
    if (override != null && !override.isEmpty()) {
      path = new File(override).getAbsolutePath();
    } else {
      path = extract(hostResourcePath()).toString();
    }
    System.load(path);
    loadedFrom = path;
    return path;
  }

  private static Path extract(String resource) {
    URL url = NativeLib.class.getClassLoader().getResource(resource);
    if (url == null) {
      throw new UnsatisfiedLinkError(
          "minray native library not bundled for this platform: class-path resource '" + resource
              + "' is missing. Build the runtime JAR with the native library staged under "
              + "native/<os>/<arch>/ (see java/README.md), or set -D" + OVERRIDE_PROPERTY + "=/path/to/lib");
    }
    try {
      Path dir = Files.createTempDirectory("minray-native-");
      Path file = dir.resolve(libraryFileName(hostPlatformOs()));
      try (InputStream in = url.openStream()) {
        Files.copy(in, file, StandardCopyOption.REPLACE_EXISTING);
      }
      file.toFile().deleteOnExit();
      dir.toFile().deleteOnExit();
      return file;
    } catch (IOException e) {
      UnsatisfiedLinkError err = new UnsatisfiedLinkError(
          "cannot extract minray native library '" + resource + "' to a temporary file: " + e);
      err.initCause(e);
      throw err;
    }
  }

  /**
   * Checksum of a byte array, computed by the C library ({@code minray_checksum32}).
   *
   * @param data the bytes
   * @return the 32-bit checksum (use {@link Integer#toUnsignedString(int)} to print it)
   */
  public static int checksum32(byte[] data) {
    if (data == null) {
      throw new NullPointerException("data");
    }
    load();
    return nativeChecksum32(data);
  }

  /** @return the C library's version string ({@code minray_version}) */
  public static String version() {
    load();
    return nativeVersion();
  }

  private static native int nativeChecksum32(byte[] data);

  private static native String nativeVersion();
}
