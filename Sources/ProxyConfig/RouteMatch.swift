// A route's match: path (prefix, exact, RE2 regex), headers and query parameters.

import EnvoyAPI

public struct RouteMatch: Sendable {
    public enum PathMatch: Sendable {
        case prefix(String)
        case exact(String)
        case regex(CompiledRegex)
    }

    /// What the router knows about a request when it matches: the path without the query, the
    /// query, and header values by lowercased name (`:method`, `:authority`, `:scheme` too), with
    /// repeated headers joined by "," as Envoy matches them.
    public struct Request {
        public var path: Substring
        public var query: Substring
        public var header: (String) -> String?

        public init(path: Substring, query: Substring, header: @escaping (String) -> String?) {
            self.path = path
            self.query = query
            self.header = header
        }
    }

    public struct HeaderMatch: Sendable {
        public enum Kind: Sendable {
            case present(Bool)
            case string(StringMatcher)
            case range(ClosedRange<Int64>)
        }
        public var name: String
        public var kind: Kind
        public var invert: Bool
        public var treatMissingAsEmpty: Bool
    }

    public struct QueryMatch: Sendable {
        public var name: String
        /// nil: the parameter must be present.
        public var matcher: StringMatcher?
    }

    public var path: PathMatch
    public var caseSensitive: Bool
    public var headers: [HeaderMatch]
    public var queryParameters: [QueryMatch]

    init(proto: Envoy_Config_Route_V3_RouteMatch, limits: ConfigLimits, at path: String) throws {
        var rest = proto
        caseSensitive = proto.hasCaseSensitive ? proto.caseSensitive.value : true
        rest.clearCaseSensitive()
        switch proto.pathSpecifier {
        case .prefix(let prefix)?: self.path = .prefix(caseSensitive ? prefix : prefix.lowercased())
        case .path(let exact)?: self.path = .exact(caseSensitive ? exact : exact.lowercased())
        case .safeRegex(let regex)?: self.path = .regex(try CompiledRegex(regex.regex, maxProgramSize: limits.maxRegexProgramSize, at: path + ".safe_regex"))
        default: throw ProxyConfigError(path, "needs prefix, path or safe_regex")
        }
        rest.pathSpecifier = nil
        headers = try proto.headers.enumerated().map { index, header in
            try Self.headerMatch(header, limits: limits, at: "\(path).headers[\(index)]")
        }
        rest.headers = []
        queryParameters = try proto.queryParameters.enumerated().map { index, query in
            let queryPath = "\(path).query_parameters[\(index)]"
            switch query.queryParameterMatchSpecifier {
            case .stringMatch(let matcher)?:
                return QueryMatch(name: query.name, matcher: try StringMatcher(proto: matcher, limits: limits, at: queryPath + ".string_match"))
            case .presentMatch(true)?:
                return QueryMatch(name: query.name, matcher: nil)
            default:
                throw ProxyConfigError(queryPath, "needs string_match or present_match: true")
            }
        }
        rest.queryParameters = []
        try requireNothingElse(rest, at: path)
    }

    static func headerMatch(_ proto: Envoy_Config_Route_V3_HeaderMatcher, limits: ConfigLimits, at path: String) throws -> HeaderMatch {
        let kind: HeaderMatch.Kind
        switch proto.headerMatchSpecifier {
        case .presentMatch(let present)?: kind = .present(present)
        case .stringMatch(let matcher)?: kind = .string(try StringMatcher(proto: matcher, limits: limits, at: path + ".string_match"))
        case .exactMatch(let value)?: kind = .string(StringMatcher(.exact(value)))
        case .prefixMatch(let value)?: kind = .string(StringMatcher(.prefix(value)))
        case .suffixMatch(let value)?: kind = .string(StringMatcher(.suffix(value)))
        case .containsMatch(let value)?: kind = .string(StringMatcher(.contains(value)))
        case .safeRegexMatch(let regex)?:
            kind = .string(StringMatcher(.regex(try CompiledRegex(regex.regex, maxProgramSize: limits.maxRegexProgramSize, at: path + ".safe_regex_match"))))
        case .rangeMatch(let range)?:
            guard range.start < range.end else { throw ProxyConfigError(path + ".range_match", "start must be below end") }
            kind = .range(range.start...(range.end - 1))
        case nil:
            kind = .present(true)
        }
        return HeaderMatch(name: proto.name.lowercased(), kind: kind, invert: proto.invertMatch, treatMissingAsEmpty: proto.treatMissingHeaderAsEmpty)
    }

    public func matches(_ request: Request) -> Bool {
        switch path {
        case .prefix(let prefix):
            if caseSensitive {
                guard request.path.hasPrefix(prefix) else { return false }
            } else {
                guard request.path.lowercased().hasPrefix(prefix) else { return false }
            }
        case .exact(let exact):
            if caseSensitive {
                guard request.path == exact else { return false }
            } else {
                guard request.path.lowercased() == exact else { return false }
            }
        case .regex(let regex):
            guard regex.matches(request.path) else { return false }
        }
        for header in headers where !header.matches(request.header(header.name)) { return false }
        if !queryParameters.isEmpty {
            let parameters = QueryString(request.query)
            for query in queryParameters {
                guard let value = parameters.value(of: query.name) else { return false }
                if let matcher = query.matcher, !matcher.matches(value) { return false }
            }
        }
        return true
    }
}

extension RouteMatch.HeaderMatch {
    public func matches(_ value: String?) -> Bool {
        let value = value ?? (treatMissingAsEmpty ? "" : nil)
        let result: Bool
        switch kind {
        case .present(let expected):
            result = (value != nil) == expected
        case .string(let matcher):
            guard let value else { return false }  // a missing header never matches, even inverted
            result = matcher.matches(value)
        case .range(let range):
            guard let value else { return false }
            result = Int64(value).map(range.contains) ?? false
        }
        return result != invert
    }
}

/// A request's query string, split on `&` and `=` without decoding, as Envoy matches it.
struct QueryString {
    let text: Substring

    init(_ text: Substring) { self.text = text }

    func value(of name: String) -> String? {
        for pair in text.split(separator: "&", omittingEmptySubsequences: true) {
            if let equals = pair.firstIndex(of: "=") {
                if pair[..<equals] == name { return String(pair[pair.index(after: equals)...]) }
            } else if pair == name {
                return ""
            }
        }
        return nil
    }
}
