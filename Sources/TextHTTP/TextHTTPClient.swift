// One GET for a whole-text answer: how meshproxy reads its app's Prometheus metrics to merge them into its own.

import NIOCore
import NIOHTTP1
import NIOPosix

public enum TextHTTPClient {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String

        public init(description: String) {
            self.description = description
        }
    }

    /// GETs `path` from `host:port` on a new connection, with `Connection: close`; completes
    /// with the status and the body (up to `limit` bytes; a larger body fails), or fails after
    /// `timeout` in all.
    public static func get(host: String, port: Int, path: String, timeout: TimeAmount, limit: Int = 8 << 20,
                           on loop: EventLoop) -> EventLoopFuture<(status: Int, body: String)> {
        let promise = loop.makePromise(of: (status: Int, body: String).self)
        let timer = loop.scheduleTask(in: timeout) {
            promise.fail(Failure(description: "no answer from \(host):\(port)\(path) within \(timeout.nanoseconds / 1_000_000) ms"))
        }
        ClientBootstrap(group: loop)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(WholeResponse(promise: promise, limit: limit))
                }
            }
            .connect(host: host, port: port)
            .whenComplete { result in
                switch result {
                case .failure(let error):
                    promise.fail(Failure(description: "cannot connect to \(host):\(port): \(error)"))
                case .success(let channel):
                    var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path)
                    head.headers.add(name: "host", value: "\(host):\(port)")
                    head.headers.add(name: "connection", value: "close")
                    head.headers.add(name: "accept", value: "text/plain; version=0.0.4")
                    channel.write(HTTPClientRequestPart.head(head), promise: nil)
                    channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
                    promise.futureResult.whenComplete { _ in channel.close(promise: nil) }
                }
            }
        return promise.futureResult.always { _ in timer.cancel() }
    }

    /// Collects one response; completes the promise at its end, or fails it on a close before.
    private final class WholeResponse: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPClientResponsePart
        let promise: EventLoopPromise<(status: Int, body: String)>
        let limit: Int
        var status = 0
        var body = ByteBuffer()

        init(promise: EventLoopPromise<(status: Int, body: String)>, limit: Int) {
            self.promise = promise
            self.limit = limit
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                status = Int(head.status.code)
            case .body(var part):
                guard body.readableBytes + part.readableBytes <= limit else {
                    promise.fail(Failure(description: "the answer is larger than \(limit) bytes"))
                    context.close(promise: nil)
                    return
                }
                body.writeBuffer(&part)
            case .end:
                promise.succeed((status, String(buffer: body)))
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            promise.fail(Failure(description: "the connection closed before the answer ended"))
        }

        func errorCaught(context: ChannelHandlerContext, error: Error) {
            promise.fail(Failure(description: "\(error)"))
            context.close(promise: nil)
        }
    }
}
