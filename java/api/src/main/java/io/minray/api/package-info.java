/** Public API of minray: task specifications, object references and the {@link io.minray.api.MinRay} facade. */
package io.minray.api;
