// A mirrored copy of a request: sent to the shadow cluster, its answer read and dropped.

import NIOCore
import NIOHTTP1
import ProxyUpstream

/// Fire-and-forget: nothing waits for the shadow, and its failures are only counted.
final class MirrorExchange {
    private let http: HTTPWorker
    private let head: HTTPRequestHead

    init(http: HTTPWorker, head: HTTPRequestHead) {
        self.http = http
        self.head = head
    }

    func send(to host: UpstreamHost, cluster: UpstreamCluster) {
        let head = self.head
        let send: (UpstreamHTTPConnection) -> Void = { connection in
            connection.discardingResponse = true
            connection.send(head)
            connection.write(.end(nil), flush: true)
        }
        // A mirror never queues or overflows the real traffic's slots: it takes an idle
        // connection or opens one if the cluster allows, else it is skipped.
        if let idle = http.pool.takeIdle(to: host.socketAddress) {
            return send(idle)
        }
        guard case .connecting(let future) = http.acquire(host: host, cluster: cluster, for: nil) else { return }
        future.assumeIsolated().whenSuccess(send)
    }
}
