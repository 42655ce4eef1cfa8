// C interface to RE2 for Swift: pattern checks as Envoy performs them.
#include "CRE2.h"

#include <re2/re2.h>
#include <cstdlib>
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

struct swiftmesh_re2 {
    re2::RE2 regex;
    explicit swiftmesh_re2(re2::StringPiece pattern) : regex(pattern, re2::RE2::Quiet) {}
};

swiftmesh_re2 *swiftmesh_re2_compile(const char *pattern, size_t length) {
    auto *compiled = new swiftmesh_re2(re2::StringPiece(pattern, length));
    if (!compiled->regex.ok()) {
        delete compiled;
        return nullptr;
    }
    return compiled;
}

void swiftmesh_re2_free(swiftmesh_re2 *regex) { delete regex; }

int swiftmesh_re2_full_match(const swiftmesh_re2 *regex, const char *text, size_t length) {
    return re2::RE2::FullMatch(re2::StringPiece(text, length), regex->regex) ? 1 : 0;
}

char *swiftmesh_re2_global_replace(const swiftmesh_re2 *regex, const char *text, size_t length,
                                   const char *rewrite, size_t rewrite_length, size_t *out_length) {
    std::string result(text, length);
    re2::RE2::GlobalReplace(&result, regex->regex, re2::StringPiece(rewrite, rewrite_length));
    char *out = static_cast<char *>(std::malloc(result.size() + 1));
    if (out == nullptr) return nullptr;
    std::memcpy(out, result.data(), result.size());
    out[result.size()] = '\0';
    *out_length = result.size();
    return out;
}
