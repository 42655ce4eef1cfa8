// Istio's node ID format: parsing, printing and the errors for malformed IDs.

import MeshModel
import Testing

@Suite struct ProxyNodeIDTests {
    @Test func parsesSidecarsAndGateways() throws {
        let sidecar = try ProxyNodeID(parsing: "sidecar~127.0.1.4~ratings-v1.default~default.svc.cluster.local")
        #expect(sidecar.type == .sidecar)
        #expect(sidecar.ip == "127.0.1.4")
        #expect(sidecar.name == "ratings-v1")
        #expect(sidecar.namespace == "default")
        #expect(sidecar.domain == "default.svc.cluster.local")
        #expect(sidecar.description == "sidecar~127.0.1.4~ratings-v1.default~default.svc.cluster.local")
        let gateway = try ProxyNodeID(parsing: "router~10.0.0.9~ingress.vm-1.istio-system~istio-system.svc.cluster.local")
        #expect(gateway.type == .router)
        #expect(gateway.name == "ingress.vm-1", "the namespace is the last dotted part")
        #expect(gateway.namespace == "istio-system")
    }

    @Test func malformedIDsSayWhatIsWrong() {
        let cases = [
            ("sidecar~1.2.3.4~a.b", "expected 4 parts"),
            ("proxy~1.2.3.4~a.b~b.svc.cluster.local", "must be sidecar or router"),
            ("sidecar~~a.b~b.svc.cluster.local", "IP address is empty"),
            ("sidecar~1.2.3.4~nonamespace~b.svc.cluster.local", "must be name.namespace"),
            ("sidecar~1.2.3.4~a.~b.svc.cluster.local", "must be name.namespace"),
            ("sidecar~1.2.3.4~a.b~", "domain is empty"),
        ]
        for (id, reason) in cases {
            do {
                _ = try ProxyNodeID(parsing: id)
                Issue.record("\(id) was accepted")
            } catch {
                #expect(error.description.contains(reason), "\(id): \(error)")
            }
        }
    }
}
