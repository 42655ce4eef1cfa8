// One event loop and the state only it touches: its config snapshot, balancing state, counters.

import NIOCore
import ProxyConfig
import ProxyUpstream
import Synchronization
import Telemetry

/// Counters one worker keeps without atomics (only its loop writes them); the admin page reads
/// them by running a task on the loop.
public struct WorkerStats: Sendable {
    public var connectionsAccepted = 0
    public var requests = 0
    public var responses2xx = 0
    public var responses3xx = 0
    public var responses4xx = 0
    public var responses5xx = 0
    public var upstreamConnectionsOpened = 0
    public var upstreamConnectFailures = 0
    public var upstreamRetries = 0
    public var upstreamTimeouts = 0
    public var overflows = 0
    public var noRoute = 0
    public var noHealthyUpstream = 0
    public var faultsInjected = 0
    public var mirrored = 0
    /// Upgrades (WebSocket) the upstream accepted: the connection became a byte pipe.
    public var upgrades = 0
    /// Requests that arrived as HTTP/2 streams.
    public var http2Streams = 0
    /// TCP proxy connections, those with no cluster to go to, and those closed for idling.
    public var tcpConnections = 0
    public var tcpNoCluster = 0
    public var tcpIdleTimeouts = 0
    /// Istio's TCP metadata exchange (istio-proxy's `metadata_exchange.*` counters): connections
    /// that negotiated its ALPN or did not, exchanges that did not start with the magic, and peers
    /// whose metadata arrived.
    public var exchangeALPNFound = 0
    public var exchangeALPNNotFound = 0
    public var exchangeHeaderNotFound = 0
    public var exchangeMetadataAdded = 0
    /// Requests the codec could not parse (400, 431).
    public var downstreamProtocolErrors = 0
    /// Requests whose head or body stopped arriving (408).
    public var downstreamTimeouts = 0
    /// Connections closed for having no request for the idle timeout.
    public var downstreamIdleClosed = 0
    /// TLS handshakes completed with clients, and those that failed (bad certificate, no
    /// certificate under mTLS, plaintext to a TLS-only chain, a secret not yet delivered).
    public var tlsHandshakes = 0
    public var tlsHandshakeErrors = 0
    /// Connections that matched no filter chain of their listener (closed at once, not logged:
    /// a client could flood the log).
    public var noFilterChainMatch = 0
    /// Connections a capture listener (`use_original_dst`) handed to the listener of their
    /// original destination.
    public var originalDestinationHandoffs = 0
    /// Connections told to drain because an update changed or removed their listener or filter
    /// chain (or `/drain_listeners`).
    public var connectionsDrained = 0
    /// Access-log lines written (after filters).
    public var accessLogLines = 0
    /// Spans handed to trace collectors, the reports that carried them, and spans dropped
    /// (no collector host, no connection to spare, or too many waiting).
    public var spansReported = 0
    public var traceReports = 0
    public var spansDropped = 0

    public init() {}

    public mutating func count(status: Int) {
        switch status {
        case 100..<200: break
        case 200..<300: responses2xx += 1
        case 300..<400: responses3xx += 1
        case 400..<500: responses4xx += 1
        default: responses5xx += 1
        }
    }
}

/// A worker: an event loop and what is confined to it. Its fields other than
/// `activeConnections` may be used only on `loop` (the class is `@unchecked Sendable` so the
/// control thread can hand it work with `loop.execute`).
public final class Worker: @unchecked Sendable {
    public let index: Int
    public let loop: EventLoop
    /// Open downstream connections: read by the acceptor to balance, so atomic.
    public let activeConnections = Atomic<Int>(0)
    public var snapshot: ProxySnapshot = .empty
    public var stats = WorkerStats()
    public var loadBalancing = LoadBalancerState()
    /// TLS contexts for this worker's connections, from the proxy's shared secrets.
    public let tls: TLSContexts
    /// Client connections open on this worker, with the listener and chain that accepted them.
    let connections = DownstreamConnections()
    /// How long a draining connection may take to finish before it is closed (Envoy's
    /// `--drain-time-s`; Istio runs its sidecars with 45 s).
    public let drainTime: TimeAmount

