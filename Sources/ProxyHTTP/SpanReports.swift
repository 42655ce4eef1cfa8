// One worker's finished spans on their way to trace collectors: batched, sent in the background, dropped when they pile up.

import NIOCore
import NIOHTTP1
import ProxyConfig
import ProxyCore
import ProxyUpstream
import Telemetry

/// Spans wait here per collector and leave in one report when `batchSize` have gathered or
/// `flushInterval` has passed (Envoy's zipkin and opentelemetry tracers use 5 spans and 5 s).
/// A report is a `DetachedRequest` on the worker's own upstream pool, so it shares the
/// cluster's TLS and connection limits, and no request ever waits for it. Spans beyond
/// `pendingLimit` per collector (a collector that is down or slow) are dropped and counted.
final class SpanReports {
    static let batchSize = 5
    static let flushInterval = TimeAmount.seconds(5)
    static let pendingLimit = 1000

    /// Spans go to the same report when they share the collector and the reporting service.
    struct Destination: Hashable {
        var collector: TracingConfig.Collector
        var serviceName: String
    }

    private unowned let http: HTTPWorker
    private let reporter: SpanReporterIdentity
    private var pending: [Destination: [TraceSpan]] = [:]
    private var timer: Scheduled<Void>?

    init(http: HTTPWorker, reporter: SpanReporterIdentity) {
        self.http = http
        self.reporter = reporter
    }

    func add(_ span: TraceSpan, config: TracingConfig) {
        let destination = Destination(collector: config.collector, serviceName: config.serviceName ?? reporter.serviceName)
        var spans = pending.removeValue(forKey: destination) ?? []
        guard spans.count < Self.pendingLimit else {
            http.worker.stats.spansDropped += 1
            pending[destination] = spans
            return
        }
        spans.append(span)
        if spans.count >= Self.batchSize {
            send(spans, to: destination)
        } else {
            pending[destination] = spans
            if timer == nil {
                timer = http.worker.loop.scheduleTask(in: Self.flushInterval) { [self] in
                    timer = nil
                    flushAll()
                }
            }
        }
    }

    func flushAll() {
        let batches = pending
        pending = [:]
        for (destination, spans) in batches where !spans.isEmpty { send(spans, to: destination) }
    }

    private func send(_ spans: [TraceSpan], to destination: Destination) {
        let worker = http.worker
        let target: TracingConfig.HTTPTarget
        let body: [UInt8]
        let contentType: String
        let identity = SpanReporterIdentity(serviceName: destination.serviceName, ipv4: reporter.ipv4)
        switch destination.collector {
        case .zipkin(let zipkin):
            (target, body, contentType) = (zipkin, ZipkinSpans.json(spans, reporter: identity), ZipkinSpans.contentType)
        case .otlpHTTP(let otlp):
            (target, body, contentType) = (otlp, OTLPSpans.exportRequest(spans, reporter: identity), OTLPSpans.contentType)
        case .otlpGRPC(let otlp):
            (target, body, contentType) = (otlp, OTLPSpans.grpcFrame(OTLPSpans.exportRequest(spans, reporter: identity)), "application/grpc")
        }
        guard let cluster = worker.snapshot.clusters[target.cluster],
              let host = cluster.chooseHost(LoadBalancerContext(), state: &worker.loadBalancing) else {
            worker.stats.spansDropped += spans.count
            return
        }
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: target.path)
        head.headers.add(name: "host", value: target.authority)
        head.headers.add(name: "content-type", value: contentType)
        head.headers.add(name: "content-length", value: String(body.count))
        if case .otlpGRPC = destination.collector { head.headers.add(name: "te", value: "trailers") }
        for header in target.headers { head.headers.replaceOrAdd(name: header.name, value: header.value) }
        var buffer = ByteBufferAllocator().buffer(capacity: body.count)
        buffer.writeBytes(body)
        let report = DetachedRequest(http: http, head: head, received: [buffer])
        report.end(nil)
        guard report.send(to: host, cluster: cluster) else {
            worker.stats.spansDropped += spans.count
            return
        }
        report.expire(after: .nanoseconds(HTTPExchange.nanoseconds(target.timeout)))
        worker.stats.spansReported += spans.count
        worker.stats.traceReports += 1
    }
}
