// The TCP proxy network filter: one downstream connection glued to one upstream connection.

import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import ProxyConfig
import ProxyUpstream
import Telemetry

/// Proxies the bytes of one downstream connection to a host of a cluster chosen by weight,
/// as Envoy's `tcp_proxy` does with its defaults: one connect attempt, the cluster's connect
/// timeout and `max_connections`, an idle timeout, half-close passed through (a FIN on one
/// side becomes a FIN on the other once what was read before it has been written), and
/// backpressure (a side that cannot keep up stops the other side's reads).
///
/// The same byte pipe joins the two connections of an HTTP upgrade (WebSocket) once the upstream
/// has answered 101 (`splice`).
public final class TCPProxySession: @unchecked Sendable {  // confined to its worker's loop
    private let idleTimeout: Duration?
    private let onClose: (() -> Void)?
    private let worker: Worker
    private let downstream: Channel
    private let upstreamBindAddress: SocketAddress?
    /// The client connection as the listener took it (its addresses, TLS and, for a redirected
    /// one, where it was going: an ORIGINAL_DST cluster connects there).
    private var connection = DownstreamConnectionInfo()
    private var upstream: Channel?
    private var cluster: UpstreamCluster?
    private var host: UpstreamHost?
    private var holdsConnectionSlot = false
    private var closed = false
    private var downstreamInputClosed = false
    private var upstreamInputClosed = false
    private var lastActivity: NIODeadline
    private var idleTimer: Scheduled<Void>?
    /// Bytes read from downstream before the upstream connection was ready, sent once it is.
    private var early: [ByteBuffer] = []
    private var earlyBytes = 0
    static let earlyLimit = 1 << 20

    /// Bytes each way, for stats and the access log.
    public private(set) var bytesFromDownstream = 0
    public private(set) var bytesFromUpstream = 0
    private let accessLogs: [AccessLogConfig]
    /// What the access logs will say of this connection; nil when nothing logs it.
    private var record: AccessLogRecord?
    private let started: NIODeadline
    /// Istio's TCP metrics for this connection: who reports, its labels once the connection
    /// is known (a TLS client's identity only after the handshake), the bytes already reported,
    /// and the timer that reports them while the connection lasts.
    private var metrics: IstioMetricsSettings?
    private var metricsService: String?
    private var metricsHostChosen = false
    /// The connection's series without its flags, set when it is counted opened.
    private var metricsLabels: (peer: IstioPeerLabels, security: IstioSecurityPolicy)?
    private var reportedFromDownstream = 0
    private var reportedFromUpstream = 0
    private var metricsTimer: RepeatedTask?
    /// Whether the downstream TLS handshake is still to finish (who the client is is unknown).
    private var downstreamHandshakePending = false
    /// Istio's TCP metadata exchange with the client's proxy (inbound) and the server's
    /// (outbound), and the workload the other end announced.
    private var downstreamExchange = MetadataExchangeState.settled
    private var upstreamExchange = MetadataExchangeState.settled
    private var peerWorkload: WorkloadMetadata?
    /// The upstream connection until its TLS handshake says whether the exchange goes first:
    /// the client's bytes wait in `early` until then.
    private var connectingUpstream: Channel?
    /// How often a long connection's bytes reach the metrics (Istio's `tcp_reporting_duration`).
    static let metricsReportInterval = TimeAmount.seconds(5)

    /// Installs the session on a new downstream connection.
    public static func install(_ config: TCPProxyConfig, on channel: Channel, worker: Worker,
                               upstreamBindAddress: SocketAddress?, connection: DownstreamConnectionInfo? = nil) throws {
        let connection = connection ?? DownstreamConnectionInfo(channel: channel, security: nil)
        let session = TCPProxySession(idleTimeout: config.idleTimeout, onClose: nil, worker: worker,
                                      downstream: channel, upstreamBindAddress: upstreamBindAddress, accessLogs: config.accessLogs)
        session.connection = connection
        session.metrics = config.istioMetrics
        if connection.security != nil {
            session.downstreamHandshakePending = true
            if let exchange = config.metadataExchange { session.downstreamExchange = .awaitingHandshake(exchange.protocolName) }
        }
        if !config.accessLogs.isEmpty || session.metrics != nil {
            session.record = AccessLogRecord(startTime: WallClock.nowMicroseconds())
        }
        try channel.syncOptions?.setOption(.allowRemoteHalfClosure, value: true)
        try channel.pipeline.syncOperations.addHandler(TCPProxySide(session: session, isDownstream: true))
        worker.stats.tcpConnections += 1
        session.scheduleIdleCheckIfNeeded()
        session.start(config.clusters)
    }

