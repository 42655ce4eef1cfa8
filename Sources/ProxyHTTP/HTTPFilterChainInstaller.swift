// Puts HTTP/1.1, HTTP/2 or the TCP proxy on a new downstream connection, per worker.

import NIOCore
import NIOHTTP1
import NIOPosix
import ProxyConfig
import ProxyCore

/// The proxy's network filters: the HTTP connection manager installs NIO's HTTP/1.1 codec (with the manager's header limits)
/// and the downstream handler (which answers malformed or smuggling-shaped requests with 400,
/// oversize heads with 431, and closes), or HTTP/2 when the connection opens with its preface
/// (`codec_type` AUTO) or the manager asks for it (HTTP2).
public final class HTTPFilterChainInstaller: NetworkFilterInstaller, @unchecked Sendable {
    private let workers: [ObjectIdentifier: HTTPWorker]

    public init(workers: [Worker], upstreamBindAddress: String?) throws {
        let bind = try upstreamBindAddress.map { try SocketAddress(ipAddress: $0, port: 0) }
        var byLoop: [ObjectIdentifier: HTTPWorker] = [:]
        for worker in workers { byLoop[ObjectIdentifier(worker.loop)] = HTTPWorker(worker: worker, upstreamBindAddress: bind) }
        self.workers = byLoop
    }

    public func install(_ chain: FilterChainConfig, listener: ListenerConfig, on channel: Channel, worker: Worker,
                        connection: DownstreamConnectionInfo) throws {
        guard let http = workers[ObjectIdentifier(channel.eventLoop)] else {
            throw ProxyConfigError("listeners[\(listener.name)]", "connection on a loop that is not a worker")
        }
        switch chain.network {
        case .http(let manager):
            let operations = channel.pipeline.syncOperations
            let installHTTP1 = { (operations: ChannelPipeline.SynchronousOperations) throws in
                try DownstreamHTTPHandler.configure(operations, manager: manager)
                try operations.addHandler(DownstreamHTTPHandler(http: http, manager: manager, connection: connection))
            }
            switch manager.codec {
            case .http1:
                try installHTTP1(operations)
            case .http2:
                try DownstreamHTTP2.configure(operations, http: http, manager: manager, connection: connection)
            case .auto:
                try operations.addHandler(HTTPProtocolSniffer { http2, operations in
                    if http2 {
                        try DownstreamHTTP2.configure(operations, http: http, manager: manager, connection: connection)
                    } else {
                        try installHTTP1(operations)
                    }
                })
            }
        case .tcp(let proxy):
            try TCPProxySession.install(proxy, on: channel, worker: worker, upstreamBindAddress: http.upstreamBindAddress,
                                        connection: connection)
        }
    }

    /// Closes idle upstream connections on every worker (on shutdown).
    public func closeIdleConnections() {
        for http in workers.values { http.worker.loop.execute { http.pool.closeIdle() } }
    }
}
