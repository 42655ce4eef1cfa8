// Header rules applied while forwarding: hop-by-hop removal, route header mutations, cookies.

import NIOHTTP1
import ProxyConfig

enum HeaderPolicy {
    /// Connection-scoped headers never cross the proxy (RFC 9110 §7.6.1); framing headers stay,
    /// since the encoder on the other side frames the body the same way. `TE` goes too unless
    /// it asks for trailers, which gRPC needs end to end (Envoy keeps `te: trailers` the same
    /// way, and it is the one TE value HTTP/2 allows). One pass finds them;
    /// most messages carry none or only `Connection: keep-alive`, and then nothing is removed
    /// by name (each removal is a scan of every header).
    static func removeHopByHop(_ headers: inout HTTPHeaders) {
        var found = false
        var keepsTrailers = false
        var listed: [String] = []
        for (name, value) in headers {
            switch name.utf8.count {
            case 10 where ASCII.equalsIgnoringCase(name, "connection"):
                found = true
                // Nearly every message says only this; no list to split, nothing to allocate.
                if ASCII.equalsIgnoringCase(value, "keep-alive") || ASCII.equalsIgnoringCase(value, "close") { continue }
                for token in ASCII.commaSeparatedLowercased(value) where token != "close" && token != "keep-alive" {
                    listed.append(token)
                }
            case 10 where ASCII.equalsIgnoringCase(name, "keep-alive"), 16 where ASCII.equalsIgnoringCase(name, "proxy-connection"),
                 7 where ASCII.equalsIgnoringCase(name, "upgrade"):
                found = true
            case 2 where ASCII.equalsIgnoringCase(name, "te"):
                found = true
                if ASCII.commaSeparatedLowercased(value).contains(where: { $0 == "trailers" || $0.hasPrefix("trailers;") }) {
                    keepsTrailers = true
                }
            default:
                break
            }
        }
        guard found else { return }
        for name in listed { headers.remove(name: name) }
        headers.remove(name: "connection")
        headers.remove(name: "keep-alive")
        headers.remove(name: "proxy-connection")
        headers.remove(name: "upgrade")
        headers.remove(name: "te")
        if keepsTrailers { headers.add(name: "te", value: "trailers") }
    }

    /// Takes `Expect` off a request (the proxy answers it, as Envoy does without
    /// `proxy_100_continue`, so upstreams never send 100 of their own); true when it asked for
    /// `100-continue`. One pass, comparing only names of its length.
    static func takeExpectContinue(_ headers: inout HTTPHeaders) -> Bool {
        var found = false
        var continues = false
        for (name, value) in headers where name.utf8.count == 6 && ASCII.equalsIgnoringCase(name, "expect") {
            found = true
            if ASCII.commaSeparatedLowercased(value).contains("100-continue") { continues = true }
        }
        if found { headers.remove(name: "expect") }
        return continues
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
                if parts.count == 2, ASCII.trimmed(parts[0]) == name { return String(parts[1]) }
            }
        }
        return nil
    }
}

/// Byte-wise text helpers for header names and lists (Character-wise String operations run
/// grapheme breaking on every byte; header syntax is ASCII).
enum ASCII {
    /// `text` equals `lowercase` (already lowercase) ignoring ASCII case.
    static func equalsIgnoringCase(_ text: String, _ lowercase: StaticString) -> Bool {
        guard text.utf8.count == lowercase.utf8CodeUnitCount else { return false }
        let expected = UnsafeBufferPointer(start: lowercase.utf8Start, count: lowercase.utf8CodeUnitCount)
        for (byte, want) in zip(text.utf8, expected) where lower(byte) != want { return false }
        return true
    }

    static func lower(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
    }

    /// The non-empty items of a comma-separated list, trimmed and lowercased.
    static func commaSeparatedLowercased(_ list: String) -> [String] {
        list.utf8.split(separator: UInt8(ascii: ",")).compactMap { item in
            let bytes = item.drop { $0 == 0x20 || $0 == 0x09 }.reversed().drop { $0 == 0x20 || $0 == 0x09 }.reversed()
            return bytes.isEmpty ? nil : String(decoding: bytes.map(lower), as: UTF8.self)
        }
    }

    /// `text` without leading and trailing spaces and tabs.
    static func trimmed(_ text: Substring) -> Substring {
        let utf8 = text.utf8
        guard let first = utf8.firstIndex(where: { $0 != 0x20 && $0 != 0x09 }),
              let last = utf8.lastIndex(where: { $0 != 0x20 && $0 != 0x09 }) else { return "" }
        return text[first...last]
    }
}