    /// Joins two connections that are already open, from now on as bytes. The caller has taken
    /// its own handlers off both pipelines (or does so right after: bytes its decoders held back
    /// arrive here). `onClose` runs once, when the pipe ends.
    public static func splice(downstream: Channel, upstream: Channel, worker: Worker, idleTimeout: Duration?,
                              onClose: @escaping () -> Void) throws {
        let session = TCPProxySession(idleTimeout: idleTimeout, onClose: onClose, worker: worker,
                                      downstream: downstream, upstreamBindAddress: nil)
        session.upstream = upstream
        try downstream.syncOptions?.setOption(.allowRemoteHalfClosure, value: true)
        try upstream.syncOptions?.setOption(.allowRemoteHalfClosure, value: true)
        try downstream.pipeline.syncOperations.addHandler(TCPProxySide(session: session, isDownstream: true))
        try upstream.pipeline.syncOperations.addHandler(TCPProxySide(session: session, isDownstream: false))
        session.scheduleIdleCheckIfNeeded()
    }

    private init(idleTimeout: Duration?, onClose: (() -> Void)?, worker: Worker,
                 downstream: Channel, upstreamBindAddress: SocketAddress?, accessLogs: [AccessLogConfig] = []) {
        self.accessLogs = accessLogs
        self.idleTimeout = idleTimeout
        self.onClose = onClose
        self.worker = worker
        self.downstream = downstream
        self.upstreamBindAddress = upstreamBindAddress
        self.lastActivity = downstream.eventLoop.now
        self.started = .now()
    }

    private func scheduleIdleCheckIfNeeded() {
        if let idle = idleTimeout { scheduleIdleCheck(at: lastActivity + TimeAmount(idle)) }
    }

    private func start(_ clusters: WeightedChoice) {
        let snapshot = worker.snapshot
        let entry = clusters.entries.count == 1 ? clusters.entries[0]
            : clusters.pick(Int.random(in: 0..<clusters.totalWeight))
        record?.upstreamCluster = entry.cluster
        guard let cluster = snapshot.clusters[entry.cluster] else {
            worker.stats.tcpNoCluster += 1
            record?.responseFlags.insert(.noClusterFound)
            return close()
        }
        self.cluster = cluster
        guard cluster.resources.tryAcquire(.connections, limit: cluster.config.thresholds.maxConnections) else {
            worker.stats.overflows += 1
            record?.responseFlags.insert(.upstreamOverflow)
            return close()
        }
        holdsConnectionSlot = true
        var context = LoadBalancerContext()
        context.originalDestination = connection.originalDestination
        guard let host = cluster.chooseHost(context, state: &worker.loadBalancing) else {
            worker.stats.noHealthyUpstream += 1
            record?.responseFlags.insert(.noHealthyUpstream)
            return close()
        }
        self.host = host
        record?.upstreamHost = host.address.description
        host.state.requestStarted()
        if metrics != nil {
            metricsService = cluster.config.meshService
            metricsHostChosen = true
        }
        connect(to: host, in: cluster)
        openMetrics()
    }

    // MARK: - Istio metrics

    /// The peer is the workload its proxy announced in the metadata exchange; without one, the
    /// server side knows its client by its certificate's identity only, the client side its
    /// server by the service.
    private func metricsContext(_ settings: IstioMetricsSettings) -> IstioRequestContext {
        var context = IstioRequestContext(reporter: settings.reporter, destinationService: metricsService)
        switch settings.reporter {
        case .destination:
            let security = connection.security
            context.source = peerWorkload
            context.destination = worker.workload
            context.mutualTLS = security?.peerAuthenticated == true
            if context.mutualTLS == true {
                context.sourcePrincipal = security?.peerURIs.first
                context.destinationPrincipal = security?.localURI
            }
        case .source:
            context.source = worker.workload
            context.destination = peerWorkload
        }
        return context
    }

