// Istio's standard metrics: histogram buckets, merging workers, label values, and Prometheus text that promtool accepts.

import Foundation
import NIOHTTP1
@testable import Telemetry
import Testing

@Suite struct IstioMetricsTests {
    static let productpage = WorkloadMetadata(workload: "productpage-v1", namespace: "default",
                                              labels: ["app": "productpage", "version": "v1"], cluster: "Kubernetes")
    static let reviews = WorkloadMetadata(workload: "reviews-v2", namespace: "default",
                                          labels: ["app": "reviews", "version": "v2",
                                                   "service.istio.io/canonical-revision": "2.0"], cluster: "Kubernetes")

    static func record(code: Int, grpc: Bool = false) -> AccessLogRecord {
        var record = AccessLogRecord(startTime: 0)
        record.requestHeaders = grpc ? ["content-type": "application/grpc"] : ["content-type": "text/plain"]
        record.responseCode = code
        if grpc { record.responseTrailers = ["grpc-status": "14"] }
        return record
    }

    @Test func bucketsAreEnvoysWithInclusiveBounds() {
        var histogram = IstioHistogram()
        for value in [0.5, 0.75, 1, 3_600_000, 3_600_001] { histogram.observe(value) }
        #expect(histogram.buckets[0] == 1, "0.5 is in le=0.5")
        #expect(histogram.buckets[1] == 2, "0.75 and 1 are in le=1")
        #expect(histogram.buckets[18] == 1 && histogram.buckets[19] == 1, "above the last bound is +Inf only")
        #expect(histogram.count == 5 && histogram.sum == 7_200_003.25)
        let text = IstioMetricsSnapshot.histogram("h", labels: "a=\"b\"", histogram)
        #expect(text.contains("h_bucket{a=\"b\",le=\"1\"} 3\n"), "cumulative")
        #expect(text.contains("h_bucket{a=\"b\",le=\"3.6e+06\"} 4\nh_bucket{a=\"b\",le=\"+Inf\"} 5\n"))
        #expect(text.contains("h_sum{a=\"b\"} 7200003.25\nh_count{a=\"b\"} 5\n"))
    }

    @Test func labelsFollowIstioForEachReporter() {
        // The server's sidecar: the caller from metadata exchange, mTLS seen on its own connection.
        let server = IstioRequestContext(reporter: .destination, source: Self.productpage, destination: Self.reviews,
                                         sourcePrincipal: "spiffe://cluster.local/ns/default/sa/bookinfo-productpage",
                                         destinationPrincipal: "spiffe://cluster.local/ns/default/sa/bookinfo-reviews",
                                         destinationService: "reviews.default.svc.cluster.local", mutualTLS: true)
        let labels = Dictionary(uniqueKeysWithValues: zip(IstioSeries.requestLabels, server.requestSeries(Self.record(code: 200)).key.values))
        #expect(labels["reporter"] == "destination" && labels["source_workload"] == "productpage-v1")
        #expect(labels["source_canonical_service"] == "productpage" && labels["source_canonical_revision"] == "v1")
        #expect(labels["destination_canonical_revision"] == "2.0", "the canonical-revision label wins over version")
        #expect(labels["destination_service_name"] == "reviews" && labels["destination_service_namespace"] == "default")
        #expect(labels["request_protocol"] == "http" && labels["response_code"] == "200" && labels["grpc_response_status"] == "")
        #expect(labels["response_flags"] == "-" && labels["connection_security_policy"] == "mutual_tls")

        // A client sidecar calling something outside the mesh: nothing known of the other side.
        let client = IstioRequestContext(reporter: .source, source: Self.productpage, destinationService: "api.example.com")
        var failed = Self.record(code: 503, grpc: true)
        failed.responseFlags = [.upstreamConnectionFailure, .upstreamRetryLimitExceeded]
        let outbound = Dictionary(uniqueKeysWithValues: zip(IstioSeries.requestLabels, client.requestSeries(failed).key.values))
        #expect(outbound["destination_workload"] == "unknown" && outbound["destination_canonical_revision"] == "unknown")
        #expect(outbound["destination_service_name"] == "api.example.com" && outbound["destination_service_namespace"] == "unknown")
        #expect(outbound["request_protocol"] == "grpc" && outbound["grpc_response_status"] == "14")
        #expect(outbound["response_flags"] == "UF,URX" && outbound["connection_security_policy"] == "unknown")

        let tcp = client.connectionSeries(AccessLogRecord(startTime: 0)).key
        #expect(tcp.values.count == IstioSeries.connectionLabels.count && tcp.values[20] == "tcp")
    }

