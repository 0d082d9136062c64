package io.minray.serve;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Picks replicas in round-robin order; thread-safe.
 *
 * @param <R> the replica type
 */
public final class Router<R> {
  private final List<R> replicas;
  private final AtomicLong next = new AtomicLong();

  /**
   * @param replicas at least one replica
   */
  public Router(List<R> replicas) {
    if (replicas == null || replicas.isEmpty()) {
      throw new IllegalArgumentException("a router needs at least one replica");
    }
    this.replicas = Collections.unmodifiableList(new ArrayList<>(replicas));
  }

  /** @return the next replica */
  public R next() {
    int i = (int) Math.floorMod(next.getAndIncrement(), (long) replicas.size());
    return replicas.get(i);
  }

  /** @return the replicas, in routing order */
  public List<R> replicas() {
    return replicas;
  }
}