    /// Counts the connection opened: once a host is chosen, the client's TLS handshake is done
    /// and any metadata exchange has settled. A connection that closes before its exchange has
    /// settled is counted with what is known (`closing`).
    private func openMetrics(closing: Bool = false) {
        guard let settings = metrics, metricsHostChosen, metricsLabels == nil, let record, !downstreamHandshakePending else { return }
        guard closing || (!closed && !downstreamExchange.isPending && !upstreamExchange.isPending) else { return }
        let context = metricsContext(settings)
        let labels = (peer: context.peerLabels(), security: context.securityPolicy)
        metricsLabels = labels
        worker.istioMetrics.recordConnectionOpened(series(labels, record))
        guard !closing else { return }
        metricsTimer = downstream.eventLoop.scheduleRepeatedTask(initialDelay: Self.metricsReportInterval,
                                                                 delay: Self.metricsReportInterval) { [weak self] _ in
            self?.reportBytes()
        }
    }

    private func series(_ labels: (peer: IstioPeerLabels, security: IstioSecurityPolicy), _ record: AccessLogRecord) -> IstioConnectionSeries {
        IstioConnectionSeries(peer: labels.peer, security: labels.security, flags: record.responseFlags, overrides: metrics?.overrides)
    }

    /// A TLS handshake finished (the event passes through this session's handlers): the
    /// client's identity is known, and the exchange starts if both ends chose its ALPN.
    func handshakeCompleted(fromDownstream: Bool, negotiatedProtocol: String?) {
        if fromDownstream {
            downstreamHandshakePending = false
            if case .awaitingHandshake(let name) = downstreamExchange {
                downstreamExchange = startExchange(name, negotiated: negotiatedProtocol, on: downstream)
            }
        } else if case .awaitingHandshake(let name) = upstreamExchange, let channel = connectingUpstream {
            upstreamExchange = startExchange(name, negotiated: negotiatedProtocol, on: channel)
            connectingUpstream = nil
            upstreamReady(channel)
        }
        openMetrics()
    }

    // MARK: - Istio's TCP metadata exchange

    /// Writes this proxy's metadata first on `channel` when TLS chose the exchange's ALPN.
    private func startExchange(_ name: String, negotiated: String?, on channel: Channel) -> MetadataExchangeState {
        guard negotiated == name else {
            worker.stats.exchangeALPNNotFound += 1
            return .settled
        }
        worker.stats.exchangeALPNFound += 1
        channel.writeAndFlush(channel.allocator.buffer(bytes: worker.metadataExchangePrefix), promise: nil)
        return .reading(channel.allocator.buffer(capacity: 0))
    }

    /// Takes the peer's exchange off the front of what one side sent; returns the application's
    /// bytes after it, nil while the exchange is incomplete or when nothing follows it.
    private func readExchange(_ buffer: ByteBuffer, fromDownstream: Bool) -> ByteBuffer? {
        guard case .reading(var pending) = fromDownstream ? downstreamExchange : upstreamExchange else { return buffer }
        var buffer = buffer
        pending.writeBuffer(&buffer)
        let settled: MetadataExchangeState
        switch PeerMetadataExchange.read(pending.readableBytesView) {
        case .needMore:
            settled = .reading(pending)
        case .absent:
            // A peer that chose the ALPN but sent no exchange: its bytes are the application's.
            worker.stats.exchangeHeaderNotFound += 1
            settled = .settled
        case .peer(let workload, _, let consumed):
            pending.moveReaderIndex(forwardBy: consumed)
            if let workload {
                peerWorkload = workload
                worker.stats.exchangeMetadataAdded += 1
            }
            settled = .settled
        case .tooLarge:
            // The application's bytes start after a length that cannot be buffered: give up.
            worker.stats.exchangeHeaderNotFound += 1
            if fromDownstream { downstreamExchange = .settled } else { upstreamExchange = .settled }
            close()
            return nil
        }
        if fromDownstream { downstreamExchange = settled } else { upstreamExchange = settled }
        guard !settled.isPending else { return nil }
        openMetrics()
        return pending.readableBytes > 0 ? pending : nil
    }

    /// A side closed its input during the exchange: what it sent is the application's.
    private func abandonExchange(fromDownstream: Bool) -> ByteBuffer? {
        guard case .reading(let pending) = fromDownstream ? downstreamExchange : upstreamExchange else { return nil }
        if fromDownstream { downstreamExchange = .settled } else { upstreamExchange = .settled }
        worker.stats.exchangeHeaderNotFound += 1
        openMetrics()
        return pending.readableBytes > 0 ? pending : nil
    }

