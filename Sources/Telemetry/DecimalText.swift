// Numbers written into access-log lines as decimal digits, without building a string per value.

/// Decimal digits written straight into a line.
enum DecimalText {
    /// `value` in decimal, left-padded with zeros to `width` digits.
    static func append(_ value: Int64, width: Int = 1, to out: inout [UInt8]) {
        if value < 0 { out.append(UInt8(ascii: "-")) }
        let start = out.count
        var magnitude = value.magnitude
        repeat {
            out.append(UInt8(ascii: "0") + UInt8(magnitude % 10))
            magnitude /= 10
        } while magnitude > 0
        while out.count - start < width { out.append(UInt8(ascii: "0")) }
        out[start...].reverse()
    }
}
