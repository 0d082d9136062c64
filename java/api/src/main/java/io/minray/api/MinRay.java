package io.minray.api;

import java.util.concurrent.TimeoutException;

/** The minray facade: put values, register functions, submit tasks and get their results. */
public interface MinRay extends AutoCloseable {
  /**
   * Stores a value.
   *
   * @param value the value
   * @param <T> its type
   * @return a reference to it
   */
  <T> ObjectRef<T> put(T value);

  /**
   * Waits for a value.
   *
   * @param ref the reference
   * @param timeoutMillis how long to wait
   * @param <T> the value type
   * @return the value
   * @throws TimeoutException if the value is not ready in time
   * @throws MinRayException if the task that computes it failed or the reference is unknown
   */
  <T> T get(ObjectRef<T> ref, long timeoutMillis) throws TimeoutException;

  /**
   * Registers a function under a name, for tasks to call.
   *
   * @param name the function name used in {@link TaskSpec#functionName()}
   * @param function the function
   */
  void register(String name, RemoteFunction<?> function);

  /**
   * Submits a task; its result is stored under the returned reference.
   *
   * @param spec the task
   * @param <T> the result type
   * @return a reference to the result
   */
  <T> ObjectRef<T> submit(TaskSpec spec);

  /** Stops the workers; pending tasks are cancelled. */
  @Override
  void close();
}
