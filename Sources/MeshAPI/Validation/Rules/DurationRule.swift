// Istio's rule for durations: at least 1ms, in whole milliseconds.

enum DurationRule {
    static func problem(_ duration: ProtoDuration, allowZero: Bool = false) -> String? {
        if allowZero && duration.nanoseconds == 0 { return nil }
        if duration.nanoseconds < 1_000_000 {
            return "duration \"\(duration.text)\" must be at least 1ms"
        }
        if duration.nanoseconds % 1_000_000 != 0 {
            return "duration \"\(duration.text)\" must be a whole number of milliseconds"
        }
        return nil
    }
}

extension ValidationContext {
    mutating func duration(_ path: FieldPath, _ value: ProtoDuration?, allowZero: Bool = false) {
        if let value { check(path, DurationRule.problem(value, allowZero: allowZero)) }
    }
}
