// Envoy's tls_inspector: TLS or plaintext, and the ClientHello's server name and ALPN, before a chain is chosen.

import NIOCore

/// What the first bytes of a connection said.
public struct ClientHello: Sendable, Equatable {
    /// The connection starts with a TLS handshake record.
    public var isTLS: Bool
    public var serverName: String?
    public var applicationProtocols: [String]

    public static let plaintext = ClientHello(isTLS: false, serverName: nil, applicationProtocols: [])

    public var transportProtocol: String { isTLS ? "tls" : "raw_buffer" }

    public enum Parse: Equatable {
        case needMore
        case done(ClientHello)
    }

    /// The largest ClientHello read (Envoy's limit is 64 KiB too); past it, the connection is TLS
    /// without a name.
    static let maximumSize = 1 << 16

    /// Reads a ClientHello from the start of a connection. Anything that is not a TLS handshake
    /// record is plaintext at once; a hello split over several records or reads is reassembled.
    public static func parse(_ bytes: ByteBufferView) -> Parse {
        guard let first = bytes.first else { return .needMore }
        guard first == 0x16 else { return .done(.plaintext) }
        guard bytes.count >= 2 else { return .needMore }
        guard bytes[bytes.index(bytes.startIndex, offsetBy: 1)] == 0x03 else { return .done(.plaintext) }
        // Handshake records' payloads, concatenated, until the first handshake message is whole.
        var handshake: [UInt8] = []
        var offset = bytes.startIndex
        while true {
            guard bytes.distance(from: offset, to: bytes.endIndex) >= 5 else { break }
            let header = Array(bytes[offset..<bytes.index(offset, offsetBy: 5)])
            guard header[0] == 0x16 else { return .done(ClientHello(isTLS: true, serverName: nil, applicationProtocols: [])) }
            let length = Int(header[3]) << 8 | Int(header[4])
            let payloadStart = bytes.index(offset, offsetBy: 5)
            guard bytes.distance(from: payloadStart, to: bytes.endIndex) >= length else { break }
            let payloadEnd = bytes.index(payloadStart, offsetBy: length)
            handshake += bytes[payloadStart..<payloadEnd]
            offset = payloadEnd
            if handshake.count >= 4 {
                let messageLength = Int(handshake[1]) << 16 | Int(handshake[2]) << 8 | Int(handshake[3])
                if handshake.count >= 4 + messageLength { break }
            }
        }
        if handshake.count >= 4 {
            let messageLength = Int(handshake[1]) << 16 | Int(handshake[2]) << 8 | Int(handshake[3])
            if handshake.count >= 4 + messageLength {
                guard handshake[0] == 1 else { return .done(ClientHello(isTLS: true, serverName: nil, applicationProtocols: [])) }
                return .done(helloFields(handshake[4..<(4 + messageLength)]))
            }
        }
        if bytes.count > maximumSize { return .done(ClientHello(isTLS: true, serverName: nil, applicationProtocols: [])) }
        return .needMore
    }

    /// SNI (extension 0) and ALPN (16) from a ClientHello body; a malformed body gives a TLS
    /// connection with neither (the handshake itself will then fail).
    static func helloFields(_ body: ArraySlice<UInt8>) -> ClientHello {
        var hello = ClientHello(isTLS: true, serverName: nil, applicationProtocols: [])
        var reader = Reader(body)
        // Version and random, session ID, cipher suites, compression methods.
        guard reader.skip(2 + 32), reader.skipVector(lengthBytes: 1), reader.skipVector(lengthBytes: 2),
              reader.skipVector(lengthBytes: 1), var extensions = reader.vector(lengthBytes: 2) else { return hello }
        while let type = extensions.integer(2), var data = extensions.vector(lengthBytes: 2) {
            switch type {
            case 0:  // server_name: a list of (type, name); type 0 is a host name
                guard var names = data.vector(lengthBytes: 2) else { continue }
                while let kind = names.integer(1), let name = names.vector(lengthBytes: 2) {
                    if kind == 0 { hello.serverName = String(decoding: name.bytes, as: UTF8.self).lowercased() }
                }
            case 16:  // application_layer_protocol_negotiation
                guard var protocols = data.vector(lengthBytes: 2) else { continue }
                while let name = protocols.vector(lengthBytes: 1) {
                    hello.applicationProtocols.append(String(decoding: name.bytes, as: UTF8.self))
                }
            default:
                break
            }
        }
        return hello
    }

    private struct Reader {
        var bytes: ArraySlice<UInt8>
        init(_ bytes: ArraySlice<UInt8>) { self.bytes = bytes }

        mutating func skip(_ count: Int) -> Bool {
            guard bytes.count >= count else { return false }
            bytes = bytes.dropFirst(count)
            return true
        }

        mutating func integer(_ size: Int) -> Int? {
            guard bytes.count >= size else { return nil }
            let value = bytes.prefix(size).reduce(0) { $0 << 8 | Int($1) }
            bytes = bytes.dropFirst(size)
            return value
        }

        mutating func vector(lengthBytes: Int) -> Reader? {
            guard let length = integer(lengthBytes), bytes.count >= length else { return nil }
            defer { bytes = bytes.dropFirst(length) }
            return Reader(bytes.prefix(length))
        }

        mutating func skipVector(lengthBytes: Int) -> Bool { vector(lengthBytes: lengthBytes) != nil }
    }
}

/// Holds a new connection's first bytes until `ClientHello.parse` decides, then lets `choose`
/// set the pipeline up (TLS or not, the chain's filters), hands the bytes on and leaves. A
/// client that sends nothing decisive within `timeout` is closed (Envoy's
/// listener_filters_timeout, 15 s).
public final class TLSInspector: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer

    private var held: ByteBuffer?
    private let timeout: TimeAmount
    private var timer: Scheduled<Void>?
    private let choose: (ClientHello, ChannelPipeline.SynchronousOperations) throws -> Void

    public init(timeout: TimeAmount = .seconds(15), choose: @escaping (ClientHello, ChannelPipeline.SynchronousOperations) throws -> Void) {
        self.timeout = timeout
        self.choose = choose
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: timeout) { loopBound.value.close(promise: nil) }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        if var held {
            held.writeBuffer(&buffer)
            buffer = held
        }
        switch ClientHello.parse(buffer.readableBytesView) {
        case .needMore:
            held = buffer
        case .done(let hello):
            held = nil
            timer?.cancel()
            FirstBytes.install(buffer, from: context) { try choose(hello, $0) }
        }
    }

    public func channelInactive(context: ChannelHandlerContext) {
        held = nil
        context.fireChannelInactive()
    }
}

/// What the proxy's first-bytes handlers (this inspector, HTTP's protocol sniffer) do once they
/// have decided: set the pipeline up behind themselves, hand on the bytes they held, and leave,
/// so they cost nothing after the first read. A setup that fails closes the connection.
public enum FirstBytes {
    public static func install(_ held: ByteBuffer, from context: ChannelHandlerContext,
                               _ setUp: (ChannelPipeline.SynchronousOperations) throws -> Void) {
        do {
            try setUp(context.pipeline.syncOperations)
        } catch {
            context.close(promise: nil)
            return
        }
        context.fireChannelRead(NIOAny(held))
        context.fireChannelReadComplete()
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}
