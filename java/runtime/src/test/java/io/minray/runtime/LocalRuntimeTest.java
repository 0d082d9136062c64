package io.minray.runtime;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import io.minray.api.MinRayException;
import io.minray.api.ObjectRef;
import io.minray.api.TaskSpec;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.Test;

public class LocalRuntimeTest {
  @Test
  public void putAndGet() throws Exception {
    try (LocalRuntime rt = new LocalRuntime(1)) {
      ObjectRef<String> ref = rt.put("hello");
      assertEquals("hello", rt.get(ref, 1000));
    }
  }

  @Test
  public void runsTasks() throws Exception {
    try (LocalRuntime rt = new LocalRuntime(2)) {
      rt.register("add", args -> Integer.parseInt(args.get(0)) + Integer.parseInt(args.get(1)));
      ObjectRef<Integer> sum = rt.submit(TaskSpec.builder("t1", "add").args("2", "40").build());
      assertEquals(Integer.valueOf(42), rt.get(sum, 5000));
    }
  }

  @Test
  public void retriesThenSucceeds() throws Exception {
    AtomicInteger calls = new AtomicInteger();
    try (LocalRuntime rt = new LocalRuntime(1)) {
      rt.register("flaky", args -> {
        if (calls.incrementAndGet() < 3) {
          throw new IllegalStateException("boom");
        }
        return "ok";
      });
      ObjectRef<String> ok = rt.submit(TaskSpec.builder("t", "flaky").maxRetries(2).build());
      assertEquals("ok", rt.get(ok, 5000));
      assertEquals(3, calls.get());
    }
  }

  @Test
  public void failureSurfacesAfterRetries() {
    try (LocalRuntime rt = new LocalRuntime(1)) {
      rt.register("bad", args -> {
        throw new IllegalStateException("always");
      });
      ObjectRef<Object> ref = rt.submit(TaskSpec.builder("t", "bad").maxRetries(1).build());
      MinRayException e = assertThrows(MinRayException.class, () -> rt.get(ref, 5000));
      assertTrue(e.getMessage(), e.getMessage().contains("always"));
      assertThrows(MinRayException.class, () -> rt.submit(TaskSpec.builder("u", "missing").build()));
    }
  }

  @Test
  public void getTimesOut() throws Exception {
    CountDownLatch release = new CountDownLatch(1);
    try (LocalRuntime rt = new LocalRuntime(1)) {
      rt.register("wait", args -> {
        release.await();
        return "done";
      });
      ObjectRef<String> ref = rt.submit(TaskSpec.builder("t", "wait").build());
      assertThrows(TimeoutException.class, () -> rt.get(ref, 50));
      release.countDown();
      assertEquals("done", rt.get(ref, 5000));
    }
  }
}
