// Envoy's response flags: why a request or connection ended the way it did, in Envoy's short codes and order.

/// The flags of one request or TCP connection. `%RESPONSE_FLAGS%` prints them comma-separated in
/// Envoy's order (or `-`), and Istio's `response_flags` label carries the same text, so tooling
/// that reads Envoy's logs reads ours.
public struct ResponseFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// In Envoy's order (its `ResponseFlag` enum), with the short code each prints as.
    public static let all: [(flag: ResponseFlags, code: String)] = [
        (.failedLocalHealthCheck, "LH"), (.noHealthyUpstream, "UH"), (.upstreamRequestTimeout, "UT"),
        (.localReset, "LR"), (.upstreamRemoteReset, "UR"), (.upstreamConnectionFailure, "UF"),
        (.upstreamConnectionTermination, "UC"), (.upstreamOverflow, "UO"), (.noRouteFound, "NR"),
        (.delayInjected, "DI"), (.faultInjected, "FI"), (.rateLimited, "RL"), (.unauthorizedExternalService, "UAEX"),
        (.rateLimitServiceError, "RLSE"), (.downstreamConnectionTermination, "DC"), (.upstreamRetryLimitExceeded, "URX"),
        (.streamIdleTimeout, "SI"), (.invalidEnvoyRequestHeaders, "IH"), (.downstreamProtocolError, "DPE"),
        (.upstreamMaxStreamDurationReached, "UMSDR"), (.responseFromCacheFilter, "RFCF"), (.noFilterConfigFound, "NFCF"),
        (.durationTimeout, "DT"), (.upstreamProtocolError, "UPE"), (.noClusterFound, "NC"), (.overloadManager, "OM"),
        (.dnsResolutionFailed, "DF"), (.dropOverload, "DO"), (.downstreamRemoteReset, "DR"),
    ]

    public static let failedLocalHealthCheck = ResponseFlags(rawValue: 1 << 0)
    public static let noHealthyUpstream = ResponseFlags(rawValue: 1 << 1)
    public static let upstreamRequestTimeout = ResponseFlags(rawValue: 1 << 2)
    public static let localReset = ResponseFlags(rawValue: 1 << 3)
    public static let upstreamRemoteReset = ResponseFlags(rawValue: 1 << 4)
    public static let upstreamConnectionFailure = ResponseFlags(rawValue: 1 << 5)
    public static let upstreamConnectionTermination = ResponseFlags(rawValue: 1 << 6)
    public static let upstreamOverflow = ResponseFlags(rawValue: 1 << 7)
    public static let noRouteFound = ResponseFlags(rawValue: 1 << 8)
    public static let delayInjected = ResponseFlags(rawValue: 1 << 9)
    public static let faultInjected = ResponseFlags(rawValue: 1 << 10)
    public static let rateLimited = ResponseFlags(rawValue: 1 << 11)
    public static let unauthorizedExternalService = ResponseFlags(rawValue: 1 << 12)
    public static let rateLimitServiceError = ResponseFlags(rawValue: 1 << 13)
    public static let downstreamConnectionTermination = ResponseFlags(rawValue: 1 << 14)
    public static let upstreamRetryLimitExceeded = ResponseFlags(rawValue: 1 << 15)
    public static let streamIdleTimeout = ResponseFlags(rawValue: 1 << 16)
    public static let invalidEnvoyRequestHeaders = ResponseFlags(rawValue: 1 << 17)
    public static let downstreamProtocolError = ResponseFlags(rawValue: 1 << 18)
    public static let upstreamMaxStreamDurationReached = ResponseFlags(rawValue: 1 << 19)
    public static let responseFromCacheFilter = ResponseFlags(rawValue: 1 << 20)
    public static let noFilterConfigFound = ResponseFlags(rawValue: 1 << 21)
    public static let durationTimeout = ResponseFlags(rawValue: 1 << 22)
    public static let upstreamProtocolError = ResponseFlags(rawValue: 1 << 23)
    public static let noClusterFound = ResponseFlags(rawValue: 1 << 24)
    public static let overloadManager = ResponseFlags(rawValue: 1 << 25)
    public static let dnsResolutionFailed = ResponseFlags(rawValue: 1 << 26)
    public static let dropOverload = ResponseFlags(rawValue: 1 << 27)
    public static let downstreamRemoteReset = ResponseFlags(rawValue: 1 << 28)

    /// The flag Envoy prints as `code` (`UF`, `NR`...), nil for a code Envoy does not define.
    public init?(code: String) {
        guard let entry = Self.all.first(where: { $0.code == code }) else { return nil }
        self = entry.flag
    }

    /// `UF,URX`, or `-` when no flag is set.
    public var shortCodes: String {
        var text: [UInt8] = []
        append(to: &text)
        return String(decoding: text, as: UTF8.self)
    }

    /// Appends `shortCodes` to a line.
    public func append(to line: inout [UInt8]) {
        if isEmpty {
            line.append(UInt8(ascii: "-"))
            return
        }
        var first = true
        for (flag, code) in Self.all where contains(flag) {
            if !first { line.append(UInt8(ascii: ",")) }
            first = false
            line.append(contentsOf: code.utf8)
        }
    }
}
