// A request nobody waits for: a mirrored copy sent to a shadow cluster, or a batch of spans to a trace collector.

import NIOCore
import NIOHTTP1
import ProxyUpstream

/// Fire-and-forget: nothing waits for it, and its answer is read and dropped. A mirror's body
/// is streamed to the shadow as it arrives from the client (Envoy mirrors bodies too); parts
/// that come before the connection is ready wait here, up to `pendingLimit` (Envoy's default
/// per-connection buffer), and a shadow that cannot keep up — its connection stops being
/// writable — is abandoned rather than slow or buffer the real request.
final class DetachedRequest {
    static let pendingLimit = 1024 * 1024

    private let http: HTTPWorker
    private let head: HTTPRequestHead
    private var connection: UpstreamHTTPConnection?
    /// Parts received before the connection was ready.
    private var pending: [HTTPClientRequestPart] = []
    private var pendingBytes = 0
    private var ended = false
    private var abandoned = false

    /// `received`: the body parts the client sent before the mirror was decided.
    init(http: HTTPWorker, head: HTTPRequestHead, received: [ByteBuffer]) {
        self.http = http
        self.head = head
        for part in received { body(part) }
    }

    /// false when the cluster has no connection to spare: the request is dropped.
    @discardableResult
    func send(to host: UpstreamHost, cluster: UpstreamCluster) -> Bool {
        // A detached request never queues or overflows the real traffic's slots: it takes an
        // idle connection or opens one if the cluster allows, else it is skipped.
        switch http.acquire(host: host, cluster: cluster, for: nil) {
        case .ready(let connection):
            start(connection)
        case .connecting(let future):
            future.assumeIsolated().whenSuccess { self.start($0) }
        case .pending, .overflow:
            abandoned = true
        }
        return !abandoned
    }

    /// Closes the connection if the answer has not ended within `timeout` (a collector that
    /// hangs must not hold connections for ever).
    func expire(after timeout: TimeAmount) {
        http.worker.loop.scheduleTask(in: timeout) { [self] in
            if let connection, connection.discardingResponse { connection.channel.close(promise: nil) }
            if connection == nil { abandon() }
        }
    }

    private func start(_ connection: UpstreamHTTPConnection) {
        guard !abandoned else {
            connection.channel.close(promise: nil)
            return
        }
        self.connection = connection
        connection.discardingResponse = true
        connection.send(head)
        for part in pending { connection.write(part, flush: false) }
        pending = []
        connection.flush()
    }

    func body(_ buffer: ByteBuffer) {
        guard !abandoned else { return }
        if let connection {
            guard connection.channel.isWritable else { return abandon() }
            connection.write(.body(.byteBuffer(buffer)), flush: false)
            return
        }
        pendingBytes += buffer.readableBytes
        guard pendingBytes <= Self.pendingLimit else { return abandon() }
        pending.append(.body(.byteBuffer(buffer)))
    }

    func end(_ trailers: HTTPHeaders?) {
        guard !abandoned, !ended else { return }
        ended = true
        if let connection {
            connection.write(.end(trailers), flush: true)
        } else {
            pending.append(.end(trailers))
        }
    }

    func flush() {
        connection?.flush()
    }

    /// The client went away before its request ended, or the shadow fell behind: a shadow with
    /// half a request would wait for the rest, so its connection is closed.
    func abandon() {
        guard !abandoned else { return }
        abandoned = true
        pending = []
        if !ended { connection?.channel.close(promise: nil) }
        connection = nil
    }
}