    /// Bytes moved since the last report (sent: to the downstream client).
    private func reportBytes() {
        guard let labels = metricsLabels, let record else { return }
        let received = bytesFromDownstream - reportedFromDownstream
        let sent = bytesFromUpstream - reportedFromUpstream
        guard received > 0 || sent > 0 else { return }
        reportedFromDownstream = bytesFromDownstream
        reportedFromUpstream = bytesFromUpstream
        worker.istioMetrics.recordConnectionBytes(series(labels, record), sent: sent, received: received)
    }

    private func connect(to host: UpstreamHost, in cluster: UpstreamCluster) {
        var bootstrap = ClientBootstrap(group: downstream.eventLoop)
            .connectTimeout(TimeAmount(cluster.config.connectTimeout))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.allowRemoteHalfClosure, value: true)
        if let own = cluster.config.bindAddress, let bind = try? SocketAddress(ipAddress: own, port: 0) {
            bootstrap = bootstrap.bind(to: bind)
        } else if let bind = upstreamBindAddress {
            bootstrap = bootstrap.bind(to: bind)
        }
        worker.stats.upstreamConnectionsOpened += 1
        // Over TLS, a cluster with Istio's exchange offers its ALPN on this connection only (the
        // cluster's HTTP connections keep the config's), and the server's answer decides.
        let tls = cluster.config.tls(forEndpointTLSMode: host.tlsMode)
        let exchange = tls == nil ? nil : cluster.config.metadataExchange
        if let exchange { upstreamExchange = .awaitingHandshake(exchange.protocolName) }
        bootstrap.channelInitializer { [self] channel in
            channel.eventLoop.makeCompletedFuture {
                if let tls {
                    let alpn = exchange.map { exchange in [exchange.protocolName] + tls.alpn.filter { $0 != exchange.protocolName } }
                    try channel.pipeline.syncOperations.addHandler(try self.worker.tls.clientHandler(tls, alpn: alpn))
                }
                try channel.pipeline.syncOperations.addHandler(TCPProxySide(session: self, isDownstream: false))
            }
        }
        .connect(to: host.socketAddress)
        .assumeIsolated()
        .whenComplete { [self] result in
            switch result {
            case .success(let channel):
                cluster.record(.connected, for: host)
                guard !closed else { return channel.close(promise: nil) }
                if record != nil { record?.upstreamLocalAddress = channel.localAddress.flatMap(DownstreamConnectionInfo.text) }
                if upstreamExchange.isPending {
                    connectingUpstream = channel
                } else {
                    upstreamReady(channel)
                }
            case .failure:
                worker.stats.upstreamConnectFailures += 1
                cluster.record(.localFailure, for: host)
                record?.responseFlags.insert(.upstreamConnectionFailure)
                close()
            }
        }
    }

    /// The upstream connection takes bytes: what the client sent so far goes first.
    private func upstreamReady(_ channel: Channel) {
        upstream = channel
        for buffer in early { channel.write(buffer, promise: nil) }
        early.removeAll()
        channel.flush()
        if downstreamInputClosed { shutdownOutput(of: channel) }
    }

    // MARK: - Bytes (called by the two sides' handlers)

    func read(_ buffer: ByteBuffer, fromDownstream: Bool) {
        lastActivity = downstream.eventLoop.now
        var buffer = buffer
        if (fromDownstream ? downstreamExchange : upstreamExchange).isReading {
            guard let rest = readExchange(buffer, fromDownstream: fromDownstream) else { return }
            buffer = rest
        }
        if fromDownstream {
            bytesFromDownstream += buffer.readableBytes
            guard let upstream else {
                early.append(buffer)
                earlyBytes += buffer.readableBytes
                // A client that floods before the upstream answers the connect waits for it.
                if earlyBytes > Self.earlyLimit { downstream.setOption(.autoRead, value: false).whenFailure { _ in } }
                return
            }
            upstream.write(buffer, promise: nil)
        } else {
            bytesFromUpstream += buffer.readableBytes
            downstream.write(buffer, promise: nil)
        }
    }

    func readComplete(fromDownstream: Bool) {
        (fromDownstream ? upstream : downstream)?.flush()
    }

    /// One side sent FIN: pass it on after what it sent before; both done, the session ends.
    func inputClosed(fromDownstream: Bool) {
        if let rest = abandonExchange(fromDownstream: fromDownstream) {
            read(rest, fromDownstream: fromDownstream)
            readComplete(fromDownstream: fromDownstream)
        }
        if fromDownstream {
            downstreamInputClosed = true
            if let upstream { shutdownOutput(of: upstream) }
        } else {
            upstreamInputClosed = true
            shutdownOutput(of: downstream)
        }
        if downstreamInputClosed && upstreamInputClosed { close() }
    }

    /// A side is gone (reset, error or full close): the other goes too, once its writes are out.
    func sideClosed() {
        close()
    }

    /// The side that writes to `writable` changed writability: reads on the opposite side follow.
    func writabilityChanged(ofDownstream: Bool, isWritable: Bool) {
        let reader = ofDownstream ? upstream : downstream
        reader?.setOption(.autoRead, value: isWritable).whenFailure { _ in }
    }

    private func shutdownOutput(of channel: Channel) {
        // An empty write completes after every earlier write: only then the FIN.
        channel.writeAndFlush(channel.allocator.buffer(capacity: 0)).whenComplete { _ in
            channel.close(mode: .output, promise: nil)
        }
    }

    private func close() {
        guard !closed else { return }
        closed = true
        idleTimer?.cancel()
        early.removeAll()
        for channel in [downstream, upstream, connectingUpstream].compactMap({ $0 }) {
            channel.writeAndFlush(channel.allocator.buffer(capacity: 0)).whenComplete { _ in channel.close(promise: nil) }
        }
        if let host { host.state.requestFinished() }
        if holdsConnectionSlot, let cluster {
            holdsConnectionSlot = false
            cluster.resources.release(.connections)
        }
        metricsTimer?.cancel()
        metricsTimer = nil
        if metricsLabels == nil { openMetrics(closing: true) }
        if var record {
            if let labels = metricsLabels {
                // The last bytes and the close go to the series with the connection's final
                // flags. A connection whose TLS handshake failed is not counted.
                let received = bytesFromDownstream - reportedFromDownstream
                let sent = bytesFromUpstream - reportedFromUpstream
                if received > 0 || sent > 0 { worker.istioMetrics.recordConnectionBytes(series(labels, record), sent: sent, received: received) }
                worker.istioMetrics.recordConnectionClosed(series(labels, record))
            }
            connection.fill(&record)
            self.record = nil
            record.bytesReceived = bytesFromDownstream
            record.bytesSent = bytesFromUpstream
            record.duration = (NIODeadline.now() - started).nanoseconds
            if !accessLogs.isEmpty { worker.log(record, to: accessLogs) }
        }
        onClose?()
    }

    private func scheduleIdleCheck(at deadline: NIODeadline) {
        idleTimer = downstream.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            idleTimer = nil
            guard !closed, let idle = idleTimeout else { return }
            let due = lastActivity + TimeAmount(idle)
            if downstream.eventLoop.now >= due {
                worker.stats.tcpIdleTimeouts += 1
                close()
            } else {
                scheduleIdleCheck(at: due)
            }
        }
    }
}

