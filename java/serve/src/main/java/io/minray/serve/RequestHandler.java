package io.minray.serve;

/** The user code of a deployment: turns a request into a response. */
public interface RequestHandler {
  /**
   * @param request the request body
   * @return the response body
   * @throws Exception any failure, reported to the caller
   */
  String handle(String request) throws Exception;
}
