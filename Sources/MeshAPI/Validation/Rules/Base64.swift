// Base64 as direct-response bodies carry bytes.

enum Base64 {
    /// The decoded size of standard base64 text, or nil if it is not base64.
    static func decodedLength(_ text: String) -> Int? {
        let bytes = Array(text.utf8).filter { $0 != UInt8(ascii: "\n") && $0 != UInt8(ascii: "\r") }
        guard bytes.count % 4 == 0 else { return nil }
        var padding = 0
        for (index, byte) in bytes.enumerated() {
            let isAlphabet = (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122) || (byte >= 48 && byte <= 57) || byte == 43 || byte == 47
            if byte == UInt8(ascii: "=") {
                guard index >= bytes.count - 2 else { return nil }
                padding += 1
            } else if !isAlphabet || padding > 0 {
                return nil
            }
        }
        return bytes.count / 4 * 3 - padding
    }
}
