// One socket write per turn of the event loop for a connection that carries many streams.

import NIOCore

/// Sits in front of NIO's HTTP/2 handler (between it and the socket, or TLS) and turns the
/// flushes of one turn of the event loop into one. Every stream of an HTTP/2 connection flushes
/// when its response ends, and the responses of one turn usually come from different upstream
/// connections read in the same batch of I/O events: flushed one by one, each is its own
/// `writev` (and TLS record). Here the first flush of a turn schedules the real one with
/// `execute`, which NIO runs after it has handled the turn's I/O events, so what the streams
/// wrote meanwhile leaves together. Envoy's connections write the same way: a write marks the
/// socket writable for the loop, it does not write at once.
///
/// Writes pass straight on (the socket buffers them until the flush). A close first sends what
/// is waiting, since NIO fails unflushed writes when a channel closes.
final class FlushCoalescer: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = Any

    private var context: ChannelHandlerContext?
    private var flushScheduled = false

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if flushScheduled {
            flushScheduled = false
            context.flush()
        }
        self.context = nil
    }

    func flush(context: ChannelHandlerContext) {
        guard !flushScheduled else { return }
        flushScheduled = true
        context.eventLoop.assumeIsolated().execute { [self] in
            guard flushScheduled, let context = self.context else { return }
            flushScheduled = false
            context.flush()
        }
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if flushScheduled {
            flushScheduled = false
            context.flush()
        }
        context.close(mode: mode, promise: promise)
    }
}
