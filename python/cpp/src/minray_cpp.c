/* minray C library: see include/minray/minray.h. Plain C99, libc only. */
#include "minray/minray.h"

#include <stdlib.h>
#include <string.h>

#define FNV_OFFSET 0x811C9DC5u
#define FNV_PRIME 0x01000193u

const char *minray_version(void) { return MINRAY_VERSION; }

uint32_t minray_checksum32(const uint8_t *data, size_t len) {
    uint32_t h = FNV_OFFSET;
    size_t i;
    for (i = 0; i < len; i++) {
        h = (h ^ data[i]) * FNV_PRIME;
    }
    return h;
}

int minray_toposort(int32_t n, const int32_t *edges, size_t num_edges, int32_t *order) {
    size_t *offsets; /* CSR: successors of u are adj[offsets[u] .. offsets[u+1]) */
    size_t *cursor;
    int32_t *adj;
    int32_t *indegree;
    size_t i, head = 0, tail = 0, k;
    int32_t node;
    int rc = MINRAY_OK;

    if (n < 0 || (n > 0 && order == NULL) || (num_edges > 0 && edges == NULL)) {
        return MINRAY_ERR_INVALID;
    }
    for (i = 0; i < num_edges; i++) {
        int32_t u = edges[2 * i], v = edges[2 * i + 1];
        if (u < 0 || u >= n || v < 0 || v >= n) {
            return MINRAY_ERR_INVALID;
        }
    }
    offsets = (size_t *)calloc((size_t)n + 1, sizeof(size_t));
    cursor = (size_t *)malloc(((size_t)n + 1) * sizeof(size_t));
    adj = (int32_t *)malloc((num_edges ? num_edges : 1) * sizeof(int32_t));
    indegree = (int32_t *)calloc((size_t)n + 1, sizeof(int32_t));
    if (offsets == NULL || cursor == NULL || adj == NULL || indegree == NULL) {
        rc = MINRAY_ERR_NOMEM;
        goto done;
    }
    for (i = 0; i < num_edges; i++) {
        offsets[edges[2 * i] + 1]++;
        indegree[edges[2 * i + 1]]++;
    }
    for (node = 0; node < n; node++) {
        offsets[node + 1] += offsets[node];
    }
    memcpy(cursor, offsets, ((size_t)n + 1) * sizeof(size_t));
    for (i = 0; i < num_edges; i++) {
        adj[cursor[edges[2 * i]]++] = edges[2 * i + 1];
    }
    for (node = 0; node < n; node++) {
        if (indegree[node] == 0) {
            order[tail++] = node;
        }
    }
    while (head < tail) {
        node = order[head++];
        for (k = offsets[node]; k < offsets[node + 1]; k++) {
            int32_t succ = adj[k];
            if (--indegree[succ] == 0) {
                order[tail++] = succ;
            }
        }
    }
    if (tail < (size_t)n) {
        rc = MINRAY_ERR_CYCLE;
    }
done:
    free(offsets);
    free(cursor);
    free(adj);
    free(indegree);
    return rc;
}

const char *minray_strerror(int code) {
    switch (code) {
    case MINRAY_OK:
        return "ok";
    case MINRAY_ERR_CYCLE:
        return "graph has a cycle";
    case MINRAY_ERR_INVALID:
        return "invalid argument";
    case MINRAY_ERR_NOMEM:
        return "out of memory";
    default:
        return "unknown error";
    }
}
