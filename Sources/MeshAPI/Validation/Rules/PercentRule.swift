// Percentages of requests (fault injection).

enum PercentRule {
    /// Envoy takes fault percentages in millionths: 0, or 0.0001 to 100.
    static func faultProblem(_ value: Double) -> String? {
        if value == 0 || (value >= 0.0001 && value <= 100) { return nil }
        return "percentage \(value.shownInMessage) must be 0, or between 0.0001 and 100"
    }
}

extension Double {
    /// `100` rather than `100.0` in messages.
    var shownInMessage: String {
        self == rounded() && Swift.abs(self) < 1e15 ? String(Int64(self)) : String(self)
    }
}
