// A compiled RE2 pattern: the only regex engine on the request path (linear time, no backtracking).

import CRE2

/// A pattern compiled once when configuration arrives. Matching is RE2's, as Envoy's
/// `safe_regex` is: a full match, linear in the input, so no request can make a worker spin.
/// RE2 objects are safe to use from many threads at once.
public final class CompiledRegex: @unchecked Sendable, CustomStringConvertible {
    public let pattern: String
    private let compiled: OpaquePointer

    /// Programs larger than this are refused, as Envoy's default `re2.max_program_size.error_level` does.
    public static let defaultMaxProgramSize = 100

    public init(_ pattern: String, maxProgramSize: Int = CompiledRegex.defaultMaxProgramSize, at path: String) throws {
        var bytes = Array(pattern.utf8)
        var error = [CChar](repeating: 0, count: 256)
        var size: Int32 = 0
        let ok = bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { swiftmesh_re2_check($0.baseAddress, $0.count, &error, error.count, &size) }
        }
        guard ok == 1 else {
            throw ProxyConfigError(path, "invalid regex \"\(pattern)\": \(String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))")
        }
        guard Int(size) <= maxProgramSize else {
            throw ProxyConfigError(path, "regex \"\(pattern)\" has program size \(size), above the limit \(maxProgramSize) (re2.max_program_size.error_level)")
        }
        bytes.append(0)
        guard let handle = bytes.withUnsafeBufferPointer({ buffer in
            buffer.withMemoryRebound(to: CChar.self) { swiftmesh_re2_compile($0.baseAddress, $0.count - 1) }
        }) else {
            throw ProxyConfigError(path, "regex \"\(pattern)\" did not compile")
        }
        self.pattern = pattern
        self.compiled = handle
    }

    deinit { swiftmesh_re2_free(compiled) }

    /// True when the whole of `text` matches.
    public func matches(_ text: Substring) -> Bool {
        var text = text
        return text.withUTF8 { buffer in
            buffer.withMemoryRebound(to: CChar.self) { swiftmesh_re2_full_match(compiled, $0.baseAddress, $0.count) == 1 }
        }
    }

    public func matches(_ text: String) -> Bool { matches(text[...]) }

    /// Every match replaced by `substitution` (`\1` names a group).
    public func replacingAll(in text: String, with substitution: String) -> String {
        var text = text
        var substitution = substitution
        return text.withUTF8 { input in
            substitution.withUTF8 { rewrite in
                input.withMemoryRebound(to: CChar.self) { inputChars in
                    rewrite.withMemoryRebound(to: CChar.self) { rewriteChars in
                        var length = 0
                        guard let out = swiftmesh_re2_global_replace(compiled, inputChars.baseAddress, inputChars.count,
                                                                     rewriteChars.baseAddress, rewriteChars.count, &length) else {
                            return String(decoding: input, as: UTF8.self)
                        }
                        defer { free(out) }
                        return String(decoding: UnsafeRawBufferPointer(start: out, count: length), as: UTF8.self)
                    }
                }
            }
        }
    }

    public var description: String { pattern }
}

#if canImport(Glibc)
import Glibc
#endif
