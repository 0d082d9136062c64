package io.minray.serve;

/** A named, immutable deployment: a handler and how many replicas of it to run. */
public final class Deployment {
  private final String name;
  private final int numReplicas;
  private final RequestHandler handler;

  /**
   * @param name the deployment name, also its route ({@code /name})
   * @param numReplicas replicas, &gt;= 1
   * @param handler the user code
   */
  public Deployment(String name, int numReplicas, RequestHandler handler) {
    if (name == null || !name.matches("[A-Za-z0-9_-]+")) {
      throw new IllegalArgumentException("deployment name must match [A-Za-z0-9_-]+, got " + name);
    }
    if (numReplicas < 1) {
      throw new IllegalArgumentException("numReplicas must be >= 1, got " + numReplicas);
    }
    if (handler == null) {
      throw new IllegalArgumentException("deployment " + name + " needs a handler");
    }
    this.name = name;
    this.numReplicas = numReplicas;
    this.handler = handler;
  }

  /** @return the name */
  public String name() {
    return name;
  }

  /** @return the number of replicas */
  public int numReplicas() {
    return numReplicas;
  }

  /** @return the handler */
  public RequestHandler handler() {
    return handler;
  }

  /** @return the route, {@code /name} */
  public String route() {
    return "/" + name;
  }
}
