package io.minray.serve;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import org.junit.Test;

public class RouterTest {
  @Test
  public void roundRobin() {
    Router<String> r = new Router<>(Arrays.asList("a", "b", "c"));
    List<String> seen = new ArrayList<>();
    for (int i = 0; i < 7; i++) {
      seen.add(r.next());
    }
    assertEquals(Arrays.asList("a", "b", "c", "a", "b", "c", "a"), seen);
  }

  @Test
  public void needsReplicas() {
    assertThrows(IllegalArgumentException.class, () -> new Router<String>(Collections.<String>emptyList()));
  }

  @Test
  public void deploymentValidation() {
    assertThrows(IllegalArgumentException.class, () -> new Deployment("bad name", 1, r -> r));
    assertThrows(IllegalArgumentException.class, () -> new Deployment("ok", 0, r -> r));
    assertEquals("/echo", new Deployment("echo", 2, r -> r).route());
  }
}
