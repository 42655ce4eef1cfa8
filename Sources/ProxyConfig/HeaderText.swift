// What may go into an HTTP header: checked when config arrives, so the proxy can write headers
// without validating them again per response.

/// RFC 9110 field names (tokens) and values (no CR, LF or NUL). Values from the config (added
/// headers, CORS, redirects, rewrites) are checked here once; values from a peer were checked by
/// the HTTP parser that read them. With both sources clean, the downstream encoder's per-write
/// header validator is left out of the pipeline.
public enum HeaderText {
    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy(isTokenByte)
    }

    public static func isValidValue(_ value: String) -> Bool {
        !value.utf8.contains { $0 == 0x0d || $0 == 0x0a || $0 == 0x00 }
    }

    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }

    /// Throws naming `path` when `value` could not be written into a header.
    static func requireValue(_ value: String, at path: String) throws {
        guard isValidValue(value) else { throw ProxyConfigError(path, "contains CR, LF or NUL, which a header value cannot hold") }
    }

    static func requireName(_ name: String, at path: String) throws {
        guard isValidName(name) else { throw ProxyConfigError(path, "\"\(name)\" is not a valid header name") }
    }
}
