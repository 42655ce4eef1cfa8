// Resolves the names of the DNS clusters in force, again every refresh interval, off the event loops.

import Dispatch
import ProxyConfig
import Synchronization

/// Keeps the DNS clusters of the current config resolved: each is looked up when it appears
/// (or its names or settings change) and then every `dns_refresh_rate`, on a background queue
/// (the system resolver blocks). Each completed round reports the cluster's endpoints with
/// addresses in place of names. A failed lookup keeps the addresses from the last good one
/// (Envoy does the same) and is logged when its reason changes, not every round.
public final class DNSRefresher: Sendable {
    public typealias Lookup = @Sendable (String, ClusterConfig.DNSResolution.Family) throws -> [String]
    /// (cluster, its endpoints with addresses in place of names).
    public typealias Resolved = @Sendable (String, LoadAssignment) -> Void

    private struct Entry {
        let assignment: LoadAssignment
        let resolution: ClusterConfig.DNSResolution
        let key: String
        let generation: Int
        var addresses: [String: [String]] = [:]
        var delivered = false
        var lastError: String?
    }

    private let entries = Mutex<[String: Entry]>([:])
    private let generations = Atomic<Int>(0)
    private let lookup: Lookup
    /// Set once after init (the receiver usually owns this refresher).
    private let resolved = Mutex<Resolved?>(nil)
    private let log: @Sendable (String) -> Void
    private let queue = DispatchQueue(label: "meshproxy-dns", attributes: .concurrent)

    public init(lookup: @escaping Lookup = { try DNSLookup.addresses(of: $0, family: $1) },
                log: @escaping @Sendable (String) -> Void) {
        self.lookup = lookup
        self.log = log
    }

    /// Where each round's result goes.
    public func deliver(to receiver: @escaping Resolved) {
        resolved.withLock { $0 = receiver }
    }

    /// Resolves exactly these clusters from now on: new ones (and changed ones) at once,
    /// removed ones no more. Returns the clusters whose first round is now under way.
    @discardableResult
    public func track(_ clusters: [String: (LoadAssignment, ClusterConfig.DNSResolution)]) -> Set<String> {
        var started: [(String, Int)] = []
        entries.withLock { entries in
            entries = entries.filter { clusters[$0.key] != nil }
            for (name, (assignment, resolution)) in clusters {
                let key = Self.key(assignment, resolution)
                if entries[name]?.key == key { continue }
                let generation = generations.add(1, ordering: .relaxed).newValue
                entries[name] = Entry(assignment: assignment, resolution: resolution, key: key, generation: generation)
                started.append((name, generation))
            }
        }
        for (name, generation) in started { queue.async { self.round(name, generation: generation) } }
        return Set(started.map(\.0))
    }

    /// What makes a resolution different: the endpoints (names, ports, weights) and settings.
    static func key(_ assignment: LoadAssignment, _ resolution: ClusterConfig.DNSResolution) -> String {
        let endpoints = assignment.localities.map { group in
            "\(group.locality)/\(group.priority)/\(group.weight):" + group.endpoints.map { "\($0.address)*\($0.weight)\($0.health)\($0.tlsMode ?? "")" }.joined(separator: ",")
        }
        return "\(resolution)|" + endpoints.joined(separator: ";")
    }

    private func round(_ name: String, generation: Int) {
        guard let entry = entries.withLock({ $0[name].flatMap { $0.generation == generation ? $0 : nil } }) else { return }
        var addresses = entry.addresses
        var errors: [String] = []
        for host in DNSEndpoints.names(in: entry.assignment).sorted() {
            do {
                addresses[host] = try lookup(host, entry.resolution.family)
            } catch {
                errors.append("\(error)")  // the last good addresses of this name stay
            }
        }
        let error = errors.isEmpty ? nil : errors.joined(separator: "; ")
        // Deliver the first round, and later ones only when an address changed.
        let (current, changed): (Bool, Bool) = entries.withLock { entries in
            guard let previous = entries[name], previous.generation == generation else { return (false, false) }
            entries[name]?.addresses = addresses
            entries[name]?.delivered = true
            if previous.lastError != error {
                entries[name]?.lastError = error
                if let error { log("cluster \(name): DNS lookup failed, keeping the last addresses: \(error)") }
            }
            return (true, !previous.delivered || previous.addresses != addresses)
        }
        guard current else { return }
        if changed, let receiver = resolved.withLock({ $0 }) {
            receiver(name, DNSEndpoints.expand(entry.assignment, addresses: addresses, logical: entry.resolution.logical))
        }
        let delay = entry.resolution.refresh.components
        let nanoseconds = Int(delay.seconds) * 1_000_000_000 + Int(delay.attoseconds / 1_000_000_000)
        queue.asyncAfter(deadline: .now() + .nanoseconds(max(1_000_000, nanoseconds))) { self.round(name, generation: generation) }
    }

    /// Stops every cluster's rounds (shutdown).
    public func stop() {
        entries.withLock { $0.removeAll() }
    }
}
