/*
 * minray C API: the functions behind minray_cpp's libminray_cpp and the Java
 * runtime's JNI library. Plain C99; usable from C++ (extern "C").
 *
 * Semantics match the Python package minray (minray.checksum32, minray.toposort).
 */
#ifndef MINRAY_MINRAY_H
#define MINRAY_MINRAY_H

#include <stddef.h>
#include <stdint.h>

/* The version compiled into the library. Builds pass -DMINRAY_VERSION="x.y.z" from
 * minray_cpp/_version.py, the harness's jars stage -DBUILD_SUPPORT_VERSION="x.y.z" (the
 * Java version); this default must match them (a test checks). */
#if !defined(MINRAY_VERSION) && defined(BUILD_SUPPORT_VERSION)
#define MINRAY_VERSION BUILD_SUPPORT_VERSION
#endif
#ifndef MINRAY_VERSION
#define MINRAY_VERSION "0.1.0"
#endif

#if defined(_WIN32)
#define MINRAY_API __declspec(dllexport)
#elif defined(__GNUC__)
#define MINRAY_API __attribute__((visibility("default")))
#else
#define MINRAY_API
#endif

/* Return codes of minray_toposort. */
#define MINRAY_OK 0
#define MINRAY_ERR_CYCLE (-1)   /* the graph has a cycle */
#define MINRAY_ERR_INVALID (-2) /* n < 0, a NULL pointer, or a node outside 0..n-1 */
#define MINRAY_ERR_NOMEM (-3)   /* allocation failed */

#ifdef __cplusplus
extern "C" {
#endif

/* The library's version string, e.g. "0.1.0"; static storage, never NULL. */
MINRAY_API const char *minray_version(void);

/* 32-bit FNV-1a hash of len bytes at data (data may be NULL when len is 0). */
MINRAY_API uint32_t minray_checksum32(const uint8_t *data, size_t len);

/*
 * Topological order of nodes 0..n-1 under num_edges edges, given as pairs
 * edges[2*i] -> edges[2*i+1] (the source comes first in the order).
 * Kahn's algorithm with a FIFO queue: ready nodes start in increasing order and a
 * node's successors are released in edge order, so the result is deterministic and
 * equal to minray.toposort's. On MINRAY_OK, order[0..n-1] holds the order; order
 * must have room for n entries. Returns one of the MINRAY_* codes above.
 */
MINRAY_API int minray_toposort(int32_t n, const int32_t *edges, size_t num_edges,
                               int32_t *order);

/* A short English description of a minray_toposort return code; never NULL. */
MINRAY_API const char *minray_strerror(int code);

#ifdef __cplusplus
}
#endif

#endif /* MINRAY_MINRAY_H */
