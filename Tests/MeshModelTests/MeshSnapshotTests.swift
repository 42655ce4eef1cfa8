// Snapshots keep the last valid version of every resource serving while its input is invalid.

import Foundation
import MeshAPI
import MeshModel
import Testing

private func report(_ files: [String: String]) -> ValidationReport {
    ValidationReport.validate(files.sorted { $0.key < $1.key }.map { ConfigInput(file: $0.key, data: Data($0.value.utf8)) })
}

private func reviews(weight: Int) -> String {
    """
    apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: reviews}
    spec:
      hosts: [reviews]
      http:
      - route:
        - {destination: {host: reviews, subset: v1}, weight: \(weight)}
        - {destination: {host: reviews, subset: v2}, weight: \(100 - weight)}
    """
}

private let ratingsEntry = """
    apiVersion: networking.istio.io/v1
    kind: ServiceEntry
    metadata: {name: ratings}
    spec:
      hosts: [ratings.default.svc.cluster.local]
      resolution: STATIC
      ports: [{number: 9080, name: http, protocol: HTTP}]
      endpoints: [{address: 127.0.1.4}]
    """

private func weights(_ snapshot: MeshSnapshot) -> [Int32?] {
    guard case .virtualService(let service)? = snapshot.resources[ResourceKey(kind: "VirtualService", namespace: "default", name: "reviews")]?.spec
    else { return [] }
    return service.http?.first?.route?.map(\.weight) ?? []
}

@Suite struct MeshSnapshotTests {
    @Test func validChangesApplyAndVersionsIncrease() {
        let first = MeshSnapshot.empty().next(report(["vs.yaml": reviews(weight: 90), "se.yaml": ratingsEntry]))
        #expect(first.version == 1)
        #expect(weights(first) == [90, 10])
        #expect(first.registry.endpoints["ratings.default.svc.cluster.local"]?.count == 1)
        let second = first.next(report(["vs.yaml": reviews(weight: 50), "se.yaml": ratingsEntry]))
        #expect(second.version == 2)
        #expect(weights(second) == [50, 50])
        #expect(second.rejected.isEmpty)
    }

    @Test func anInvalidResourceKeepsItsLastValidVersion() {
        let good = MeshSnapshot.empty().next(report(["vs.yaml": reviews(weight: 90), "se.yaml": ratingsEntry]))
        let bad = good.next(report(["vs.yaml": reviews(weight: -5), "se.yaml": ratingsEntry]))
        #expect(weights(bad) == [90, 10], "the last valid version keeps serving")
        let key = ResourceKey(kind: "VirtualService", namespace: "default", name: "reviews")
        #expect(bad.rejected[key]?.first?.message == "weight -5 must not be negative")
        #expect(bad.registry.services.count == 1, "everything else applies")
        let fixed = bad.next(report(["vs.yaml": reviews(weight: 70), "se.yaml": ratingsEntry]))
        #expect(weights(fixed) == [70, 30])
        #expect(fixed.rejected.isEmpty)
    }

    @Test func anInvalidNewResourceIsNotServed() {
        let snapshot = MeshSnapshot.empty().next(report(["vs.yaml": reviews(weight: -5)]))
        #expect(snapshot.resources.isEmpty)
        #expect(snapshot.rejected.count == 1)
    }

    @Test func anUnreadableFileKeepsWhatItHeld() {
        let good = MeshSnapshot.empty().next(report(["vs.yaml": reviews(weight: 90), "se.yaml": ratingsEntry]))
        let broken = good.next(report(["vs.yaml": "apiVersion: [unclosed\n", "se.yaml": ratingsEntry]))
        #expect(weights(broken) == [90, 10])
        #expect(broken.resources.count == 2)
    }

    @Test func removedResourcesGo() {
        let good = MeshSnapshot.empty().next(report(["vs.yaml": reviews(weight: 90), "se.yaml": ratingsEntry]))
        let removed = good.next(report(["se.yaml": ratingsEntry]))
        #expect(removed.resources(of: .virtualService).isEmpty)
        #expect(removed.resources(of: .serviceEntry).map(\.name) == ["ratings"])
    }
}

/// PeerAuthentication precedence as Istio applies it: port > workload > namespace > mesh >
/// PERMISSIVE, with UNSET deferring to the level above.
@Suite struct PeerAuthenticationPrecedenceTests {
    static func snapshot(_ yaml: String) -> MeshSnapshot {
        let report = ValidationReport.validate([ConfigInput(file: "pa.yaml", data: Data(yaml.utf8))])
        #expect(report.errorCount == 0, "\(report.diagnostics)")
        return MeshSnapshot.empty().next(report)
    }

    static func policy(_ name: String, _ namespace: String, _ body: String) -> String {
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: \(name), namespace: \(namespace)}\nspec: \(body)\n---\n"
    }

    let reviews = ["app": "reviews", "version": "v1"]

    @Test func withoutPoliciesItIsPermissive() {
        #expect(Self.snapshot("").mutualTLSMode(namespace: "default", labels: reviews, port: 9080) == .permissive)
    }

    @Test func eachLevelOverridesTheOneAbove() {
        let mesh = Self.policy("default", "istio-system", "{mtls: {mode: STRICT}}")
        let namespace = Self.policy("default", "default", "{mtls: {mode: PERMISSIVE}}")
        let workload = Self.policy("reviews", "default", "{selector: {matchLabels: {app: reviews}}, mtls: {mode: DISABLE}, portLevelMtls: {\"9090\": {mode: STRICT}}}")
        #expect(Self.snapshot(mesh).mutualTLSMode(namespace: "default", labels: reviews, port: 9080) == .strict)
        #expect(Self.snapshot(mesh + namespace).mutualTLSMode(namespace: "default", labels: reviews, port: 9080) == .permissive)
        let all = Self.snapshot(mesh + namespace + workload)
        #expect(all.mutualTLSMode(namespace: "default", labels: reviews, port: 9080) == .disable)
        #expect(all.mutualTLSMode(namespace: "default", labels: reviews, port: 9090) == .strict, "port level wins")
        #expect(all.mutualTLSMode(namespace: "default", labels: ["app": "ratings"], port: 9080) == .permissive, "the selector does not match")
        #expect(all.mutualTLSMode(namespace: "other", labels: reviews, port: 9080) == .strict, "another namespace gets the mesh's")
    }

    @Test func unsetDefersToTheLevelAbove() {
        let mesh = Self.policy("default", "istio-system", "{mtls: {mode: STRICT}}")
        let unset = Self.policy("reviews", "default", "{selector: {matchLabels: {app: reviews}}, mtls: {mode: UNSET}, portLevelMtls: {\"9090\": {mode: DISABLE}}}")
        let snapshot = Self.snapshot(mesh + unset)
        #expect(snapshot.mutualTLSMode(namespace: "default", labels: reviews, port: 9080) == .strict)
        #expect(snapshot.mutualTLSMode(namespace: "default", labels: reviews, port: 9090) == .disable)
    }
}
