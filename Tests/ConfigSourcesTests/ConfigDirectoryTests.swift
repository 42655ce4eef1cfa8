// The watched config directory: reloads re-validate changed files only, and keep the last good config.

import ConfigSources
import Foundation
import MeshAPI
import MeshModel
import Testing

@Suite struct ConfigDirectoryTests {
    /// A scratch directory removed when the test ends.
    final class Scratch {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("configdir-\(UUID().uuidString)").path
        init() throws { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
        deinit { try? FileManager.default.removeItem(atPath: path) }
        func write(_ name: String, _ text: String) throws {
            try text.write(toFile: (path as NSString).appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        func remove(_ name: String) throws { try FileManager.default.removeItem(atPath: (path as NSString).appendingPathComponent(name)) }
    }

    static let service = """
        apiVersion: networking.istio.io/v1
        kind: ServiceEntry
        metadata: {name: reviews, namespace: default}
        spec:
          hosts: [reviews.default.svc.cluster.local]
          location: MESH_INTERNAL
          resolution: STATIC
          ports: [{number: 9080, name: http, protocol: HTTP}]
          endpoints: [{address: 10.0.0.1, labels: {version: v1}}]
        """

    static func rule(subset: String) -> String {
        """
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata: {name: reviews, namespace: default}
        spec:
          host: reviews
          subsets: [{name: \(subset), labels: {version: \(subset)}}]
        """
    }

    static let route = """
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: reviews, namespace: default}
        spec:
          hosts: [reviews]
          http: [{route: [{destination: {host: reviews, subset: v1}}]}]
        """

    @Test func checksAcrossFilesSeeTheChangedFileWhileUnchangedFilesAreKept() throws {
        let scratch = try Scratch()
        try scratch.write("service.yaml", Self.service)
        try scratch.write("rule.yaml", Self.rule(subset: "v1"))
        try scratch.write("route.yaml", Self.route)
        let directory = ConfigDirectory(directory: scratch.path)
        let first = directory.reload(after: .empty())
        #expect(first.diagnostics.filter { $0.severity != .info }.isEmpty, "\(first.diagnostics)")
        #expect(first.snapshot.resources.count == 3)

        // The VirtualService's file is unchanged, but the subset it names is gone now: the check
        // across resources must still find it.
        try scratch.write("rule.yaml", Self.rule(subset: "v2"))
        let second = directory.reload(after: first.snapshot)
        #expect(second.diagnostics.contains { $0.description.contains("subset") && $0.description.contains("v1") }, "\(second.diagnostics)")
        #expect(second.snapshot.version == first.snapshot.version + 1)
    }

    @Test func anInvalidEditKeepsTheLastValidVersionAndItsFixApplies() throws {
        let scratch = try Scratch()
        try scratch.write("service.yaml", Self.service)
        try scratch.write("route.yaml", Self.route)
        let directory = ConfigDirectory(directory: scratch.path)
        let first = directory.reload(after: .empty())
        let key = ResourceReference(kind: "VirtualService", namespace: "default", name: "reviews")
        #expect(first.snapshot.resources[key] != nil)

        try scratch.write("route.yaml", Self.route.replacingOccurrences(of: "subset: v1}}", with: "subset: v1}, weight: -5}"))
        let broken = directory.reload(after: first.snapshot)
        #expect(broken.snapshot.rejected[key] != nil)
        #expect(broken.snapshot.resources[key] == first.snapshot.resources[key], "the last valid version keeps serving")

        try scratch.write("route.yaml", Self.route.replacingOccurrences(of: "hosts: [reviews]", with: "hosts: [reviews, ratings]"))
        let fixed = directory.reload(after: broken.snapshot)
        #expect(fixed.snapshot.rejected.isEmpty)
        guard case .virtualService(let spec)? = fixed.snapshot.resources[key]?.spec else {
            Issue.record("the VirtualService is not served")
            return
        }
        #expect(spec.hosts == ["reviews", "ratings"])

        try scratch.remove("route.yaml")
        let removed = directory.reload(after: fixed.snapshot)
        #expect(removed.snapshot.resources[key] == nil)
    }
}
