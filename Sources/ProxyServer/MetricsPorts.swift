// Istio's metrics ports beside the admin port: 15090 (the proxy's Prometheus text) and 15020 (merged with the app's).

import NIOCore
import NIOHTTP1
import Synchronization
import Telemetry
import TextHTTP

/// Port 15090 answers `/stats/prometheus` with the admin port's text, as the `prometheus_stats`
/// listener of Istio's bootstrap does for Envoy. Port 15020 answers `/stats/prometheus` with that
/// text followed by the app's own metrics, read on each scrape, as Istio's agent merges them;
/// when the app does not answer, the proxy's part is still served and the failure is counted.
final class MetricsPorts: Sendable {
    static let statsPort = 15090
    static let mergedPort = 15020

    let admin: AdminServer
    let app: AppMetricsTarget?
    private let scrapes = Atomic<Int>(0)
    private let failures = Atomic<Int>(0)

    init(admin: AdminServer, app: AppMetricsTarget?) {
        self.admin = admin
        self.app = app
    }

    func bind(host: String, on loop: EventLoop) -> [(port: Int, channel: EventLoopFuture<Channel>)] {
        [(Self.statsPort, TextHTTPServer.bind(host: host, port: Self.statsPort, group: loop, closeAfterResponse: false) { head, loop in
            self.stats(head, merged: false, on: loop)
        }),
         (Self.mergedPort, TextHTTPServer.bind(host: host, port: Self.mergedPort, group: loop, closeAfterResponse: false) { head, loop in
            self.stats(head, merged: true, on: loop)
        })]
    }

    private func stats(_ head: HTTPRequestHead, merged: Bool, on loop: EventLoop) -> EventLoopFuture<TextResponse> {
        guard head.uri.split(separator: "?", maxSplits: 1).first == "/stats/prometheus" else {
            return loop.makeSucceededFuture(TextResponse(status: .notFound, contentType: "text/plain",
                                                         body: "this port serves /stats/prometheus only\n"))
        }
        let own = admin.prometheusStats()
        guard merged else { return own.map { TextResponse(contentType: "text/plain; version=0.0.4", body: $0) } }
        guard let app else { return own.map { TextResponse(contentType: "text/plain; version=0.0.4", body: $0 + self.scrapeCounters()) } }
        scrapes.wrappingAdd(1, ordering: .relaxed)
        let appText = TextHTTPClient.get(host: app.host, port: app.port, path: app.path, timeout: .seconds(2), on: loop)
            .flatMapThrowing { answer -> String in
                guard answer.status == 200 else { throw TextHTTPClient.Failure(description: "status \(answer.status)") }
                return answer.body
            }
            .recover { _ in
                self.failures.wrappingAdd(1, ordering: .relaxed)
                return ""
            }
        return own.and(appText).map { own, appText in
            TextResponse(contentType: "text/plain; version=0.0.4", body: PrometheusMerge.merge(proxy: own + self.scrapeCounters(), app: appText))
        }
    }

    /// How often the app was read for a merged scrape, and how often that failed.
    private func scrapeCounters() -> String {
        "# TYPE meshproxy_app_scrapes_total counter\nmeshproxy_app_scrapes_total \(scrapes.load(ordering: .relaxed))\n"
            + "# TYPE meshproxy_app_scrape_failures_total counter\nmeshproxy_app_scrape_failures_total \(failures.load(ordering: .relaxed))\n"
    }
}
