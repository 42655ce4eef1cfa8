// `%START_TIME(...)%`: the strftime subset Envoy's access logs use, always in UTC, rendered without Foundation.

/// A parsed START_TIME format. The default is Envoy's `%Y-%m-%dT%H:%M:%E3SZ`
/// (`2026-11-22T10:04:05.123Z`).
public struct StartTimeFormat: Sendable, Equatable {
    enum Piece: Sendable, Equatable {
        case literal(String)
        case year, month, day, hour, minute, second
        /// Seconds with `digits` fractional digits (`%E3S`).
        case secondsWithFraction(digits: Int)
        /// Only the fraction (`%3f`, `%6f`, `%9f`; `%f` is 9 digits).
        case fraction(digits: Int)
        case epochSeconds
        case zoneOffset
        case zoneName
    }

    let pieces: [Piece]

    public static let envoyDefault = try! StartTimeFormat("")

    /// Parses `format`; empty means Envoy's default.
    public init(_ format: String) throws(FormatError) {
        let text = format.isEmpty ? "%Y-%m-%dT%H:%M:%E3SZ" : format
        var pieces: [Piece] = []
        var literal = ""
        var characters = Array(text)[...]
        func flush() {
            if !literal.isEmpty { pieces.append(.literal(literal)); literal = "" }
        }
        while let character = characters.popFirst() {
            guard character == "%" else { literal.append(character); continue }
            guard let next = characters.popFirst() else { throw FormatError("START_TIME format \"\(format)\" ends with %") }
            var piece: Piece?
            switch next {
            case "%": literal.append("%")
            case "Y": piece = .year
            case "m": piece = .month
            case "d": piece = .day
            case "H": piece = .hour
            case "M": piece = .minute
            case "S": piece = .second
            case "s": piece = .epochSeconds
            case "z": piece = .zoneOffset
            case "Z": piece = .zoneName
            case "F": flush(); pieces += [.year, .literal("-"), .month, .literal("-"), .day]
            case "T": flush(); pieces += [.hour, .literal(":"), .minute, .literal(":"), .second]
            case "f": piece = .fraction(digits: 9)
            case "E":
                guard let digit = characters.popFirst(), let digits = digit.wholeNumberValue, (1...9).contains(digits),
                      characters.popFirst() == "S" else {
                    throw FormatError("START_TIME format \"\(format)\": %E must be followed by 1-9 and S (%E3S)")
                }
                piece = .secondsWithFraction(digits: digits)
            case let digit where digit.wholeNumberValue.map({ (1...9).contains($0) }) == true:
                guard characters.popFirst() == "f" else {
                    throw FormatError("START_TIME format \"\(format)\": %\(digit) must be followed by f (%3f)")
                }
                piece = .fraction(digits: digit.wholeNumberValue!)
            default:
                throw FormatError("START_TIME format \"\(format)\": %\(next) is not supported by meshproxy")
            }
            if let piece { flush(); pieces.append(piece) }
        }
        flush()
        self.pieces = pieces
    }

    /// Appends the time `microseconds` after the epoch, in UTC, to `out` (straight into the
    /// line: no string is built per request).
    public func append(microseconds: Int64, to out: inout [UInt8]) {
        let seconds = microseconds >= 0 ? microseconds / 1_000_000 : (microseconds - 999_999) / 1_000_000
        let micros = microseconds - seconds * 1_000_000
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        let (year, month, day) = Self.civil(fromDays: days)
        for piece in pieces {
            switch piece {
            case .literal(let text): out.append(contentsOf: text.utf8)
            case .year: DecimalText.append(year, width: 4, to: &out)
            case .month: DecimalText.append(month, width: 2, to: &out)
            case .day: DecimalText.append(day, width: 2, to: &out)
            case .hour: DecimalText.append(secondOfDay / 3600, width: 2, to: &out)
            case .minute: DecimalText.append(secondOfDay / 60 % 60, width: 2, to: &out)
            case .second: DecimalText.append(secondOfDay % 60, width: 2, to: &out)
            case .secondsWithFraction(let digits):
                DecimalText.append(secondOfDay % 60, width: 2, to: &out)
                out.append(UInt8(ascii: "."))
                Self.appendFraction(micros, digits: digits, to: &out)
            case .fraction(let digits): Self.appendFraction(micros, digits: digits, to: &out)
            case .epochSeconds: DecimalText.append(seconds, to: &out)
            case .zoneOffset: out.append(contentsOf: "+0000".utf8)
            case .zoneName: out.append(contentsOf: "UTC".utf8)
            }
        }
    }

    /// The first `digits` digits of the fraction of a second (nanosecond digits beyond microseconds are 0).
    private static func appendFraction(_ micros: Int64, digits: Int, to out: inout [UInt8]) {
        var divisor: Int64 = 100_000
        for _ in 0..<digits {
            out.append(divisor > 0 ? UInt8(ascii: "0") + UInt8(micros / divisor % 10) : UInt8(ascii: "0"))
            divisor /= 10
        }
    }

    /// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func civil(fromDays days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
