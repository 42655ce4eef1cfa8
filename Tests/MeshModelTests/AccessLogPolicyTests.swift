// Which access logs a proxy writes: Telemetry precedence (mesh, namespace, workload), modes, defaults and the mesh config's accessLogFile.

import Foundation
import MeshAPI
import MeshModel
import Testing

@Suite struct AccessLogPolicyTests {
    static func snapshot(_ yaml: String, mesh: String = "") throws -> MeshSnapshot {
        var meshConfig = MeshConfig()
        if !mesh.isEmpty {
            let loaded = MeshConfigLoader.load(Data(mesh.utf8), file: "mesh.yaml")
            meshConfig = try #require(loaded.config)
            #expect(loaded.diagnostics.isEmpty, "\(loaded.diagnostics)")
        }
        let report = ValidationReport.validate([ConfigInput(file: "t.yaml", data: Data(yaml.utf8))], meshConfig: meshConfig)
        #expect(report.errorCount == 0, "\(report.diagnostics)")
        return MeshSnapshot.empty(meshConfig: meshConfig).next(report)
    }

    static let layered = """
        apiVersion: telemetry.istio.io/v1
        kind: Telemetry
        metadata: {name: mesh, namespace: istio-system}
        spec:
          accessLogging: [{providers: [{name: envoy}]}]
        ---
        apiVersion: telemetry.istio.io/v1
        kind: Telemetry
        metadata: {name: ns, namespace: shop}
        spec:
          accessLogging: [{match: {mode: CLIENT}, filter: {expression: "response.code >= 500"}}]
        ---
        apiVersion: telemetry.istio.io/v1
        kind: Telemetry
        metadata: {name: quiet, namespace: shop}
        spec:
          selector: {matchLabels: {app: cart}}
          accessLogging: [{match: {mode: SERVER}, disabled: true}]
        """

    @Test func narrowerLevelsOverrideByMode() throws {
        let snapshot = try Self.snapshot(Self.layered)
        // Another namespace: the mesh's log on both sides, unfiltered.
        let elsewhere = snapshot.accessLogs(namespace: "default", labels: [:], clientSide: true)
        #expect(elsewhere.map(\.provider) == ["envoy"] && elsewhere[0].filter == nil && elsewhere[0].path == "/dev/stdout")
        // shop's client side is filtered; its server side is not.
        let client = snapshot.accessLogs(namespace: "shop", labels: ["app": "web"], clientSide: true)
        #expect(client.first?.filter == .responseCode(.atLeast, 500))
        #expect(snapshot.accessLogs(namespace: "shop", labels: ["app": "web"], clientSide: false).first?.filter == nil)
        // cart turns its server-side log off, keeps the filtered client side.
        #expect(snapshot.accessLogs(namespace: "shop", labels: ["app": "cart"], clientSide: false).isEmpty)
        #expect(snapshot.accessLogs(namespace: "shop", labels: ["app": "cart"], clientSide: true).count == 1)
    }

    @Test func meshConfigDefaultsAndProviders() throws {
        let mesh = """
            accessLogFile: /var/log/mesh.log
            accessLogEncoding: JSON
            accessLogFormat: '{"code": "%RESPONSE_CODE%"}'
            extensionProviders:
            - {name: text-file, envoyFileAccessLog: {path: /tmp/a.log, logFormat: {text: "%RESPONSE_CODE%\\n"}}}
            - {name: otel, envoyOtelAls: {service: otel.default.svc.cluster.local, port: 4317}}
            """
        // No Telemetry: the legacy accessLogFile, formatted by the mesh config.
        let plain = try Self.snapshot("", mesh: mesh)
        let legacy = plain.accessLogs(namespace: "default", labels: [:], clientSide: true)
        #expect(legacy == [AccessLogSetting(provider: "mesh", path: "/var/log/mesh.log", format: .json(["code": .string("%RESPONSE_CODE%")]),
                                            omitEmptyValues: false)])
        // A Telemetry naming providers replaces it; a provider of another kind writes no file.
        let named = try Self.snapshot("""
            apiVersion: telemetry.istio.io/v1
            kind: Telemetry
            metadata: {name: mesh, namespace: istio-system}
            spec:
              accessLogging: [{providers: [{name: text-file}, {name: otel}]}]
            """, mesh: mesh)
        #expect(named.accessLogs(namespace: "default", labels: [:], clientSide: false)
            == [AccessLogSetting(provider: "text-file", path: "/tmp/a.log", format: .text("%RESPONSE_CODE%\n"), omitEmptyValues: false)])
    }

    @Test func withoutAnyConfigNothingIsLogged() throws {
        #expect(try Self.snapshot("").accessLogs(namespace: "default", labels: [:], clientSide: true).isEmpty)
    }
}
