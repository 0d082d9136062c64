package io.minray.runtime;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;

import io.minray.api.TaskSpec;
import org.junit.Test;

public class TaskSpecCodecTest {
  @Test
  public void roundTrips() {
    TaskSpec spec = TaskSpec.builder("t1", "add").args("1", "two").resource("CPU", 1).resource("GPU", 0.5)
        .maxRetries(3).build();
    String json = TaskSpecCodec.toJson(spec);
    assertEquals("{\"task_id\":\"t1\",\"function\":\"add\",\"args\":[\"1\",\"two\"],"
        + "\"resources\":{\"CPU\":1.0,\"GPU\":0.5},\"max_retries\":3}", json);
    assertEquals(spec, TaskSpecCodec.fromJson(json));
  }

  @Test
  public void rejectsBadJson() {
    assertThrows(IllegalArgumentException.class, () -> TaskSpecCodec.fromJson("{\"task_id\":\"t\"}"));
    assertThrows(IllegalArgumentException.class, () -> TaskSpecCodec.fromJson("[1]"));
    assertThrows(IllegalArgumentException.class, () -> TaskSpecCodec.fromJson("{"));
  }
}
