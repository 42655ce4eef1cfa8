// Envoy's StringMatcher as a value: exact, prefix, suffix, contains or RE2 regex, optionally case-insensitive.

import EnvoyAPI

public struct StringMatcher: Sendable, CustomStringConvertible {
    public enum Pattern: Sendable {
        case exact(String)
        case prefix(String)
        case suffix(String)
        case contains(String)
        case regex(CompiledRegex)
    }

    public var pattern: Pattern
    public var ignoreCase: Bool

    public init(_ pattern: Pattern, ignoreCase: Bool = false) {
        self.pattern = pattern
        self.ignoreCase = ignoreCase
    }

    init(proto: Envoy_Type_Matcher_V3_StringMatcher, limits: ConfigLimits, at path: String) throws {
        ignoreCase = proto.ignoreCase
        switch proto.matchPattern {
        case .exact(let value)?: pattern = .exact(proto.ignoreCase ? value.lowercased() : value)
        case .prefix(let value)?: pattern = .prefix(proto.ignoreCase ? value.lowercased() : value)
        case .suffix(let value)?: pattern = .suffix(proto.ignoreCase ? value.lowercased() : value)
        case .contains(let value)?: pattern = .contains(proto.ignoreCase ? value.lowercased() : value)
        case .safeRegex(let regex)?:
            pattern = .regex(try CompiledRegex(regex.regex, maxProgramSize: limits.maxRegexProgramSize, at: path + ".safe_regex"))
        case .custom?, nil:
            throw ProxyConfigError(path, "a string matcher needs exact, prefix, suffix, contains or safe_regex")
        }
    }

    public func matches(_ value: String) -> Bool {
        switch pattern {
        case .regex(let regex): return regex.matches(value)  // RE2 patterns carry their own case handling
        default: break
        }
        let value = ignoreCase ? value.lowercased() : value
        switch pattern {
        case .exact(let expected): return value == expected
        case .prefix(let prefix): return value.hasPrefix(prefix)
        case .suffix(let suffix): return value.hasSuffix(suffix)
        case .contains(let part): return value.contains(part)
        case .regex: return false
        }
    }

    public var description: String {
        switch pattern {
        case .exact(let v): return "exact \(v)"
        case .prefix(let v): return "prefix \(v)"
        case .suffix(let v): return "suffix \(v)"
        case .contains(let v): return "contains \(v)"
        case .regex(let r): return "regex \(r.pattern)"
        }
    }
}

/// Limits the proxy applies while decoding (from its runtime, as Envoy's `re2.*` keys).
public struct ConfigLimits: Sendable {
    public var maxRegexProgramSize: Int

    public init(maxRegexProgramSize: Int = CompiledRegex.defaultMaxProgramSize) {
        self.maxRegexProgramSize = maxRegexProgramSize
    }
}
