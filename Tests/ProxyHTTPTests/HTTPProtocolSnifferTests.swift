// codec_type AUTO: the first bytes choose HTTP/2 (the connection preface, even split across reads) or HTTP/1.1.

import NIOCore
import NIOEmbedded
@testable import ProxyHTTP
import Testing

@Suite struct HTTPProtocolSnifferTests {
    /// Runs the sniffer over `reads`; returns the protocol it chose (nil: still waiting) and the
    /// bytes that reached the handler it installed.
    static func sniff(_ reads: [String]) throws -> (http2: Bool?, delivered: String) {
        let channel = EmbeddedChannel()
        var chosen: Bool?
        let collector = Collector()
        try channel.pipeline.syncOperations.addHandler(HTTPProtocolSniffer { http2, operations in
            chosen = http2
            try operations.addHandler(collector)
        })
        for read in reads { try channel.writeInbound(ByteBuffer(string: read)) }
        return (chosen, collector.received)
    }

    final class Collector: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        var received = ""
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            received += String(buffer: unwrapInboundIn(data))
        }
    }

    @Test func theConnectionPrefaceChoosesHTTP2AndIsHandedOnWhole() throws {
        let preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
        let split = try Self.sniff([String(preface.prefix(5)), String(preface.dropFirst(5)) + "frames"])
        #expect(split.http2 == true)
        #expect(split.delivered == preface + "frames")
        let partial = try Self.sniff([String(preface.prefix(10))])
        #expect(partial.http2 == nil)  // not decided until the preface is whole
    }

    @Test func anythingElseIsHTTP1FromTheFirstByteThatDiffers() throws {
        let request = "GET / HTTP/1.1\r\nhost: web\r\n\r\n"
        let result = try Self.sniff([request])
        #expect(result.http2 == false)
        #expect(result.delivered == request)
        // "PRI" as an HTTP/1.1 method is still HTTP/1.1 once the line differs from the preface.
        let near = try Self.sniff(["PRI * HTTP/1.1\r\n"])
        #expect(near.http2 == false)
    }
}