    @Test func workersMergeIntoOneSeriesEach() {
        // Each worker builds its own peer labels: series from different workers (or from a
        // worker whose peer cache started afresh) meet by their label values.
        let key = IstioRequestContext(reporter: .source, source: Self.productpage).requestSeries(Self.record(code: 200))
        let same = IstioRequestContext(reporter: .source, source: Self.productpage).requestSeries(Self.record(code: 200))
        let other = IstioRequestContext(reporter: .source, source: Self.productpage).requestSeries(Self.record(code: 500))
        #expect(key != same, "recorded apart: different label objects")
        let first = IstioMetricsRecorder()
        let second = IstioMetricsRecorder()
        first.recordRequest(key, durationMilliseconds: 3, requestBytes: 0, responseBytes: 1200)
        second.recordRequest(same, durationMilliseconds: 7, requestBytes: 10, responseBytes: 800)
        second.recordRequest(other, durationMilliseconds: 1, requestBytes: 0, responseBytes: 0)
        second.recordRequest(key, durationMilliseconds: 2, requestBytes: 0, responseBytes: 0)
        #expect(second.snapshot().requests[key.key]?.total == 2, "one worker's two label objects, one series")
        var merged = first.snapshot()
        merged.merge(second.snapshot())
        #expect(merged.requests.count == 2)
        #expect(merged.requests[key.key]?.total == 3 && merged.requests[key.key]?.durationMilliseconds.sum == 12)
        #expect(merged.requests[key.key]?.responseBytes.count == 3 && merged.requests[other.key]?.total == 1)
    }

    /// Telemetry overrides at scrape: a dropped metric is gone, a removed tag merges the series
    /// it told apart, an upserted tag replaces a standard one or is added after them, with its
    /// value taken from each request.
    @Test func overridesDropRemoveAndSetTags() {
        let overrides = IstioMetricOverrides(rules: [
            IstioMetricOverrides.Rule(metric: .requestBytes, drop: true),
            IstioMetricOverrides.Rule(metric: .requestsTotal, remove: ["response_code"],
                                      upsert: [("request_host", .requestHost), ("source_cluster", .literal("east"))]),
            IstioMetricOverrides.Rule(metric: nil, upsert: [("method", .requestMethod)]),
            IstioMetricOverrides.Rule(metric: .responseBytes, remove: ["method"]),
        ])
        let context = IstioRequestContext(reporter: .destination, source: Self.productpage, destination: Self.reviews)
        let labels = context.peerLabels()
        func request(_ code: Int, host: String) -> AccessLogRecord {
            var record = Self.record(code: code)
            record.requestHeaders?.add(name: "host", value: host)
            record.method = "GET"
            return record
        }
        let recorder = IstioMetricsRecorder()
        for (code, host) in [(200, "reviews"), (503, "reviews"), (200, "reviews:9080")] {
            recorder.recordRequest(IstioRequestSeries(peer: labels, security: .none, record: request(code, host: host), overrides: overrides),
                                   durationMilliseconds: 1, requestBytes: 1, responseBytes: 1)
        }
        let text = recorder.snapshot().prometheusText()
        #expect(!text.contains("istio_request_bytes"), "dropped")
        let totals = text.split(separator: "\n").filter { $0.hasPrefix("istio_requests_total{") }
        #expect(totals.count == 2, "200 and 503 for host reviews merged once response_code is gone: \(totals)")
        #expect(totals.allSatisfy { !$0.contains("response_code=") && $0.contains(",source_cluster=\"east\",") && $0.contains("method=\"GET\"") })
        #expect(totals.contains { $0.contains("request_host=\"reviews\"") && $0.hasSuffix(" 2") })
        #expect(totals.contains { $0.contains("request_host=\"reviews:9080\"") && $0.hasSuffix(" 1") })
        #expect(text.contains("istio_response_bytes_count{") && !text.split(separator: "\n").contains { $0.hasPrefix("istio_response_bytes") && $0.contains("method=") })
        let durations = text.split(separator: "\n").filter { $0.hasPrefix("istio_request_duration_milliseconds_count{") }
        #expect(durations.count == 2 && durations.allSatisfy { $0.contains("response_code=") && $0.contains(",method=\"GET\"} ") })
        // A TCP connection has no request: request attributes are unknown, literals stay.
        let tcp = IstioConnectionSeries(peer: labels, security: .none, flags: ResponseFlags(), overrides: overrides)
        recorder.recordConnectionOpened(tcp)
        #expect(recorder.snapshot().prometheusText().contains(",method=\"unknown\"} 1\n"))
        #expect(IstioTagValue(expression: "request.headers[\"X-User\"]") == .requestHeader("x-user"))
        #expect(IstioTagValue(expression: "request.auth.principal") == nil && IstioTagValue(expression: "'it''s'") == nil)
    }

