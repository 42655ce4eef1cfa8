// Port 15020's text: the proxy's families, then the app's, with the app's clashing families and OpenMetrics' EOF left out.

import Telemetry
import Testing

@Suite struct PrometheusMergeTests {
    static let proxy = """
        # TYPE envoy_server_worker_downstream_cx_total counter
        envoy_server_worker_downstream_cx_total{worker="0"} 3
        # TYPE istio_request_duration_milliseconds histogram
        istio_request_duration_milliseconds_bucket{le="1"} 1
        istio_request_duration_milliseconds_sum 0.5
        istio_request_duration_milliseconds_count 1

        """

    @Test func theAppsFamiliesFollowTheProxys() {
        let app = """
            # HELP bookinfo_requests_total Requests answered.
            # TYPE bookinfo_requests_total counter
            bookinfo_requests_total{code="200"} 7
            # EOF
            """
        let merged = PrometheusMerge.merge(proxy: Self.proxy, app: app)
        #expect(merged == Self.proxy + "# HELP bookinfo_requests_total Requests answered.\n# TYPE bookinfo_requests_total counter\n"
                + "bookinfo_requests_total{code=\"200\"} 7\n")
    }

    @Test func aFamilyBothServeIsTheProxysOnly() {
        // An app that also exports istio_* or envoy_* names would make Prometheus reject the
        // whole scrape (a family twice); the proxy's are kept, the app's dropped.
        let app = """
            # TYPE istio_request_duration_milliseconds histogram
            istio_request_duration_milliseconds_bucket{le="5"} 9
            istio_request_duration_milliseconds_count 9
            envoy_server_worker_downstream_cx_total{worker="9"} 1
            app_up 1
            """
        let merged = PrometheusMerge.merge(proxy: Self.proxy, app: app)
        #expect(merged == Self.proxy + "app_up 1\n")
    }

    @Test func anEmptyOrUnterminatedAppTextStillEndsInALine() {
        #expect(PrometheusMerge.merge(proxy: "a 1", app: "") == "a 1\n")
        #expect(PrometheusMerge.merge(proxy: "a 1\n", app: "b 2") == "a 1\nb 2\n")
    }

    @Test func theAppsAddressParsesAsHostPortAndPath() {
        #expect(AppMetricsTarget(parsing: "127.0.0.1:9080/metrics")?.description == "127.0.0.1:9080/metrics")
        #expect(AppMetricsTarget(parsing: "127.0.0.1:8000")?.path == "/metrics")
        #expect(AppMetricsTarget(parsing: "localhost:9102/custom/path?x=1")?.path == "/custom/path?x=1")
        #expect(AppMetricsTarget(parsing: "127.0.0.1") == nil)
        #expect(AppMetricsTarget(parsing: "127.0.0.1:0/metrics") == nil)
        #expect(AppMetricsTarget(parsing: ":9080") == nil)
    }
}
