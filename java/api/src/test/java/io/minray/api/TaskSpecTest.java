package io.minray.api;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotEquals;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.util.Arrays;
import org.junit.Test;

public class TaskSpecTest {
  @Test
  public void buildsImmutableSpec() {
    TaskSpec spec = TaskSpec.builder("t1", "add").args("1", "2").resource("CPU", 1.5).maxRetries(2).build();
    assertEquals("t1", spec.taskId());
    assertEquals("add", spec.functionName());
    assertEquals(Arrays.asList("1", "2"), spec.args());
    assertEquals(Double.valueOf(1.5), spec.resources().get("CPU"));
    assertEquals(2, spec.maxRetries());
    assertThrows(UnsupportedOperationException.class, () -> spec.args().add("3"));
  }

  @Test
  public void equalityIsByValue() {
    TaskSpec a = TaskSpec.builder("t", "f").args("x").build();
    TaskSpec b = TaskSpec.builder("t", "f").args("x").build();
    assertEquals(a, b);
    assertEquals(a.hashCode(), b.hashCode());
    assertNotEquals(a, TaskSpec.builder("t", "f").args("y").build());
  }

  @Test
  public void rejectsBadInput() {
    assertThrows(IllegalArgumentException.class, () -> TaskSpec.builder("", "f"));
    assertThrows(IllegalArgumentException.class, () -> TaskSpec.builder("t", " "));
    assertThrows(IllegalArgumentException.class, () -> TaskSpec.builder("t", "f").maxRetries(-1));
    IllegalArgumentException e = assertThrows(
        IllegalArgumentException.class, () -> TaskSpec.builder("t", "f").resource("GPU", -1));
    assertTrue(e.getMessage(), e.getMessage().contains("GPU"));
    assertThrows(IllegalArgumentException.class, () -> TaskSpec.builder("t", "f").resource("GPU", Double.NaN));
  }
}