    @Test func peerLabelsAreBuiltOncePerPeerAndService() {
        let recorder = IstioMetricsRecorder()
        var builds = 0
        func build(_ key: IstioPeerKey) -> IstioRequestContext {
            builds += 1
            return IstioRequestContext(reporter: key.reporter, source: Self.productpage, destinationService: key.destinationService)
        }
        let reviews = IstioPeerKey(reporter: .source, announcement: "abc", destinationService: "reviews.default.svc.cluster.local")
        let ratings = IstioPeerKey(reporter: .source, announcement: "abc", destinationService: "ratings.default.svc.cluster.local")
        let first = recorder.peerLabels(for: reviews, build: build)
        #expect(recorder.peerLabels(for: reviews, build: build) === first)
        let other = recorder.peerLabels(for: ratings, build: build)
        #expect(other !== first && other.values[14] == "ratings.default.svc.cluster.local")
        #expect(recorder.peerLabels(for: reviews, build: build) === first, "found again past the last-peer shortcut")
        #expect(builds == 2)

        // A client announcing a new identity each time cannot grow the cache without bound.
        for index in 0...IstioMetricsRecorder.peerCacheLimit {
            _ = recorder.peerLabels(for: IstioPeerKey(reporter: .destination, announcement: "peer-\(index)"), build: build)
        }
        #expect(builds == 2 + IstioMetricsRecorder.peerCacheLimit + 1)
        _ = recorder.peerLabels(for: reviews, build: build)
        #expect(builds == 2 + IstioMetricsRecorder.peerCacheLimit + 2, "the cache started afresh at its limit")
    }

    /// The whole exposition through the real Prometheus tooling (`promtool`, installed by
    /// scripts/setup.sh): names, types, label syntax, histogram shape.
    @Test func prometheusTextPassesPromtool() throws {
        let recorder = IstioMetricsRecorder()
        var odd = Self.productpage
        odd.labels["version"] = "v1 \"quoted\" \\ back\nslash"
        let context = IstioRequestContext(reporter: .destination, source: odd, destination: Self.reviews,
                                          destinationService: "reviews.default.svc.cluster.local", mutualTLS: false)
        recorder.recordRequest(context.requestSeries(Self.record(code: 200)), durationMilliseconds: 2.5, requestBytes: 0, responseBytes: 512)
        let tcp = context.connectionSeries(AccessLogRecord(startTime: 0))
        recorder.recordConnectionOpened(tcp)
        recorder.recordConnectionBytes(tcp, sent: 100, received: 40)
        recorder.recordConnectionClosed(tcp)
        let text = recorder.snapshot().prometheusText()
        #expect(text.contains("source_version=\"v1 \\\"quoted\\\" \\\\ back\\nslash\""))
        #expect(text.contains("connection_security_policy=\"none\"} 1\n"))
        #expect(text.contains("istio_tcp_sent_bytes_total{") && text.hasSuffix("} 40\n"))

        let promtool = ["/usr/bin/promtool", "/usr/local/bin/promtool"].first { FileManager.default.isExecutableFile(atPath: $0) }
        let path = try #require(promtool, "promtool is missing: run scripts/setup.sh")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["check", "metrics"]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        try process.run()
        input.fileHandleForWriting.write(Data(text.utf8))
        try input.fileHandleForWriting.close()
        let said = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        // Two lint notes are Istio's own naming, kept so dashboards work: no HELP lines, and
        // `_milliseconds` rather than seconds. Anything else (a parse error included) fails.
        let errors = said.split(separator: "\n").filter { !$0.contains("no help text") && !$0.contains("use base unit") }
        #expect(errors.isEmpty, "promtool: \(said)")
    }
}
