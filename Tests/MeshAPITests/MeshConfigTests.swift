// Istio's MeshConfig file: defaults, the settings SwiftMesh uses, and validation.

import Foundation
@testable import MeshAPI
import Testing

@Suite struct MeshConfigTests {
    @Test func emptyFileGivesIstioDefaults() throws {
        let (config, diagnostics) = MeshConfigLoader.load(Data(), file: "mesh.yaml")
        let mesh = try #require(config)
        #expect(diagnostics.isEmpty)
        #expect(mesh.effectiveRootNamespace == "istio-system")
        #expect(mesh.effectiveTrustDomain == "cluster.local")
        #expect(mesh.effectiveOutboundMode == .ALLOW_ANY)
    }

    @Test func readsAnIstioMeshConfig() throws {
        let text = """
            rootNamespace: mesh-root
            trustDomain: example.org
            outboundTrafficPolicy: {mode: REGISTRY_ONLY}
            enableAutoMtls: true
            accessLogFile: /dev/stdout
            accessLogEncoding: JSON
            ingressControllerMode: STRICT
            defaultConfig:
              discoveryAddress: 127.0.0.1:15012
              proxyMetadata: {ISTIO_META_DNS_CAPTURE: "true"}
              tracing: {sampling: 10}
            extensionProviders:
            - name: zipkin
              zipkin: {service: zipkin.istio-system.svc.cluster.local, port: 9411}
            - name: otel
              opentelemetry:
                service: otel-collector.observability.svc.cluster.local
                port: 4318
                http: {path: /v1/traces, timeout: 5s}
            - name: opa
              envoyExtAuthzGrpc: {service: opa.default.svc.cluster.local, port: 9191}
            defaultProviders:
              tracing: [zipkin]
            """
        let (config, diagnostics) = MeshConfigLoader.load(Data(text.utf8), file: "mesh.yaml")
        #expect(diagnostics.isEmpty, "\(diagnostics)")
        let mesh = try #require(config)
        #expect(mesh.effectiveRootNamespace == "mesh-root")
        #expect(mesh.effectiveTrustDomain == "example.org")
        #expect(mesh.effectiveOutboundMode == .REGISTRY_ONLY)
        #expect(mesh.extensionProviders?.map(\.name) == ["zipkin", "otel", "opa"])
        #expect(mesh.extensionProviders?[1].opentelemetry?.http?.path == "/v1/traces")
        #expect(mesh.defaultConfig?.discoveryAddress == "127.0.0.1:15012")
    }

    @Test func reportsProblemsWithPositions() {
        let text = """
            rootNamespce: mesh-root
            trustDomain: "example org"
            extensionProviders:
            - name: zipkin
              zipkin: {service: zipkin, port: 0}
            - name: zipkin
            defaultProviders:
              tracing: [jaeger]
            """
        let (config, diagnostics) = MeshConfigLoader.load(Data(text.utf8), file: "mesh.yaml")
        #expect(config == nil, "a mesh config with errors is not used")
        #expect(diagnostics.map { "\($0.location!.line): \($0.path!): \($0.message)" } == [
            "1: rootNamespce: unknown field \"rootNamespce\"; did you mean \"rootNamespace\"?",
            "2: trustDomain: trust domain \"example org\" must be a DNS name such as cluster.local",
            "5: extensionProviders[0].zipkin.port: port number 0 must be in the range 1..65535",
            "6: extensionProviders[1].name: extension provider \"zipkin\" is defined twice",
            "6: extensionProviders[1]: an extension provider must set one provider kind (e.g. zipkin, opentelemetry, envoyFileAccessLog)",
            "8: defaultProviders.tracing[0]: default provider \"jaeger\" is not defined in extensionProviders",
        ])
    }
}