    /// Access-log lines this worker rendered and has not yet handed to their files.
    private let accessLogBuffers: AccessLogBuffers
    /// Istio's standard metrics of what this worker served (merged with the others' when scraped).
    public let istioMetrics = IstioMetricsRecorder()
    /// The workload this proxy runs beside, as its metrics and its metadata exchange name it.
    public let workload: WorkloadMetadata
    /// `workload` as `x-envoy-peer-metadata` announces it (encoded once), and the node ID that
    /// goes with it in `x-envoy-peer-metadata-id`.
    public let workloadHeader: String
    public let nodeID: String
    /// What this proxy writes first on a TCP connection that negotiated Istio's metadata
    /// exchange (encoded once).
    public let metadataExchangePrefix: [UInt8]
    /// The node's cluster (`app.namespace`): the service name of this proxy's trace spans.
    public let serviceCluster: String

    public init(index: Int, loop: EventLoop, secrets: SecretCache = SecretCache(), drainTime: TimeAmount = .seconds(45),
                accessLogFiles: AccessLogFiles = AccessLogFiles(), accessLogFlushInterval: TimeAmount = .seconds(1),
                workload: WorkloadMetadata = WorkloadMetadata(), nodeID: String = "", serviceCluster: String = "") {
        self.index = index
        self.loop = loop
        self.workload = workload
        self.workloadHeader = PeerMetadataHeaders.encode(workload)
        self.nodeID = nodeID
        self.metadataExchangePrefix = PeerMetadataExchange.encode(workload, nodeID: nodeID)
        self.serviceCluster = serviceCluster
        self.tls = TLSContexts(secrets: secrets)
        self.drainTime = drainTime
        accessLogBuffers = AccessLogBuffers(files: accessLogFiles, loop: loop, flushInterval: accessLogFlushInterval)
    }

    /// Logs a finished request or connection to each of `logs` whose filter takes it.
    public func log(_ record: AccessLogRecord, to logs: [AccessLogConfig]) {
        stats.accessLogLines += accessLogBuffers.log(record, to: logs)
    }

    /// Hands every buffered access-log line to its file now (shutdown).
    public func flushAccessLogs() {
        accessLogBuffers.flushAll()
    }

    /// Installs `snapshot` for every request that starts from now on. Connections whose
    /// listener or filter chain it changes or removes drain; route and cluster changes leave
    /// every connection as it is.
    public func publish(_ snapshot: ProxySnapshot) {
        loop.execute {
            self.snapshot = snapshot
            self.tls.reset()
            self.drain(keeping: snapshot.listeners)
        }
    }

    /// Registers a connection with the filter chain that took it. A chain chosen from the
    /// listener as it was at accept time may have been replaced while the connection's first
    /// bytes were awaited (TLS inspection): then it drains at once.
    func register(_ channel: Channel, listener: ListenerConfig, chain: FilterChainConfig) {
        connections.add(channel, listener: listener, chain: chain)
        if !DownstreamConnections.serves(snapshot.listeners[listener.name], listenerFingerprint: listener.fingerprint,
                                         chainFingerprint: chain.fingerprint) {
            drain(keeping: snapshot.listeners)
        }
    }

    /// Drains every open client connection (admin `/drain_listeners`).
    public func drainAll() {
        loop.execute { self.drain(keeping: nil) }
    }

    private func drain(keeping listeners: [String: ListenerConfig]?) {
        guard connections.count > 0 else { return }
        let drained = connections.drain(keeping: listeners)
        guard !drained.isEmpty else { return }
        stats.connectionsDrained += drained.count
        loop.scheduleTask(in: drainTime) {
            for channel in drained { channel.close(promise: nil) }
        }
    }
}
