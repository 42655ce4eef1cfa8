// HTTPFaultInjection → the envoy.filters.http.fault filter's per-route HTTPFault.

import EnvoyAPI
import MeshAPI
import SwiftProtobuf

/// Istio's `fault`: the fault filter sits in every HTTP connection manager doing nothing until a
/// route carries an HTTPFault in `typed_per_filter_config`.
enum FaultTranslator {
    static func fault(_ fault: HTTPFaultInjection, field: String, resource: ResourceReference) throws -> Envoy_Extensions_Filters_Http_Fault_V3_HTTPFault {
        var out = Envoy_Extensions_Filters_Http_Fault_V3_HTTPFault()
        if let delay = fault.delay {
            guard let fixed = delay.fixedDelay else {
                throw TranslationError(resource, field: "\(field).fault.delay", reason: "only fixedDelay can be expressed in Envoy's fault filter")
            }
            out.delay.fixedDelay = TrafficPolicyTranslator.protoDuration(fixed)
            out.delay.percentage = share(delay.percentage, legacy: delay.percent)
        }
        if let abort = fault.abort {
            if let status = abort.httpStatus {
                out.abort.httpStatus = UInt32(status)
            } else if let grpc = abort.grpcStatus {
                guard let code = grpcCodes[grpc] else {
                    throw TranslationError(resource, field: "\(field).fault.abort.grpcStatus", reason: "\"\(grpc)\" is not a gRPC status name")
                }
                out.abort.grpcStatus = code
            } else {
                throw TranslationError(resource, field: "\(field).fault.abort", reason: "Envoy's fault filter aborts with httpStatus or grpcStatus only")
            }
            out.abort.percentage = share(abort.percentage, legacy: nil)
        }
        return out
    }

    /// Unset means no request at all, as Istio documents it.
    private static func share(_ percentage: Percent?, legacy: Int32?) -> Envoy_Type_V3_FractionalPercent {
        if let value = percentage?.value { return Envoy_Type_V3_FractionalPercent(percent: value) }
        return Envoy_Type_V3_FractionalPercent(integerPercent: legacy ?? 0)
    }

    static let grpcCodes: [String: UInt32] = [
        "OK": 0, "CANCELLED": 1, "UNKNOWN": 2, "INVALID_ARGUMENT": 3, "DEADLINE_EXCEEDED": 4, "NOT_FOUND": 5,
        "ALREADY_EXISTS": 6, "PERMISSION_DENIED": 7, "RESOURCE_EXHAUSTED": 8, "FAILED_PRECONDITION": 9, "ABORTED": 10,
        "OUT_OF_RANGE": 11, "UNIMPLEMENTED": 12, "INTERNAL": 13, "UNAVAILABLE": 14, "DATA_LOSS": 15, "UNAUTHENTICATED": 16,
    ]
}
