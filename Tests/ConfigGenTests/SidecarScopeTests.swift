// Sidecar selection and egress host scoping, and what scoping leaves in a proxy's configuration.

@testable import ConfigGen
import EnvoyAPI
import Foundation
import MeshAPI
@testable import MeshModel
import Testing

@Suite struct SidecarScopeTests {
    static func service(_ hostname: String, namespace: String) -> MeshService {
        RouteTranslationTests.service(hostname, namespace: namespace, ports: [80])
    }

    @Test func egressHostsMatchNamespaceAndName() {
        let reviews = Self.service("reviews.default.svc.cluster.local", namespace: "default")
        let zipkin = Self.service("zipkin.istio-system.svc.cluster.local", namespace: "istio-system")
        let external = Self.service("api.example.com", namespace: "partners")
        func imports(_ host: String, _ service: MeshService) -> Bool {
            SidecarScope.egressHost(host, imports: service, proxyNamespace: "default")
        }
        #expect(imports("./*", reviews) && !imports("./*", zipkin))
        #expect(imports("istio-system/*", zipkin) && !imports("istio-system/*", reviews))
        #expect(imports("*/reviews.default.svc.cluster.local", reviews) && !imports("*/reviews.default.svc.cluster.local", zipkin))
        #expect(imports("*/*.example.com", external) && !imports("*/*.example.org", external))
        #expect(!imports("~/*", reviews), "~ imports nothing")
        #expect(imports("partners/api.example.com", external) && !imports("default/api.example.com", external))
        #expect(HostMatch.matches(pattern: "*.example.com", host: "*.api.example.com"))
        #expect(!HostMatch.matches(pattern: "api.example.com", host: "*.example.com"), "a name does not cover a wildcard")
    }

    func snapshot(_ yaml: String) throws -> MeshSnapshot {
        let report = ValidationReport.validate([ConfigInput(file: "test.yaml", data: Data(yaml.utf8))])
        #expect(report.errorCount == 0, "\(report.diagnostics)")
        return MeshSnapshot.empty().next(report)
    }

    @Test func theMostSpecificSidecarApplies() throws {
        let snapshot = try snapshot("""
            apiVersion: networking.istio.io/v1
            kind: Sidecar
            metadata: {name: root, namespace: istio-system}
            spec: {egress: [{hosts: ["*/*"]}]}
            ---
            apiVersion: networking.istio.io/v1
            kind: Sidecar
            metadata: {name: namespace-wide, namespace: default}
            spec: {egress: [{hosts: ["./*"]}]}
            ---
            apiVersion: networking.istio.io/v1
            kind: Sidecar
            metadata: {name: for-ratings, namespace: default}
            spec:
              workloadSelector: {labels: {app: ratings}}
              egress: [{hosts: ["istio-system/*"]}]
            """)
        func selected(namespace: String, labels: [String: String]) throws -> String? {
            let proxy = MeshProxy(id: try ProxyNodeID(parsing: "sidecar~127.0.1.9~x.\(namespace)~\(namespace).svc.cluster.local"),
                                  namespace: namespace, labels: labels, serviceAccount: "default")
            return SidecarScope(snapshot: snapshot, proxy: proxy).sidecarResource?.name
        }
        #expect(try selected(namespace: "default", labels: ["app": "ratings"]) == "for-ratings")
        #expect(try selected(namespace: "default", labels: ["app": "reviews"]) == "namespace-wide")
        #expect(try selected(namespace: "other", labels: [:]) == "root")
    }

    @Test func scopingShrinksClustersAndRoutes() throws {
        let (proxy, resources) = try ProxyConfigCases.generate("sidecar-scoped")
        #expect(proxy.workload?.name == "ratings-v1")
        let clusters = resources.clusters.map(\.name)
        #expect(!clusters.contains { $0.contains("details") || $0.contains("partners") }, "not imported by the egress hosts")
        #expect(clusters.contains("outbound|9080||reviews.default.svc.cluster.local"))
        #expect(clusters.contains("inbound|19080||") && clusters.contains("BlackHoleCluster"))
        #expect(!resources.routes.flatMap(\.virtualHosts).contains { $0.name.hasPrefix("details") })
        #expect(resources.routes.allSatisfy { $0.virtualHosts.last?.name == "block_all" }, "REGISTRY_ONLY")
        #expect(resources.listeners.map(\.name) == ["127.0.1.5_19080", "127.0.1.5_9080", "127.0.1.5_9411"],
                "the imported port 19080 is the inbound listener's, so no outbound listener takes it")
        let inbound = try #require(resources.clusters.first { $0.name == "inbound|19080||" })
        #expect(inbound.loadAssignment.endpoints.first?.lbEndpoints.first?.endpoint.address.socketAddress.address == "127.0.0.1")
        let outbound = try #require(resources.clusters.first { $0.name == "outbound|9080||reviews.default.svc.cluster.local" })
        #expect(!outbound.hasUpstreamBindConfig, "the bootstrap binds every upstream connection; clusters do not depend on the proxy")
    }

    @Test func stockEnvoyCheckCatchesAMissingCluster() throws {
        var resources = try ProxyConfigCases.generate("sidecar-embedded").resources
        resources.clusters.removeAll { $0.name == "outbound|9080|v2|reviews.default.svc.cluster.local" }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("missing-cluster-\(UUID().uuidString).json")
        try ProtoJSON.pretty(try ProxyConfigCases.validationBootstrap(resources)).write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let result = try BootstrapCases.validate(file)
        #expect(result.status != 0, "the golden validation would prove nothing if a dangling route passed")
        #expect(result.output.contains("outbound|9080|v2|reviews"), "\(result.output)")
    }
}
