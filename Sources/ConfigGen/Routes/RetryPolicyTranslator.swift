// Timeouts and HTTPRetry → Envoy's timeout, max_stream_duration and RetryPolicy, with Istio's defaults.

import EnvoyAPI
import Foundation
import MeshAPI
import SwiftProtobuf

/// Istio's retry and timeout semantics: no route timeout unless one is given; two retries on
/// connection failures and 503s unless `retries` says otherwise; `attempts: 0` turns retries off.
enum RetryPolicyTranslator {
    /// Istio's default retry conditions.
    static let defaultRetryOn = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"

    /// Sets the route's timeout; gRPC's `grpc-timeout` header may not stretch it (Istio's choice).
    /// Istio uses the deprecated `max_grpc_timeout` for that, and so do we: setting any part of
    /// `max_stream_duration` switches Envoy to its "new timeouts", which ignore `timeout` (a
    /// 500 ms VirtualService timeout then never fires; the conformance scenario caught it).
    static func applyTimeout(_ timeout: ProtoDuration?, to action: inout Envoy_Config_Route_V3_RouteAction) {
        let duration = timeout.map(TrafficPolicyTranslator.protoDuration) ?? Google_Protobuf_Duration(seconds: 0)
        action.timeout = duration
        action.maxGrpcTimeout = duration
    }

    /// The retry policy of a route; nil when retries are off.
    static func retryPolicy(_ retries: HTTPRetry?) -> Envoy_Config_Route_V3_RetryPolicy? {
        var policy = defaultPolicy()
        guard let retries else { return policy }
        let attempts = retries.attempts ?? 2
        if attempts <= 0 { return nil }
        policy.numRetries = Google_Protobuf_UInt32Value(UInt32(attempts))
        if let retryOn = retries.retryOn, !retryOn.isEmpty {
            // Numbers in retryOn are status codes; Envoy wants them apart, behind one condition.
            var conditions: [String] = []
            var codes: [UInt32] = []
            for token in retryOn.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !token.isEmpty {
                if let code = UInt32(token) { codes.append(code) } else if !conditions.contains(token) { conditions.append(token) }
            }
            if !codes.isEmpty && !conditions.contains("retriable-status-codes") { conditions.append("retriable-status-codes") }
            policy.retryOn = conditions.joined(separator: ",")
            policy.retriableStatusCodes = codes
        }
        if let perTry = retries.perTryTimeout { policy.perTryTimeout = TrafficPolicyTranslator.protoDuration(perTry) }
        if retries.retryIgnorePreviousHosts == false { policy.retryHostPredicate = [] }
        if let backoff = retries.backoff { policy.retryBackOff.baseInterval = TrafficPolicyTranslator.protoDuration(backoff) }
        if retries.retryRemoteLocalities == true { policy.retryPriority = previousPriorities() }
        return policy
    }

    /// `retryRemoteLocalities`: retries move on to the next priority (the next locality out)
    /// instead of staying with the one that failed; Envoy recomputes the priority load after every
    /// second attempt, the value its documentation shows.
    static func previousPriorities() -> Envoy_Config_Route_V3_RetryPolicy.RetryPriority {
        var config = Envoy_Extensions_Retry_Priority_PreviousPriorities_V3_PreviousPrioritiesConfig()
        config.updateFrequency = 2
        var priority = Envoy_Config_Route_V3_RetryPolicy.RetryPriority()
        priority.name = "envoy.retry_priorities.previous_priorities"
        priority.typedConfig = try! Google_Protobuf_Any(message: config)
        return priority
    }

    /// Istio's `DefaultRetryPolicy`: 2 retries, retry on another host (up to 5 picks).
    static func defaultPolicy() -> Envoy_Config_Route_V3_RetryPolicy {
        var policy = Envoy_Config_Route_V3_RetryPolicy()
        policy.retryOn = defaultRetryOn
        policy.numRetries = Google_Protobuf_UInt32Value(2)
        policy.retriableStatusCodes = [503]
        var previousHosts = Envoy_Config_Route_V3_RetryPolicy.RetryHostPredicate()
        previousHosts.name = "envoy.retry_host_predicates.previous_hosts"
        previousHosts.typedConfig = try! Google_Protobuf_Any(message: Envoy_Extensions_Retry_Host_PreviousHosts_V3_PreviousHostsPredicate())
        policy.retryHostPredicate = [previousHosts]
        policy.hostSelectionRetryMaxAttempts = 5
        return policy
    }
}
