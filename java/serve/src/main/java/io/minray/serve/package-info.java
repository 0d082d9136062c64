/** minray Serve: deployments of replicas behind a round-robin router, run as minray tasks. */
package io.minray.serve;
