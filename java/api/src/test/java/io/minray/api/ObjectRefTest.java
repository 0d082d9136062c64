package io.minray.api;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotEquals;
import static org.junit.Assert.assertThrows;

import org.junit.Test;

public class ObjectRefTest {
  @Test
  public void equalityIsById() {
    assertEquals(new ObjectRef<String>("a"), new ObjectRef<Integer>("a"));
    assertNotEquals(new ObjectRef<String>("a"), new ObjectRef<String>("b"));
    assertEquals("ObjectRef(a)", new ObjectRef<String>("a").toString());
  }

  @Test
  public void rejectsEmptyId() {
    assertThrows(IllegalArgumentException.class, () -> new ObjectRef<String>(""));
    assertThrows(IllegalArgumentException.class, () -> new ObjectRef<String>(null));
  }
}
