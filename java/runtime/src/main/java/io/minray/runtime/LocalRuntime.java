package io.minray.runtime;

import io.minray.api.MinRay;
import io.minray.api.MinRayException;
import io.minray.api.ObjectRef;
import io.minray.api.RemoteFunction;
import io.minray.api.TaskSpec;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An in-process {@link MinRay}: an object store of futures and a fixed pool of worker threads.
 * Each task travels to its worker as JSON ({@link TaskSpecCodec}), as it would to a remote one.
 */
public final class LocalRuntime implements MinRay {
  private static final Logger LOG = LoggerFactory.getLogger(LocalRuntime.class);

  private final ExecutorService workers;
  private final Map<String, CompletableFuture<Object>> store = new ConcurrentHashMap<>();
  private final Map<String, RemoteFunction<?>> functions = new ConcurrentHashMap<>();
  private final AtomicLong nextId = new AtomicLong();

  /**
   * @param numWorkers number of worker threads, &gt;= 1
   */
  public LocalRuntime(int numWorkers) {
    if (numWorkers < 1) {
      throw new IllegalArgumentException("numWorkers must be >= 1, got " + numWorkers);
    }
    this.workers = Executors.newFixedThreadPool(numWorkers, r -> {
      Thread t = new Thread(r, "minray-worker");
      t.setDaemon(true);
      return t;
    });
  }

  @Override
  public <T> ObjectRef<T> put(T value) {
    String id = "obj-" + nextId.incrementAndGet();
    store.put(id, CompletableFuture.completedFuture(value));
    return new ObjectRef<>(id);
  }

  @Override
  @SuppressWarnings("unchecked")
  public <T> T get(ObjectRef<T> ref, long timeoutMillis) throws TimeoutException {
    CompletableFuture<Object> f = store.get(ref.id());
    if (f == null) {
      throw new MinRayException("unknown object " + ref.id() + ": it was never put or submitted here");
    }
    try {
      return (T) f.get(timeoutMillis, TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new MinRayException("interrupted while waiting for " + ref.id(), e);
    } catch (ExecutionException e) {
      throw new MinRayException("task for " + ref.id() + " failed: " + e.getCause(), e.getCause());
    }
  }

  @Override
  public void register(String name, RemoteFunction<?> function) {
    if (name == null || name.isEmpty() || function == null) {
      throw new IllegalArgumentException("register needs a non-empty name and a function");
    }
    functions.put(name, function);
  }

  @Override
  public <T> ObjectRef<T> submit(TaskSpec spec) {
    if (!functions.containsKey(spec.functionName())) {
      throw new MinRayException("unknown function '" + spec.functionName() + "'; registered: "
          + functions.keySet());
    }
    String id = "task-" + spec.taskId();
    String wire = TaskSpecCodec.toJson(spec);
    CompletableFuture<Object> result = new CompletableFuture<>();
    if (store.putIfAbsent(id, result) != null) {
      throw new MinRayException("task id " + spec.taskId() + " was already submitted");
    }
    workers.execute(() -> run(TaskSpecCodec.fromJson(wire), result));
    return new ObjectRef<>(id);
  }

  private void run(TaskSpec spec, CompletableFuture<Object> result) {
    RemoteFunction<?> fn = functions.get(spec.functionName());
    for (int attempt = 0; ; attempt++) {
      try {
        result.complete(fn.call(spec.args()));
        return;
      } catch (Exception e) {
        if (attempt >= spec.maxRetries()) {
          result.completeExceptionally(e);
          return;
        }
        LOG.warn("task {} attempt {} failed, retrying: {}", spec.taskId(), attempt + 1, e.toString());
      }
    }
  }

  @Override
  public void close() {
    workers.shutdownNow();
  }
}
