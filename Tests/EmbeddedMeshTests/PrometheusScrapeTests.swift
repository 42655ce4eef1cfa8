// The run's Prometheus configuration: Prometheus's own checker accepts it, and it names every proxy and meshd.

import Foundation
import Testing
@testable import EmbeddedMesh

@Suite struct PrometheusScrapeTests {
    static let scrape = PrometheusScrape(
        proxies: [PrometheusScrape.Target(address: "127.10.1.1:15000", proxy: "productpage-v1-sidecar", workload: "productpage-v1"),
                  PrometheusScrape.Target(address: "127.0.0.1:15000", proxy: "istio-ingressgateway", workload: "istio-ingressgateway")],
        meshd: "127.0.0.1:15014")

    @Test func promtoolAcceptsTheConfig() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("swiftmesh-prometheus-\(getpid()).yml").path
        try Self.scrape.yaml.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let promtool = ["/usr/bin/promtool", "/usr/local/bin/promtool"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let promtool else {
            Issue.record("promtool not installed (Debian's `prometheus`; scripts/setup.sh installs it)")
            return
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: promtool)
        process.arguments = ["check", "config", path]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "promtool check config: \(text)")
    }

    @Test func everyProxyAndMeshdAreScraped() {
        let yaml = Self.scrape.yaml
        #expect(yaml.contains("- targets: [\"127.10.1.1:15000\"]\n        labels: {proxy: \"productpage-v1-sidecar\", workload: \"productpage-v1\"}"))
        #expect(yaml.contains("- targets: [\"127.0.0.1:15000\"]"))
        #expect(yaml.contains("job_name: meshd\n    metrics_path: /metrics\n    static_configs:\n      - targets: [\"127.0.0.1:15014\"]"))
        #expect(yaml.contains("metrics_path: /stats/prometheus"))
    }
}
