// One health check: a connection to the host, the probe's bytes, and a verdict within the timeout.

import NIOCore
import NIOPosix
import ProxyConfig

/// A single check of one host, on the checker's loop: connects (bounded by the check's timeout,
/// which covers the whole exchange), sends an HTTP/1.1 request or the TCP check's bytes, and
/// decides from the first answer it can: the status line, or every expected block seen in
/// order. The connection is closed after the verdict (`connection: close`).
final class HealthProbe: @unchecked Sendable {  // confined to the checker's loop
    enum Outcome {
        case passed
        /// `network`: no answer (connect error, reset, timeout). `counted`: counts toward the
        /// unhealthy threshold; false for an HTTP status that is neither expected nor retriable,
        /// which fails the host at once (Envoy's rule).
        case failed(reason: String, network: Bool, counted: Bool)
    }

    /// HTTP answers are decided on the status line; TCP answers may need more, up to this.
    static let maximumAnswer = 64 * 1024

    private let loop: EventLoop
    private let config: HealthCheckConfig
    private let request: [UInt8]
    private var channel: Channel?
    private var timeout: Scheduled<Void>?
    private var done: ((Outcome) -> Void)?
    private var answer: [UInt8] = []

    init(loop: EventLoop, config: HealthCheckConfig, hostHeader: String) {
        self.loop = loop
        self.config = config
        switch config.probe {
        case .http(let http): request = Self.httpRequest(http, hostHeader: hostHeader)
        case .tcp(let send, _): request = send
        }
    }

    /// The request line and headers: Envoy's own (host, user-agent `Envoy/HC`), then the
    /// configured additions and removals.
    static func httpRequest(_ http: HealthCheckConfig.HTTPProbe, hostHeader: String) -> [UInt8] {
        var headers: [(String, String)] = [("host", hostHeader), ("user-agent", "Envoy/HC")]
        for header in http.headersToAdd {
            let present = headers.contains { $0.0 == header.name }
            switch header.mode {
            case .append: headers.append((header.name, header.value))
            case .addIfAbsent: if !present { headers.append((header.name, header.value)) }
            case .overwrite:
                headers.removeAll { $0.0 == header.name }
                headers.append((header.name, header.value))
            case .overwriteIfExists:
                if present {
                    headers.removeAll { $0.0 == header.name }
                    headers.append((header.name, header.value))
                }
            }
        }
        headers.removeAll { http.headersToRemove.contains($0.0) && $0.0 != "host" }
        var text = "\(http.method) \(http.path) HTTP/1.1\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        text += "connection: close\r\n\r\n"
        return Array(text.utf8)
    }

    func start(to address: SocketAddress, bind: SocketAddress?, done: @escaping (Outcome) -> Void) {
        self.done = done
        timeout = loop.scheduleTask(in: TimeAmount(config.timeout)) { [weak self] in
            self?.finish(.failed(reason: "no answer within \(self?.config.timeout ?? .zero)", network: true, counted: true))
        }
        var bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(TimeAmount(config.timeout))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { [weak self] channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Reader(probe: self)) }
            }
        if let bind { bootstrap = bootstrap.bind(to: bind) }
        bootstrap.connect(to: address).whenComplete { [weak self] result in
            guard let self else { return }
            switch result {
            case .success(let channel):
                guard self.done != nil else {
                    channel.close(promise: nil)  // decided (timed out) while connecting
                    return
                }
                self.channel = channel
                if self.request.isEmpty {
                    if case .tcp(_, let receive) = self.config.probe, receive.isEmpty { self.finish(.passed) }
                    return
                }
                channel.writeAndFlush(ByteBuffer(bytes: self.request), promise: nil)
            case .failure(let error):
                self.finish(.failed(reason: "connect: \(error)", network: true, counted: true))
            }
        }
    }

    /// Stops a check whose host or cluster went away.
    func cancel() {
        done = nil
        close()
    }

    fileprivate func received(_ buffer: ByteBuffer) {
        guard done != nil else { return }
        answer += buffer.readableBytesView.prefix(Self.maximumAnswer - answer.count)
        switch config.probe {
        case .http(let http):
            guard let end = Self.lineEnd(answer) else {
                if answer.count >= Self.maximumAnswer { finish(.failed(reason: "no status line in \(answer.count) bytes", network: false, counted: true)) }
                return
            }
            let line = String(decoding: answer[..<end], as: UTF8.self)
            let parts = line.split(separator: " ", maxSplits: 2)
            guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]), (100...599).contains(status) else {
                finish(.failed(reason: "not an HTTP/1.1 status line: \(line.prefix(80))", network: false, counted: true))
                return
            }
            if http.isExpected(status) {
                finish(.passed)
            } else {
                finish(.failed(reason: "status \(status)", network: false, counted: http.isRetriable(status)))
            }
        case .tcp(_, let receive):
            if Self.containsInOrder(answer, receive) {
                finish(.passed)
            } else if answer.count >= Self.maximumAnswer {
                finish(.failed(reason: "the expected bytes were not in the first \(answer.count) bytes", network: false, counted: true))
            }
        }
    }

    fileprivate func closed() {
        finish(.failed(reason: "connection closed before an answer", network: true, counted: true))
    }

    private func finish(_ outcome: Outcome) {
        guard let done else { return }
        self.done = nil
        close()
        done(outcome)
    }

    private func close() {
        timeout?.cancel()
        timeout = nil
        channel?.close(promise: nil)
        channel = nil
    }

    static func lineEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 2 else { return nil }
        for index in 0..<(bytes.count - 1) where bytes[index] == 13 && bytes[index + 1] == 10 { return index }
        return nil
    }

    /// Envoy's TCP check: each block appears, after the previous one, somewhere in the answer.
    static func containsInOrder(_ bytes: [UInt8], _ blocks: [[UInt8]]) -> Bool {
        var start = 0
        for block in blocks {
            guard let found = find(block, in: bytes, from: start) else { return false }
            start = found + block.count
        }
        return true
    }

    private static func find(_ block: [UInt8], in bytes: [UInt8], from start: Int) -> Int? {
        guard !block.isEmpty else { return start }
        guard bytes.count - start >= block.count else { return nil }
        for index in start...(bytes.count - block.count) where bytes[index..<index + block.count].elementsEqual(block) { return index }
        return nil
    }

    /// Hands the probe what the host sends, and its closing.
    final class Reader: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        private weak var probe: HealthProbe?
        init(probe: HealthProbe?) { self.probe = probe }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            probe?.received(unwrapInboundIn(data))
        }

        func channelInactive(context: ChannelHandlerContext) {
            probe?.closed()
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: Error) {
            context.close(promise: nil)
        }
    }
}
