package io.minray.api;

/** Raised when a minray operation fails: a task raised, a function is unknown, or a value is missing. */
public class MinRayException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /**
   * @param message what failed and why
   */
  public MinRayException(String message) {
    super(message);
  }

  /**
   * @param message what failed and why
   * @param cause the underlying error
   */
  public MinRayException(String message, Throwable cause) {
    super(message, cause);
  }
}
