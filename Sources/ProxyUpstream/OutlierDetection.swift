// Outlier detection: consecutive failures eject a host for a growing time, across all workers.

import NIOCore
import ProxyConfig

extension UpstreamCluster {
    /// What became of one request to `host`, for outlier detection.
    public enum Outcome: Sendable {
        case response(status: Int)
        /// Connect failure, reset or timeout before any response (a locally seen failure).
        case localFailure
        /// A connection was made (TCP proxying): ends a run of local failures only.
        case connected
    }

    /// Counts `outcome` against `host`; ejects it when a consecutive-failure threshold is reached
    /// and enforcement allows (never more than `maxEjectionPercent` of the hosts, but always
    /// one when that share rounds to none, as Envoy does).
    public func record(_ outcome: Outcome, for host: UpstreamHost, now: NIODeadline = .now()) {
        guard let detection = config.outlierDetection else { return }
        let state = host.state
        switch outcome {
        case .response(let status) where status < 500:
            state.consecutive5xx.store(0, ordering: .relaxed)
            state.consecutiveGatewayFailures.store(0, ordering: .relaxed)
            state.consecutiveLocalFailures.store(0, ordering: .relaxed)
            return
        case .response(let status):
            let fiveXX = state.consecutive5xx.wrappingAdd(1, ordering: .relaxed).newValue
            let gateway = (502...504).contains(status) ? state.consecutiveGatewayFailures.wrappingAdd(1, ordering: .relaxed).newValue : 0
            if fiveXX >= detection.consecutive5xx, enforced(detection.enforcingConsecutive5xx) {
                eject(host, detection: detection, now: now)
            } else if gateway >= detection.consecutiveGatewayFailure, enforced(detection.enforcingConsecutiveGatewayFailure) {
                eject(host, detection: detection, now: now)
            }
        case .connected:
            if detection.splitExternalLocalOriginErrors {
                state.consecutiveLocalFailures.store(0, ordering: .relaxed)
            } else {
                state.consecutive5xx.store(0, ordering: .relaxed)
            }
        case .localFailure:
            if detection.splitExternalLocalOriginErrors {
                let local = state.consecutiveLocalFailures.wrappingAdd(1, ordering: .relaxed).newValue
                if local >= detection.consecutiveLocalOriginFailure { eject(host, detection: detection, now: now) }
            } else {
                // Unsplit, a local failure counts as a 503 from the host (Envoy's mapping).
                record(.response(status: 503), for: host, now: now)
            }
        }
    }

    private func enforced(_ percent: Int) -> Bool {
        percent >= 100 || (percent > 0 && Int.random(in: 0..<100) < percent)
    }

    private func eject(_ host: UpstreamHost, detection: ClusterConfig.OutlierDetection, now: NIODeadline) {
        guard !host.state.isEjected(now: now) else { return }
        let hosts = levels.flatMap(\.hosts)
        let ejected = hosts.reduce(0) { $0 + ($1.state.isEjected(now: now) ? 1 : 0) }
        if ejected > 0, (ejected + 1) * 100 > detection.maxEjectionPercent * hosts.count { return }
        let times = host.state.ejections.wrappingAdd(1, ordering: .relaxed).newValue
        let duration = min(detection.baseEjectionTime * times, max(detection.baseEjectionTime, detection.maxEjectionTime))
        let until = now.uptimeNanoseconds &+ UInt64(duration.components.seconds) * 1_000_000_000
            &+ UInt64(duration.components.attoseconds / 1_000_000_000)
        host.state.ejectedUntil.store(until, ordering: .relaxed)
        host.state.consecutive5xx.store(0, ordering: .relaxed)
        host.state.consecutiveGatewayFailures.store(0, ordering: .relaxed)
        host.state.consecutiveLocalFailures.store(0, ordering: .relaxed)
    }
}
