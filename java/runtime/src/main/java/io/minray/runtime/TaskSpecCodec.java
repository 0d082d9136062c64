package io.minray.runtime;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import io.minray.api.TaskSpec;
import java.util.Map;

/**
 * JSON form of a {@link TaskSpec}, as the runtime sends it to workers. Uses Gson, shaded into
 * this JAR as {@code io.minray.shaded.com.google.gson}.
 *
 * <p>Shape: {@code {"task_id": "...", "function": "...", "args": [...], "resources": {...},
 * "max_retries": 0}}; keys in that order, resources in insertion order.
 */
public final class TaskSpecCodec {
  private TaskSpecCodec() {}

  /**
   * @param spec the task
   * @return its JSON
   */
  public static String toJson(TaskSpec spec) {
    JsonObject o = new JsonObject();
    o.addProperty("task_id", spec.taskId());
    o.addProperty("function", spec.functionName());
    JsonArray args = new JsonArray();
    for (String a : spec.args()) {
      args.add(a);
    }
    o.add("args", args);
    JsonObject res = new JsonObject();
    for (Map.Entry<String, Double> e : spec.resources().entrySet()) {
      res.addProperty(e.getKey(), e.getValue());
    }
    o.add("resources", res);
    o.addProperty("max_retries", spec.maxRetries());
    return o.toString();
  }

  /**
   * @param json a document written by {@link #toJson(TaskSpec)}
   * @return the task
   * @throws IllegalArgumentException if the JSON is malformed or a field is missing or invalid
   */
  public static TaskSpec fromJson(String json) {
    try {
      JsonObject o = JsonParser.parseString(json).getAsJsonObject();
      TaskSpec.Builder b = TaskSpec.builder(required(o, "task_id").getAsString(),
          required(o, "function").getAsString());
      for (JsonElement a : required(o, "args").getAsJsonArray()) {
        b.args(a.getAsString());
      }
      for (Map.Entry<String, JsonElement> e : required(o, "resources").getAsJsonObject().entrySet()) {
        b.resource(e.getKey(), e.getValue().getAsDouble());
      }
      return b.maxRetries(required(o, "max_retries").getAsInt()).build();
    } catch (JsonParseException | IllegalStateException | UnsupportedOperationException
        | NumberFormatException e) {
      throw new IllegalArgumentException("invalid TaskSpec JSON: " + e.getMessage(), e);
    }
  }

  private static JsonElement required(JsonObject o, String key) {
    JsonElement e = o.get(key);
    if (e == null || e.isJsonNull()) {
      throw new IllegalArgumentException("invalid TaskSpec JSON: missing field '" + key + "'");
    }
    return e;
  }
}
