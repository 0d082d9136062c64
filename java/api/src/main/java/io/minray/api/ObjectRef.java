package io.minray.api;

import java.util.Objects;

/**
 * A reference to a value in the object store, possibly not yet computed.
 *
 * @param <T> the type of the referenced value
 */
public final class ObjectRef<T> {
  private final String id;

  /**
   * @param id the object id, non-empty
   */
  public ObjectRef(String id) {
    if (id == null || id.isEmpty()) {
      throw new IllegalArgumentException("object id must be a non-empty string");
    }
    this.id = id;
  }

  /** @return the object id */
  public String id() {
    return id;
  }

  @Override
  public boolean equals(Object other) {
    return other instanceof ObjectRef && id.equals(((ObjectRef<?>) other).id);
  }

  @Override
  public int hashCode() {
    return Objects.hash(id);
  }

  @Override
  public String toString() {
    return "ObjectRef(" + id + ")";
  }
}
