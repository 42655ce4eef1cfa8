// `meshctl analyze`, `apply`, `delete` and `get` end to end, the binary as a user runs it.

import Foundation
import Testing

@Suite struct AnalyzeCommandTests {
    static let corpus = "Tests/AnalysisTests/corpus"

    @Test func seededProblemIsReportedWithCodeAndExitStatus() throws {
        let result = try Meshctl.run(["analyze", "-f", "\(Self.corpus)/mesh.yaml", "-f", "\(Self.corpus)/IST0101-subset.yaml"])
        #expect(result.status == 1, "an error-level finding fails the command")
        #expect(result.output.contains("IST0101-subset.yaml:7:"), "\(result.output)")
        #expect(result.output.contains("error [IST0101] VirtualService default/reviews: spec.http[0].route[0].destination.subset"))
        #expect(result.output.hasSuffix("1 error, 0 warnings in 7 resources\n"), "\(result.output)")
    }

    @Test func cleanConfigurationHasNoFinding() throws {
        let result = try Meshctl.run(["analyze", "-f", "\(Self.corpus)/mesh.yaml", "-f", "\(Self.corpus)/clean.yaml"])
        #expect(result.status == 0)
        #expect(result.output == "✔ no problems found in 10 resources\n", "\(result.output)")
    }

    @Test func withoutAMeshItSaysHowToStartOne() throws {
        let result = try Meshctl.run(["analyze", "--run-dir", "/nonexistent/swiftmesh"])
        #expect(result.status == 2)
        #expect(result.error.contains("no running mesh at /nonexistent/swiftmesh"))
        #expect(result.error.contains("meshctl demo"))
        #expect(!result.error.contains("Usage:"), "a runtime failure is not a usage mistake")
    }
}

@Suite struct ApplyCommandTests {
    /// A run directory with a state file pointing at a config directory, as a running mesh has.
    static func fakeMesh() throws -> (runDirectory: String, config: String) {
        let run = FileManager.default.temporaryDirectory.appendingPathComponent("meshctl-apply-\(UUID().uuidString)").path
        let config = run + "/config"
        try FileManager.default.createDirectory(atPath: config, withIntermediateDirectories: true)
        let state = #"{"pid": 1, "configDirectory": "\#(config)", "debugAddress": "127.0.0.1:1", "xdsAddress": "127.0.0.1:1", "gateway": "", "processes": []}"#
        try state.write(toFile: run + "/mesh.json", atomically: true, encoding: .utf8)
        return (run, config)
    }

    @Test func applyWritesOneFilePerResourceAndReplacesOnReapply() throws {
        let (run, config) = try Self.fakeMesh()
        defer { try? FileManager.default.removeItem(atPath: run) }
        let first = try Meshctl.run(["apply", "-f", "samples/bookinfo/networking/virtual-service-all-v1.yaml", "--run-dir", run])
        #expect(first.status == 0, "\(first.error)")
        #expect(first.output.contains("VirtualService default/reviews created"))
        let second = try Meshctl.run(["apply", "-f", "samples/bookinfo/networking/virtual-service-reviews-test-v2.yaml", "--run-dir", run])
        #expect(second.output == "VirtualService default/reviews configured\n")
        let again = try Meshctl.run(["apply", "-f", "samples/bookinfo/networking/virtual-service-reviews-test-v2.yaml", "--run-dir", run])
        #expect(again.output == "VirtualService default/reviews unchanged\n")
        let files = try FileManager.default.contentsOfDirectory(atPath: config).sorted()
        #expect(files == ["VirtualService.default.details.yaml", "VirtualService.default.productpage.yaml",
                          "VirtualService.default.ratings.yaml", "VirtualService.default.reviews.yaml"])
        let reviews = try String(contentsOfFile: config + "/VirtualService.default.reviews.yaml", encoding: .utf8)
        #expect(reviews.contains("jason"), "the later apply replaced the resource")

        let deleted = try Meshctl.run(["delete", "-f", "samples/bookinfo/networking/virtual-service-reviews-test-v2.yaml", "--run-dir", run])
        #expect(deleted.output == "VirtualService default/reviews deleted\n")
        #expect(!FileManager.default.fileExists(atPath: config + "/VirtualService.default.reviews.yaml"))
    }

    @Test func invalidInputChangesNothing() throws {
        let (run, config) = try Self.fakeMesh()
        defer { try? FileManager.default.removeItem(atPath: run) }
        let result = try Meshctl.run(["apply", "-f", "samples/broken/reviews-typos.yaml", "--run-dir", run])
        #expect(result.status == 1)
        #expect(result.error.contains("nothing applied"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: config).isEmpty)
    }
}
