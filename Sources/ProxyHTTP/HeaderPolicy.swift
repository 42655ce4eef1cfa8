// Header rules applied while forwarding: hop-by-hop removal, route header mutations, cookies.

import NIOHTTP1
import ProxyConfig

enum HeaderPolicy {
    /// Connection-scoped headers never cross the proxy (RFC 9110 §7.6.1); framing headers stay,
    /// since the encoder on the other side frames the body the same way.
    static func removeHopByHop(_ headers: inout HTTPHeaders) {
        if let connection = headers.first(name: "connection") {
            for token in connection.split(separator: ",") {
                let name = token.trimmingCharacters(in: .whitespaces).lowercased()
                if name != "close", name != "keep-alive", !name.isEmpty { headers.remove(name: name) }
            }
        }
        headers.remove(name: "connection")
        headers.remove(name: "keep-alive")
        headers.remove(name: "proxy-connection")
        headers.remove(name: "upgrade")
        headers.remove(name: "te")
    }

    /// A route's header additions and removals, with Envoy's append semantics; removals first.
    static func apply(_ additions: [HeaderToAdd], remove: [String], to headers: inout HTTPHeaders) {
        for name in remove { headers.remove(name: name) }
        for header in additions {
            switch header.mode {
            case .append: headers.add(name: header.name, value: header.value)
            case .overwrite: headers.replaceOrAdd(name: header.name, value: header.value)
            case .addIfAbsent: if !headers.contains(name: header.name) { headers.add(name: header.name, value: header.value) }
            case .overwriteIfExists: if headers.contains(name: header.name) { headers.replaceOrAdd(name: header.name, value: header.value) }
            }
        }
    }

    static func cookie(named name: String, in headers: HTTPHeaders) -> String? {
        for line in headers["cookie"] {
            for pair in line.split(separator: ";") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                if parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == name { return String(parts[1]) }
            }
        }
        return nil
    }
}

import Foundation
