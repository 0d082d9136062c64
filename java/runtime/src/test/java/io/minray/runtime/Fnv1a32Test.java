package io.minray.runtime;

import static org.junit.Assert.assertEquals;

import java.nio.charset.StandardCharsets;
import org.junit.Test;

public class Fnv1a32Test {
  @Test
  public void knownVectors() {
    // Published FNV-1a 32-bit test vectors.
    assertEquals(0x811C9DC5, Fnv1a32.hash(new byte[0]));
    assertEquals(0xE40C292C, Fnv1a32.hash("a".getBytes(StandardCharsets.US_ASCII)));
    assertEquals(0xBF9CF968, Fnv1a32.hash("foobar".getBytes(StandardCharsets.US_ASCII)));
  }
}
