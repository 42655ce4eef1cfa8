// The registry from ServiceEntry and WorkloadEntry, as Istio builds it for workloads outside Kubernetes.

import Foundation
import MeshAPI
import MeshModel
import Testing

private func registry(_ yaml: String) -> ServiceRegistry {
    let loaded = ConfigLoader().load([ConfigInput(file: "registry.yaml", data: Data(yaml.utf8))])
    #expect(loaded.diagnostics.isEmpty, "\(loaded.diagnostics)")
    return ServiceRegistry(resources: loaded.resources.map(\.resource))
}

@Suite struct ServiceRegistryTests {
    static let bookinfoRatings = """
        apiVersion: networking.istio.io/v1
        kind: ServiceEntry
        metadata: {name: ratings, namespace: bookinfo}
        spec:
          hosts: [ratings.bookinfo.svc.cluster.local, ratings.internal]
          location: MESH_INTERNAL
          resolution: STATIC
          ports:
          - {number: 9080, name: http, protocol: http, targetPort: 19080}
          - {number: 9443, name: admin, protocol: TCP}
          workloadSelector:
            labels: {app: ratings}
        ---
        apiVersion: networking.istio.io/v1
        kind: WorkloadEntry
        metadata: {name: ratings-v1, namespace: bookinfo}
        spec:
          address: 127.0.1.4
          labels: {app: ratings, version: v1}
          serviceAccount: bookinfo-ratings
          locality: us-east/zone1
          ports: {admin: 19443}
        ---
        apiVersion: networking.istio.io/v1
        kind: WorkloadEntry
        metadata: {name: ratings-v2, namespace: bookinfo}
        spec:
          address: 127.0.1.5
          labels: {app: ratings, version: v2}
          weight: 3
        ---
        apiVersion: networking.istio.io/v1
        kind: WorkloadEntry
        metadata: {name: ratings-elsewhere, namespace: other}
        spec:
          address: 127.0.9.9
          labels: {app: ratings}
        """

    @Test func workloadSelectorChoosesWorkloadsOfTheNamespace() {
        let registry = registry(Self.bookinfoRatings)
        #expect(registry.services.map(\.hostname) == ["ratings.bookinfo.svc.cluster.local", "ratings.internal"])
        let service = registry.services[0]
        #expect(service.location == .MESH_INTERNAL)
        #expect(service.ports.map(\.protocolName) == ["HTTP", "TCP"], "protocols in Istio's spelling")
        let endpoints = registry.endpoints["ratings.bookinfo.svc.cluster.local"] ?? []
        #expect(endpoints.map { "\($0.servicePort)->\($0.address):\($0.port)" } == [
            "9080->127.0.1.4:19080", "9080->127.0.1.5:19080",  // targetPort
            "9443->127.0.1.4:19443",  // the workload's own port for that port name
            "9443->127.0.1.5:9443",   // the service port itself
        ])
        #expect(endpoints[0].serviceAccount == "bookinfo-ratings")
        #expect(endpoints[1].serviceAccount == "default", "Istio's default service account")
        #expect(endpoints[0].locality == "us-east/zone1")
        #expect(endpoints[1].weight == 3 && endpoints[0].weight == 1)
        #expect(endpoints[0].labels["version"] == "v1")
        #expect(!endpoints.contains { $0.address == "127.0.9.9" }, "another namespace's workload is not selected")
        #expect(registry.endpoints["ratings.internal"]?.count == 4, "every host of the entry has the endpoints")
    }

    @Test func proxiesAreFoundByAddressAndNamespace() {
        let registry = registry(Self.bookinfoRatings)
        #expect(registry.workload(address: "127.0.1.4", namespace: "bookinfo")?.name == "ratings-v1")
        #expect(registry.workload(address: "127.0.1.4", namespace: "default") == nil)
        #expect(registry.workloads.map(\.name) == ["ratings-v1", "ratings-v2", "ratings-elsewhere"])
    }

    @Test func inlineAndDNSEndpoints() {
        let registry = registry("""
            apiVersion: networking.istio.io/v1
            kind: ServiceEntry
            metadata: {name: vms}
            spec:
              hosts: [vm.example.com]
              resolution: STATIC
              ports: [{number: 80, name: http, protocol: HTTP, targetPort: 8080}]
              endpoints:
              - {address: 10.0.0.2, ports: {http: 8081}, labels: {version: v2}}
              - {address: 10.0.0.1, weight: 0}
            ---
            apiVersion: networking.istio.io/v1
            kind: ServiceEntry
            metadata: {name: external}
            spec:
              hosts: [api.example.com]
              resolution: DNS
              exportTo: ["."]
              ports: [{number: 443, name: https, protocol: TLS}]
            ---
            apiVersion: networking.istio.io/v1
            kind: ServiceEntry
            metadata: {name: passthrough}
            spec:
              hosts: [db.example.com]
              resolution: NONE
              ports: [{number: 5432, name: pg, protocol: TCP}]
            """)
        #expect(registry.endpoints["vm.example.com"]?.map { "\($0.address):\($0.port)/\($0.weight)" } == ["10.0.0.1:8080/1", "10.0.0.2:8081/1"])
        #expect(registry.endpoints["api.example.com"]?.map { "\($0.address):\($0.port)" } == ["api.example.com:443"],
                "a DNS service without endpoints is resolved by name")
        #expect(registry.services(named: "api.example.com").first?.exportTo == ["default"], "\".\" is the entry's own namespace")
        #expect(registry.endpoints["db.example.com"] ?? [] == [], "resolution NONE has no endpoints: traffic passes through")
    }
}
