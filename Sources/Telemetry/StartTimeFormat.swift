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

    /// The time `microseconds` after the epoch, in UTC.
    public func render(microseconds: Int64) -> String {
        let seconds = microseconds >= 0 ? microseconds / 1_000_000 : (microseconds - 999_999) / 1_000_000
        let micros = microseconds - seconds * 1_000_000
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        let (year, month, day) = Self.civil(fromDays: days)
        var out = ""
        for piece in pieces {
            switch piece {
            case .literal(let text): out += text
            case .year: out += Self.padded(year, 4)
            case .month: out += Self.padded(month, 2)
            case .day: out += Self.padded(day, 2)
            case .hour: out += Self.padded(secondOfDay / 3600, 2)
            case .minute: out += Self.padded(secondOfDay / 60 % 60, 2)
            case .second: out += Self.padded(secondOfDay % 60, 2)
            case .secondsWithFraction(let digits):
                out += Self.padded(secondOfDay % 60, 2) + "." + Self.fraction(micros, digits: digits)
            case .fraction(let digits): out += Self.fraction(micros, digits: digits)
            case .epochSeconds: out += String(seconds)
            case .zoneOffset: out += "+0000"
            case .zoneName: out += "UTC"
            }
        }
        return out
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

    private static func padded(_ value: Int64, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }

    /// The first `digits` digits of the fraction of a second (nanosecond digits beyond microseconds are 0).
    private static func fraction(_ micros: Int64, digits: Int) -> String {
        String((padded(micros, 6) + "000").prefix(digits))
    }
}
