// `codec_type: AUTO`: the first bytes of a connection choose HTTP/1.1 or HTTP/2.

import NIOCore
import ProxyCore

/// Chooses a connection's protocol from its first bytes (`codec_type: AUTO`): HTTP/2's
/// connection preface means h2c with prior knowledge (what gRPC clients send in plaintext);
/// anything else is HTTP/1.1. It installs the chosen codec behind itself, hands on the bytes it
/// held and leaves the pipeline, so it costs nothing after the first read.
final class HTTPProtocolSniffer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
    private var held: ByteBuffer?
    /// A drain that came before the codec was chosen (a connection accepted just before its
    /// chain changed, or still in its TLS handshake). Dropped here, it would never reach the
    /// codec: the connection would serve on its old chain until the drain time closed it. The
    /// codec gets it once the first request is in: that request is answered (HTTP/1.1 with
    /// `connection: close` if it is still under way; HTTP/2 after a GOAWAY), then the connection
    /// ends.
    private var drained = false
    private let install: (_ http2: Bool, _ pipeline: ChannelPipeline.SynchronousOperations) throws -> Void

    init(install: @escaping (_ http2: Bool, _ pipeline: ChannelPipeline.SynchronousOperations) throws -> Void) {
        self.install = install
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        if var held = held {
            held.writeBuffer(&buffer)
            buffer = held
        }
        let prefix = buffer.readableBytesView.prefix(Self.preface.count)
        guard prefix.elementsEqual(Self.preface.prefix(prefix.count)) else { return choose(http2: false, buffer, context) }
        guard prefix.count == Self.preface.count else {
            held = buffer  // a preface so far: wait for the rest of it
            return
        }
        choose(http2: true, buffer, context)
    }

    private func choose(http2: Bool, _ buffer: ByteBuffer, _ context: ChannelHandlerContext) {
        held = nil
        let pipeline = context.pipeline
        FirstBytes.install(buffer, from: context) { try install(http2, $0) }
        if drained { pipeline.fireUserInboundEventTriggered(ConnectionDrain()) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ConnectionDrain else { return context.fireUserInboundEventTriggered(event) }
        drained = true
    }

    func channelInactive(context: ChannelHandlerContext) {
        held = nil
        context.fireChannelInactive()
    }
}
