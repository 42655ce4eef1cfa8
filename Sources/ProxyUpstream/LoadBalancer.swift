// Choosing a host: priority by health, locality by weight, then the cluster's policy among the candidates.

import NIOCore
import ProxyConfig

/// What a choice depends on besides the cluster: a hash key (consistent hashing) and, on
/// retries, the hosts and priorities already tried.
public struct LoadBalancerContext {
    public var hashKey: UInt64?
    public var triedHosts: [SocketAddressConfig] = []
    public var avoidTriedHosts = false
    public var triedPriorities: Set<Int> = []
    public var avoidTriedPriorities = false
    public var hostSelectionAttempts = 1
    /// The downstream connection's original destination (iptables capture): the host an
    /// ORIGINAL_DST cluster connects to.
    public var originalDestination: SocketAddress?

    public init(hashKey: UInt64? = nil) { self.hashKey = hashKey }
}

/// One worker's balancing state (round-robin positions); the rest is in the cluster and its hosts.
public struct LoadBalancerState {
    var roundRobin: [ObjectIdentifier: Int] = [:]
    public init() {}
}

extension UpstreamCluster {
    /// A host for the next request, or nil when the cluster has none to offer.
    public func chooseHost(_ context: LoadBalancerContext, state: inout LoadBalancerState,
                           now: NIODeadline = .now()) -> UpstreamHost? {
        if let originalDestinations {
            // The connection says where it goes; without an original destination (a connection
            // that was not redirected) there is no host, as in Envoy.
            return context.originalDestination.flatMap(originalDestinations.host(for:))
        }
        guard let level = chooseLevel(context, now: now) else { return nil }
        // Count before filtering: when every host is available (the usual case) the level's own
        // array is the candidate list and nothing is allocated per request.
        var available = 0
        for index in level.hosts.indices where level.hosts[index].isAvailable(now: now) { available += 1 }
        var candidates = level.hosts
        // Panic: with too few healthy hosts, spread over all of them rather than overload the few.
        let panic = Double(available) < Double(level.hosts.count) * config.healthyPanicThreshold / 100
        if available < level.hosts.count, !panic {
            candidates = level.hosts.filter { $0.isAvailable(now: now) }
        }
        if config.localityWeighted, level.localities.count > 1, let group = chooseLocality(level, now: now) {
            let inGroup = candidates.filter { $0.locality == group.locality }
            if !inGroup.isEmpty { candidates = inGroup }
        }
        guard !candidates.isEmpty else { return nil }
        var chosen: UpstreamHost?
        for _ in 0..<max(1, context.hostSelectionAttempts) {
            chosen = pick(from: candidates, level: level, context: context, state: &state)
            guard let host = chosen, context.avoidTriedHosts, context.triedHosts.contains(host.address) else { break }
        }
        return chosen
    }

    /// Envoy's priority load: each level takes (healthy share × overprovisioning) of the traffic,
    /// the rest spills to the next level; levels already tried are skipped on retry when asked.
    func chooseLevel(_ context: LoadBalancerContext, now: NIODeadline) -> PriorityLevel? {
        guard levels.count > 1 else { return levels.first }
        var health: [Int] = levels.map { level in
            if context.avoidTriedPriorities, context.triedPriorities.contains(level.priority) { return 0 }
            guard !level.hosts.isEmpty else { return 0 }
            let available = level.hosts.reduce(0) { $0 + ($1.isAvailable(now: now) ? 1 : 0) }
            return min(100, available * overprovisioningFactor / level.hosts.count)
        }
        if health.allSatisfy({ $0 == 0 }) {
            // Nothing healthy anywhere: everything goes to the first level not excluded.
            let index = levels.indices.first { !(context.avoidTriedPriorities && context.triedPriorities.contains(levels[$0].priority)) } ?? 0
            return levels[index]
        }
        var remaining = 100
        for index in health.indices {
            let take = min(remaining, health[index])
            health[index] = take
            remaining -= take
        }
        let total = health.reduce(0, +)
        var draw = Int.random(in: 0..<total)
        for (index, load) in health.enumerated() {
            if draw < load { return levels[index] }
            draw -= load
        }
        return levels.last
    }

    /// A locality by weight × availability (Envoy's locality-weighted balancing).
    func chooseLocality(_ level: PriorityLevel, now: NIODeadline) -> LocalityGroup? {
        let effective = level.localities.map { group -> Int in
            guard !group.hosts.isEmpty else { return 0 }
            let available = group.hosts.reduce(0) { $0 + ($1.isAvailable(now: now) ? 1 : 0) }
            return group.weight * min(100, available * overprovisioningFactor / group.hosts.count)
        }
        let total = effective.reduce(0, +)
        guard total > 0 else { return nil }
        var draw = Int.random(in: 0..<total)
        for (index, weight) in effective.enumerated() {
            if draw < weight { return level.localities[index] }
            draw -= weight
        }
        return nil
    }

    func pick(from candidates: [UpstreamHost], level: PriorityLevel, context: LoadBalancerContext,
              state: inout LoadBalancerState) -> UpstreamHost {
        if candidates.count == 1 { return candidates[0] }
        switch config.loadBalancer {
        case .roundRobin, .clusterProvided:
            let key = ObjectIdentifier(self)
            let position = state.roundRobin[key, default: Int.random(in: 0..<candidates.count)]
            state.roundRobin[key] = position &+ 1
            if candidates.allSatisfy({ $0.weight == candidates[0].weight }) {
                return candidates[position % candidates.count]
            }
            return weightedDraw(candidates)
        case .random:
            return weightedDraw(candidates)
        case .leastRequest(let choices):
            var best = candidates[Int.random(in: 0..<candidates.count)]
            for _ in 1..<choices {
                let other = candidates[Int.random(in: 0..<candidates.count)]
                if other.state.outstandingRequests < best.state.outstandingRequests { best = other }
            }
            return best
        case .ringHash, .maglev:
            guard let key = context.hashKey, !level.ring.isEmpty else { return weightedDraw(candidates) }
            // The first point at or after the key whose host is a candidate.
            var low = 0
            var high = level.ring.count
            while low < high {
                let middle = (low + high) / 2
                if level.ring[middle].hash < key { low = middle + 1 } else { high = middle }
            }
            let allowed = Set(candidates.map(\.address))
            for step in 0..<level.ring.count {
                let host = level.hosts[level.ring[(low + step) % level.ring.count].host]
                if allowed.contains(host.address) { return host }
            }
            return candidates[0]
        }
    }

    func weightedDraw(_ candidates: [UpstreamHost]) -> UpstreamHost {
        let total = candidates.reduce(0) { $0 + $1.weight }
        var draw = Int.random(in: 0..<max(1, total))
        for host in candidates {
            if draw < host.weight { return host }
            draw -= host.weight
        }
        return candidates[candidates.count - 1]
    }
}
