package io.minray.serve;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;

import io.minray.api.MinRayException;
import io.minray.runtime.LocalRuntime;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.Test;

public class ServeControllerTest {
  @Test
  public void servesRequestsAcrossReplicas() throws Exception {
    AtomicInteger instances = new AtomicInteger();
    try (LocalRuntime rt = new LocalRuntime(2)) {
      ServeController serve = new ServeController(rt);
      serve.deploy(new Deployment("echo", 3, req -> "echo:" + req));
      Set<String> responses = new HashSet<>();
      for (int i = 0; i < 6; i++) {
        responses.add(serve.handle("/echo", "m" + i, 5000));
        instances.incrementAndGet();
      }
      assertEquals(6, responses.size());
      assertEquals("echo:hi", serve.handle("/echo", "hi", 5000));
      assertThrows(MinRayException.class, () -> serve.handleAsync("/missing", "x"));
    }
  }
}
