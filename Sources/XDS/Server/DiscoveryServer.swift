// The hub of meshd's xDS: the snapshot in force, the connected proxies, debounced pushes.

import Foundation
import MeshModel
import XDSClient

/// Holds the snapshot proxies are served from and hands each new one to every connected
/// stream after a quiet period, so a burst of file writes becomes one push.
public actor DiscoveryServer {
    /// Istio's PILOT_DEBOUNCE_AFTER / PILOT_DEBOUNCE_MAX: wait `quiet` after the last change,
    /// but never longer than `maximum` after the first.
    public struct Debounce: Sendable {
        public var quiet: Duration
        public var maximum: Duration

        public init(quiet: Duration = .milliseconds(100), maximum: Duration = .seconds(1)) {
            self.quiet = quiet
            self.maximum = maximum
        }
    }

    /// Counters for meshd's log and debug API.
    public struct Counters: Sendable, Codable {
        public var snapshotsPublished = 0
        public var pushes = 0
        public var nacks = 0
        public var rejectedStreams = 0
    }

    /// The snapshot in force, with the generation state every proxy shares.
    public private(set) var published: PublishedSnapshot
    public var snapshot: MeshSnapshot { published.snapshot }
    public private(set) var counters = Counters()
    /// Pushes and rejections per type, and push convergence (read from any task).
    public nonisolated let metrics = XDSMetrics()
    private let debounce: Debounce
    private var pending: MeshSnapshot?
    private var pendingSince: ContinuousClock.Instant?
    private var lastChange: ContinuousClock.Instant?
    private var debounceTask: Task<Void, Never>?
    private var connections: [UInt64: ProxyConnection] = [:]
    private var nextConnectionID: UInt64 = 0
    let log: @Sendable (String) -> Void

    public init(snapshot: MeshSnapshot, debounce: Debounce = Debounce(), log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.published = PublishedSnapshot(snapshot)
        self.debounce = debounce
        self.log = log
    }

    /// The proxies connected now, ordered by node ID.
    public var connectedProxies: [ProxyConnection] {
        connections.values.sorted { ($0.identity.nodeID.description, $0.id) < ($1.identity.nodeID.description, $1.id) }
    }

    /// Takes a new snapshot; proxies get it once changes have been quiet for the debounce period.
    public func publish(_ snapshot: MeshSnapshot) {
        pending = snapshot
        let now = ContinuousClock.now
        lastChange = now
        if pendingSince == nil { pendingSince = now }
        guard debounceTask == nil else { return }
        debounceTask = Task { await self.runDebounce() }
    }

    private func runDebounce() async {
        while let since = pendingSince, let last = lastChange {
            let deadline = min(last + debounce.quiet, since + debounce.maximum)
            if ContinuousClock.now >= deadline { break }
            do {
                try await Task.sleep(until: deadline, clock: .continuous)
            } catch {
                // Cancelled (meshd is stopping): publish what is pending now rather than drop it.
                break
            }
        }
        if let pending {
            published = PublishedSnapshot(pending)
            counters.snapshotsPublished += 1
            for connection in connections.values { connection.snapshotContinuation.yield(published) }
        }
        pending = nil
        pendingSince = nil
        lastChange = nil
        debounceTask = nil
    }

    /// Registers a stream; it gets every snapshot published from now on.
    func connect(_ identity: ProxyIdentity, protocolName: String) -> ProxyConnection {
        nextConnectionID += 1
        let connection = ProxyConnection(id: nextConnectionID, identity: identity, protocolName: protocolName)
        connections[connection.id] = connection
        log("xds: \(identity.nodeID) connected over \(protocolName)")
        return connection
    }

    func disconnect(_ connection: ProxyConnection) {
        connection.snapshotContinuation.finish()
        connections[connection.id] = nil
        log("xds: \(connection.identity.nodeID) disconnected")
    }

    func count(pushes: Int = 0, nacks: Int = 0, rejectedStreams: Int = 0) {
        counters.pushes += pushes
        counters.nacks += nacks
        counters.rejectedStreams += rejectedStreams
    }
}