@Suite struct ProviderReferenceTests {
    @Test func policiesMustNameDefinedProviders() throws {
        let mesh = try #require(MeshConfigLoader.load(Data("""
            extensionProviders:
            - name: opa
              envoyExtAuthzGrpc: {service: opa.default.svc.cluster.local, port: 9191}
            - name: zipkin
              zipkin: {service: zipkin.istio-system.svc.cluster.local, port: 9411}
            """.utf8), file: "mesh.yaml").config)
        let policies = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: ext}
            spec:
              action: CUSTOM
              provider: {name: opa-typo}
              rules: [{}]
            ---
            apiVersion: telemetry.istio.io/v1
            kind: Telemetry
            metadata: {name: mesh-default, namespace: istio-system}
            spec:
              tracing: [{providers: [{name: zipkin}]}]
              metrics: [{providers: [{name: prometheus}]}]
              accessLogging: [{providers: [{name: otel}]}]
            """
        let report = ValidationReport.validate([ConfigInput(file: "policies.yaml", data: Data(policies.utf8))], meshConfig: mesh)
        #expect(report.diagnostics.map { "\($0.location!.line): \($0.path!): \($0.message)" } == [
            "6: spec.provider.name: provider \"opa-typo\" is not defined in the mesh config's extensionProviders (envoy, opa, prometheus, zipkin)",
            "15: spec.accessLogging[0].providers[0].name: provider \"otel\" is not defined in the mesh config's extensionProviders (envoy, opa, prometheus, zipkin)",
        ])
        #expect(report.diagnostics.allSatisfy { $0.severity == .warning })
        let withoutMeshConfig = ValidationReport.validate([ConfigInput(file: "policies.yaml", data: Data(policies.utf8))])
        #expect(withoutMeshConfig.diagnostics.isEmpty, "without a mesh config, provider names are not judged")
    }

    @Test func tracersSwiftMeshCannotReportToAreWarnedAbout() throws {
        let mesh = try #require(MeshConfigLoader.load(Data("""
            extensionProviders:
            - name: dd
              datadog: {service: datadog.tracing.local, port: 8126}
            - name: zipkin
              zipkin: {service: istio-system/zipkin.tracing.local, port: 9411}
            """.utf8), file: "mesh.yaml").config)
        let config = """
            apiVersion: telemetry.istio.io/v1
            kind: Telemetry
            metadata: {name: mesh-default, namespace: istio-system}
            spec:
              tracing: [{providers: [{name: dd}]}]
            ---
            apiVersion: telemetry.istio.io/v1
            kind: Telemetry
            metadata: {name: reviews, namespace: default}
            spec:
              tracing: [{providers: [{name: zipkin}]}]
            ---
            apiVersion: networking.istio.io/v1
            kind: ServiceEntry
            metadata: {name: reviews, namespace: default}
            spec: {hosts: [reviews.default.svc.cluster.local], ports: [{number: 9080, name: http}], resolution: STATIC}
            """
        let report = ValidationReport.validate([ConfigInput(file: "tracing.yaml", data: Data(config.utf8))], meshConfig: mesh)
        #expect(report.diagnostics.map { "\($0.location!.line): \($0.message)" } == [
            "5: provider \"dd\" is datadog: SwiftMesh traces with zipkin and opentelemetry providers only, so this one turns tracing off",
            "11: provider \"zipkin\" sends spans to istio-system/zipkin.tracing.local, which is not a service in the mesh (add a ServiceEntry): no proxy traces until it is",
        ])
    }
}

@Suite struct MeshConfigMapTests {
    @Test func readsIstiosConfigMapWithPositionsInTheFile() throws {
        let text = """
            apiVersion: v1
            kind: ConfigMap
            metadata:
              name: istio
              namespace: istio-system
            data:
              mesh: |-
                rootNamespace: istio-system
                trustDomain: example.org
                outboundTrafficPolicy:
                  mode: REGISTRY_ONY
            """
        let (config, diagnostics) = MeshConfigLoader.load(Data(text.utf8), file: "istio-cm.yaml")
        #expect(config == nil)
        let problem = try #require(diagnostics.first)
        #expect(problem.location == SourceLocation(file: "istio-cm.yaml", line: 11, column: 13))
        #expect(problem.path?.description == "outboundTrafficPolicy.mode")

        let fixed = text.replacingOccurrences(of: "REGISTRY_ONY", with: "REGISTRY_ONLY")
        let (good, none) = MeshConfigLoader.load(Data(fixed.utf8), file: "istio-cm.yaml")
        #expect(none.isEmpty)
        #expect(good?.effectiveTrustDomain == "example.org")
        #expect(good?.effectiveOutboundMode == .REGISTRY_ONLY)
    }

    @Test func configMapWithoutMeshIsAnError() {
        let (config, diagnostics) = MeshConfigLoader.load(Data("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio}\ndata: {}\n".utf8), file: "cm.yaml")
        #expect(config == nil)
        #expect(diagnostics.first?.message.contains("data.mesh") == true)
    }
}
