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

#ifdef __cplusplus
}
#endif

#endif
