// C interface to RE2 for Swift: pattern checks as Envoy performs them.
#include "CRE2.h"

#include <re2/re2.h>
#include <cstring>
#include <string>

int swiftmesh_re2_check(const char *pattern, size_t length,
                        char *error, size_t error_capacity, int *program_size) {
    // Quiet: RE2 would otherwise print every rejected pattern to stderr.
    re2::RE2 compiled(re2::StringPiece(pattern, length), re2::RE2::Quiet);
    if (compiled.ok()) {
        *program_size = compiled.ProgramSize();
        return 1;
    }
    if (error_capacity > 0) {
        const std::string &reason = compiled.error();
        size_t count = reason.size() < error_capacity - 1 ? reason.size() : error_capacity - 1;
        std::memcpy(error, reason.data(), count);
        error[count] = '\0';
    }
    return 0;
}
