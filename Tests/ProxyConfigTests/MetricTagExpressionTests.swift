// Validation's view of the metric tag expressions meshproxy evaluates agrees with meshproxy's own.

import Foundation
import MeshAPI
import ProxyConfig
import Telemetry
import Testing

@Suite struct MetricTagExpressionTests {
    static let expressions = [
        "request.host", "request.method", "request.url_path", "response.code", " request.host ",
        "'literal'", "\"literal\"", "request.headers['x-user']", "request.headers[\"x-user\"]",
        // What Istio accepts and meshproxy does not evaluate.
        "request.headers['']", "request.headers[x-user]", "'it's'", "upstream_peer.labels['app'].value",
        "request.host + '/x'", "has(request.headers['x']) ? 'yes' : 'no'", "source.workload.name", "response.grpc_status", "",
    ]

    @Test(arguments: expressions)
    func validationAndTheProxyAgree(expression: String) {
        let proxy = IstioTagValue(expression: expression.trimmingWhitespace()) != nil
        #expect(MetricTagExpression.isSupported(expression) == proxy, "\(expression): validation and meshproxy disagree")
    }

    @Test func aTelemetryWithAnExpressionMeshproxyCannotEvaluateGetsAWarning() {
        let yaml = """
        apiVersion: telemetry.istio.io/v1
        kind: Telemetry
        metadata: {name: mesh-default, namespace: istio-system}
        spec:
          metrics:
          - overrides:
            - tagOverrides:
                request_host: {value: request.host}
                peer_app: {value: "upstream_peer.labels['app'].value"}
        """
        let report = ValidationReport.validate([ConfigInput(file: "telemetry.yaml", data: Data(yaml.utf8))])
        #expect(report.errorCount == 0)
        let warnings = report.diagnostics.filter { $0.severity == .warning }.map(\.description)
        #expect(warnings.count == 1)
        #expect(warnings.first?.contains("tagOverrides.peer_app.value") == true, "\(warnings)")
        #expect(warnings.first?.contains("meshproxy cannot evaluate") == true, "\(warnings)")
    }
}
