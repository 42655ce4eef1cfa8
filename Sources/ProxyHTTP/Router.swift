// From a request head to a route: the route table, the virtual host by authority, the first matching route.

import NIOHTTP1
import ProxyConfig
import ProxyCore

/// The router's answer for a request.
enum RouteDecision {
    case route(RouteConfig)
    /// No route table, virtual host or route matched (Envoy answers 404, response flag NR).
    case noRoute
}

enum Router {
    static func decide(_ head: HTTPRequestHead, manager: HTTPConnectionManagerConfig, snapshot: ProxySnapshot,
                       scheme: String) -> RouteDecision {
        let table: RouteTable?
        switch manager.routes {
        case .inline(let inline): table = inline
        case .rds(let name): table = snapshot.routeTables[name]
        }
        guard let table else { return .noRoute }
        // Scanning is done on UTF-8 bytes: Character-wise search runs grapheme breaking per byte.
        var authority = (head.headers.first(name: "host") ?? "").lowercased()
        if manager.stripAnyHostPort, let colon = authority.utf8.lastIndex(of: UInt8(ascii: ":")),
           authority.utf8.last != UInt8(ascii: "]") {
            authority = String(authority[..<colon])
        }
        guard let host = table.virtualHost(for: authority) else { return .noRoute }
        let uri = head.uri[...]
        let question = uri.utf8.firstIndex(of: UInt8(ascii: "?"))
        var path = question.map { uri[..<$0] } ?? uri
        if manager.normalizePath { path = PathNormalizer.normalize(path)[...] }
        let query = question.map { uri[uri.index(after: $0)...] } ?? ""
        let headers = head.headers
        let method = head.method.rawValue
        let request = RouteMatch.Request(path: path, query: query) { name in
            switch name {
            case ":method": return method
            case ":authority": return authority
            case ":scheme": return scheme
            case ":path": return String(uri)
            default:
                let values = headers[name]
                return values.isEmpty ? nil : values.joined(separator: ",")
            }
        }
        guard let route = host.route(for: request) else { return .noRoute }
        return .route(route)
    }
}

/// RFC 3986 dot-segment removal, as Envoy's `normalize_path` does before matching.
enum PathNormalizer {
    static func normalize(_ path: Substring) -> String {
        guard hasDotSegment(path) else { return String(path) }
        var output: [Substring] = []
        for segment in path.split(separator: "/", omittingEmptySubsequences: false).dropFirst() {
            if segment == "." { continue }
            if segment == ".." {
                if !output.isEmpty { output.removeLast() }
                continue
            }
            output.append(segment)
        }
        let joined = "/" + output.joined(separator: "/")
        return path.hasSuffix("/.") || path.hasSuffix("/..") ? joined + (joined.hasSuffix("/") ? "" : "/") : joined
    }

    /// Whether "/." occurs: the only way a path can hold a dot segment.
    static func hasDotSegment(_ path: Substring) -> Bool {
        var previousSlash = false
        for byte in path.utf8 {
            if previousSlash, byte == UInt8(ascii: ".") { return true }
            previousSlash = byte == UInt8(ascii: "/")
        }
        return false
    }
}
