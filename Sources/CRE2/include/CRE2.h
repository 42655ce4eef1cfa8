// C interface to RE2 for Swift: pattern checks as Envoy performs them.
#ifndef SWIFTMESH_CRE2_H
#define SWIFTMESH_CRE2_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Compiles `pattern` (UTF-8, `length` bytes) with RE2's default options, as Envoy's
/// `safe_regex` does. Returns 1 when it compiles and stores the compiled program size in
/// `program_size`; returns 0 otherwise and writes RE2's reason, NUL-terminated and truncated
/// to `error_capacity` bytes, to `error`.
int swiftmesh_re2_check(const char *pattern, size_t length,
                        char *error, size_t error_capacity, int *program_size);

/// A compiled pattern for matching on the request path (RE2: linear time, no backtracking).
typedef struct swiftmesh_re2 swiftmesh_re2;

/// Compiles `pattern` with RE2's default options; NULL when it does not compile (the proxy
/// compiles only patterns it has already checked with `swiftmesh_re2_check`).
swiftmesh_re2 *swiftmesh_re2_compile(const char *pattern, size_t length);

void swiftmesh_re2_free(swiftmesh_re2 *regex);

/// 1 when the whole of `text` matches (Envoy's `safe_regex` semantics), else 0.
int swiftmesh_re2_full_match(const swiftmesh_re2 *regex, const char *text, size_t length);

/// Replaces every match in `text` with `rewrite` (\1-style groups) and returns the result in a
/// buffer the caller frees with `free`; its length goes to `out_length`. NULL on failure.
char *swiftmesh_re2_global_replace(const swiftmesh_re2 *regex, const char *text, size_t length,
                                   const char *rewrite, size_t rewrite_length, size_t *out_length);

#ifdef __cplusplus
}
#endif

#endif
