// Istio's percentages (`{value: 12.5}`) as Envoy's fractional percents.

import EnvoyAPI
import MeshAPI

extension Envoy_Type_V3_FractionalPercent {
    /// Istio's translation: the value in millionths, so fractions such as 0.1% survive.
    init(percent value: Double) {
        self.init()
        numerator = UInt32((min(max(value, 0), 100) * 10_000).rounded())
        denominator = .million
    }

    /// A share given by the deprecated integer `percent` fields.
    init(integerPercent value: Int32) {
        self.init()
        numerator = UInt32(min(max(value, 0), 100))
        denominator = .hundred
    }
}
