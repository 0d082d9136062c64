package io.minray.serve;

import io.minray.api.MinRay;
import io.minray.api.MinRayException;
import io.minray.api.ObjectRef;
import io.minray.api.TaskSpec;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Runs deployments on a {@link MinRay}: each replica is a registered function
 * ({@code serve:<name>:<i>}), each request a task sent to the replica the router picks.
 */
public final class ServeController {
  private final MinRay minray;
  private final Map<String, Router<String>> routes = new ConcurrentHashMap<>();
  private final AtomicLong requestIds = new AtomicLong();

  /**
   * @param minray the runtime that executes the requests
   */
  public ServeController(MinRay minray) {
    this.minray = minray;
  }

  /**
   * Deploys (or redeploys) a deployment under its route.
   *
   * @param deployment the deployment
   */
  public void deploy(Deployment deployment) {
    List<String> replicas = new ArrayList<>();
    for (int i = 0; i < deployment.numReplicas(); i++) {
      String fn = "serve:" + deployment.name() + ":" + i;
      RequestHandler h = deployment.handler();
      minray.register(fn, args -> h.handle(args.get(0)));
      replicas.add(fn);
    }
    routes.put(deployment.route(), new Router<>(replicas));
  }

  /**
   * Sends a request to the next replica of the route.
   *
   * @param route e.g. {@code /echo}
   * @param request the body
   * @return the response reference
   */
  public ObjectRef<String> handleAsync(String route, String request) {
    Router<String> router = routes.get(route);
    if (router == null) {
      throw new MinRayException("no deployment at route " + route + "; deployed: " + routes.keySet());
    }
    String replica = router.next();
    return minray.submit(TaskSpec.builder("req-" + requestIds.incrementAndGet(), replica).args(request).build());
  }

  /**
   * Sends a request and waits for the response.
   *
   * @param route e.g. {@code /echo}
   * @param request the body
   * @param timeoutMillis how long to wait
   * @return the response
   * @throws TimeoutException if no response in time
   */
  public String handle(String route, String request, long timeoutMillis) throws TimeoutException {
    return minray.get(handleAsync(route, request), timeoutMillis);
  }
}
