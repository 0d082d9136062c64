package io.minray.api;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/** An immutable description of one task: which function, with which arguments and resources. */
public final class TaskSpec {
  private final String taskId;
  private final String functionName;
  private final List<String> args;
  private final Map<String, Double> resources;
  private final int maxRetries;

  private TaskSpec(Builder b) {
    this.taskId = b.taskId;
    this.functionName = b.functionName;
    this.args = Collections.unmodifiableList(new ArrayList<>(b.args));
    this.resources = Collections.unmodifiableMap(new LinkedHashMap<>(b.resources));
    this.maxRetries = b.maxRetries;
  }

  /**
   * @param taskId unique id of the task
   * @param functionName the registered function to run
   * @return a builder
   */
  public static Builder builder(String taskId, String functionName) {
    return new Builder(taskId, functionName);
  }

  /** @return the task id */
  public String taskId() {
    return taskId;
  }

  /** @return the name of the function to run */
  public String functionName() {
    return functionName;
  }

  /** @return the arguments, unmodifiable */
  public List<String> args() {
    return args;
  }

  /** @return the resources (e.g. "CPU" to 1.0), unmodifiable, in insertion order */
  public Map<String, Double> resources() {
    return resources;
  }

  /** @return how many times a failed task is retried */
  public int maxRetries() {
    return maxRetries;
  }

  @Override
  public boolean equals(Object o) {
    if (!(o instanceof TaskSpec)) {
      return false;
    }
    TaskSpec t = (TaskSpec) o;
    return taskId.equals(t.taskId)
        && functionName.equals(t.functionName)
        && args.equals(t.args)
        && resources.equals(t.resources)
        && maxRetries == t.maxRetries;
  }

  @Override
  public int hashCode() {
    return Objects.hash(taskId, functionName, args, resources, maxRetries);
  }

  @Override
  public String toString() {
    return "TaskSpec(" + taskId + ", " + functionName + args + ", resources=" + resources
        + ", maxRetries=" + maxRetries + ")";
  }

  /** Builds a validated {@link TaskSpec}. */
  public static final class Builder {
    private final String taskId;
    private final String functionName;
    private final List<String> args = new ArrayList<>();
    private final Map<String, Double> resources = new LinkedHashMap<>();
    private int maxRetries = 0;

    private Builder(String taskId, String functionName) {
      this.taskId = requireName("taskId", taskId);
      this.functionName = requireName("functionName", functionName);
    }

    /**
     * @param values arguments appended in order
     * @return this builder
     */
    public Builder args(String... values) {
      for (String v : values) {
        args.add(Objects.requireNonNull(v, "task argument must not be null"));
      }
      return this;
    }

    /**
     * @param name resource name, e.g. "CPU"
     * @param amount a non-negative amount
     * @return this builder
     */
    public Builder resource(String name, double amount) {
      requireName("resource name", name);
      if (!(amount >= 0.0) || Double.isInfinite(amount)) {
        throw new IllegalArgumentException(
            "resource " + name + " must be a finite amount >= 0, got " + amount);
      }
      resources.put(name, amount);
      return this;
    }

    /**
     * @param retries retries after a failure, &gt;= 0
     * @return this builder
     */
    public Builder maxRetries(int retries) {
      if (retries < 0) {
        throw new IllegalArgumentException("maxRetries must be >= 0, got " + retries);
      }
      this.maxRetries = retries;
      return this;
    }

    /** @return the task specification */
    public TaskSpec build() {
      return new TaskSpec(this);
    }

    private static String requireName(String what, String value) {
      if (value == null || value.trim().isEmpty()) {
        throw new IllegalArgumentException(what + " must be a non-empty string");
      }
      return value;
    }
  }
}
