// Exact connection balance: each accepted connection goes to the worker with the fewest open connections.

import Dispatch
import NIOCore
import NIOPosix

/// The child group of every listener. NIO's accept path asks `next()` for the loop of each new
/// connection; answering with the least-loaded worker (not round-robin) keeps workers even
/// when connections live for different times, the imbalance that costs Envoy sidecars
/// throughput. The count is taken here and given back when the connection closes.
public final class BalancedEventLoopGroup: EventLoopGroup, @unchecked Sendable {
    public let workers: [Worker]
    private let underlying: EventLoopGroup

    public init(workers: [Worker], underlying: EventLoopGroup) {
        self.workers = workers
        self.underlying = underlying
    }

    public func next() -> EventLoop {
        var best = workers[0]
        var bestCount = best.activeConnections.load(ordering: .relaxed)
        for worker in workers.dropFirst() {
            let count = worker.activeConnections.load(ordering: .relaxed)
            if count < bestCount {
                best = worker
                bestCount = count
            }
        }
        best.activeConnections.wrappingAdd(1, ordering: .relaxed)
        return best.loop
    }

    public func any() -> EventLoop { underlying.any() }

    public var underlyingGroup: EventLoopGroup { underlying }

    public func worker(for loop: EventLoop) -> Worker {
        workers.first { $0.loop === loop } ?? workers[0]
    }

    public func makeIterator() -> EventLoopIterator { underlying.makeIterator() }

    public func shutdownGracefully(queue: DispatchQueue, _ callback: @escaping @Sendable (Error?) -> Void) {
        underlying.shutdownGracefully(queue: queue, callback)
    }
}
