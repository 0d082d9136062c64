package io.minray.api;

import java.util.List;

/**
 * A function that minray can run as a task.
 *
 * @param <R> the result type
 */
public interface RemoteFunction<R> {
  /**
   * Runs the function.
   *
   * @param args the task's arguments, in order
   * @return the result, stored in the object store
   * @throws Exception any failure; the runtime retries up to {@link TaskSpec#maxRetries()} times
   */
  R call(List<String> args) throws Exception;
}