/// The handler on each of a session's two channels.
final class TCPProxySide: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let session: TCPProxySession
    private let isDownstream: Bool

    init(session: TCPProxySession, isDownstream: Bool) {
        self.session = session
        self.isDownstream = isDownstream
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        session.read(unwrapInboundIn(data), fromDownstream: isDownstream)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        session.readComplete(fromDownstream: isDownstream)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            session.inputClosed(fromDownstream: isDownstream)
        } else if case .handshakeCompleted(let negotiated)? = event as? TLSUserEvent {
            session.handshakeCompleted(fromDownstream: isDownstream, negotiatedProtocol: negotiated)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        session.writabilityChanged(ofDownstream: isDownstream, isWritable: context.channel.isWritable)
    }

    func channelInactive(context: ChannelHandlerContext) {
        session.sideClosed()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        session.sideClosed()
    }
}

/// Where one connection of a session is in Istio's TCP metadata exchange.
enum MetadataExchangeState {
    /// No exchange on this connection, or it is over.
    case settled
    /// The exchange is configured; the TLS handshake will say whether the peer speaks it.
    case awaitingHandshake(String)
    /// This side wrote its metadata and reads the peer's from the bytes that arrive (so far).
    case reading(ByteBuffer)

    var isPending: Bool {
        if case .settled = self { return false }
        return true
    }

    var isReading: Bool {
        if case .reading = self { return true }
        return false
    }
}
