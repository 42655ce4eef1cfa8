// Regular expressions are checked by RE2 itself, exactly as Envoy will compile them.

import CRE2

enum RegexRule {
    /// Envoy rejects a regex whose compiled program is larger than its runtime key
    /// `re2.max_program_size.error_level` (Envoy's default is 100). Istio's bootstrap raises it to
    /// 32768 so that ordinary patterns such as `[a-z]{4,200}` (409) load; SwiftMesh's bootstrap
    /// does the same, and validation holds configuration to that limit. The size comes from the
    /// system's RE2 (Debian's 2022 release), which counts Unicode classes far larger than the RE2
    /// inside Envoy 1.40 (`\pL{2,40}`: 47771 here, 171 in Envoy), so for such patterns this check
    /// is stricter than Envoy; ASCII patterns measure the same in both.
    static let maximumProgramSize = 32768
    static let maximumLength = 1024

    static func problem(_ pattern: String) -> String? {
        if pattern.isEmpty { return "regex must not be empty" }
        if pattern.utf8.count > maximumLength {
            return "regex is too long (\(pattern.utf8.count) bytes; at most \(maximumLength))"
        }
        var error = [CChar](repeating: 0, count: 256)
        var programSize: Int32 = 0
        let compiled = pattern.utf8CString.withUnsafeBufferPointer { buffer in
            swiftmesh_re2_check(buffer.baseAddress, buffer.count - 1, &error, error.count, &programSize)
        }
        if compiled == 0 {
            let reason = String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            return "invalid regex \"\(pattern.truncatedForDisplay)\": \(reason) (Envoy uses RE2 syntax: no backreferences or lookaround)"
        }
        if programSize > maximumProgramSize {
            return "regex \"\(pattern.truncatedForDisplay)\" is too complex for Envoy (RE2 program size \(programSize), at most \(maximumProgramSize))"
        }
        return nil
    }
}
