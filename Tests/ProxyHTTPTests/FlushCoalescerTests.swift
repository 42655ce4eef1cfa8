// The HTTP/2 connections' flush coalescing: one flush per loop turn, nothing lost on close.

import NIOCore
import NIOEmbedded
@testable import ProxyHTTP
import Testing

@Suite struct FlushCoalescerTests {
    static func channel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(FlushCoalescer())
        return channel
    }

    static func written(_ channel: EmbeddedChannel) throws -> [String] {
        var out: [String] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { out.append(String(buffer: buffer)) }
        return out
    }

    @Test func flushesOfOneTurnLeaveTogetherAfterIt() throws {
        let channel = try Self.channel()
        channel.writeAndFlush(ByteBuffer(string: "stream 1"), promise: nil)
        channel.writeAndFlush(ByteBuffer(string: "stream 3"), promise: nil)
        #expect(try Self.written(channel).isEmpty, "flushed before the turn ended")
        channel.embeddedEventLoop.run()
        #expect(try Self.written(channel) == ["stream 1", "stream 3"])
        // The next turn's flush is scheduled again.
        channel.writeAndFlush(ByteBuffer(string: "stream 5"), promise: nil)
        channel.embeddedEventLoop.run()
        #expect(try Self.written(channel) == ["stream 5"])
    }

    /// What reaches the socket side of the coalescer, in order.
    final class OutboundEvents: ChannelOutboundHandler {
        typealias OutboundIn = Any
        var events: [String] = []
        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            events.append("write")
            context.write(data, promise: promise)
        }
        func flush(context: ChannelHandlerContext) {
            events.append("flush")
            context.flush()
        }
        func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
            events.append("close")
            context.close(mode: mode, promise: promise)
        }
    }

    /// A socket fails the writes it was not asked to flush when it closes: the flush waiting for
    /// the end of the turn goes out before the close.
    @Test func aCloseSendsWhatWaitsForTheFlushFirst() throws {
        let channel = EmbeddedChannel()
        let recorder = OutboundEvents()
        try channel.pipeline.syncOperations.addHandler(recorder)
        try channel.pipeline.syncOperations.addHandler(FlushCoalescer())
        channel.writeAndFlush(ByteBuffer(string: "last response"), promise: nil)
        channel.close(promise: nil)
        channel.embeddedEventLoop.run()
        #expect(recorder.events.prefix(3) == ["write", "flush", "close"])
        #expect(try Self.written(channel) == ["last response"])
    }
}
