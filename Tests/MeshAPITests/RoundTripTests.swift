// Every sample decodes, validates clean, re-encodes to YAML and decodes to an equal value.

import Foundation
import MeshAPI
import Testing

enum Samples {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("samples")

    /// The sample files users are meant to apply (not the deliberately broken ones, nor the
    /// workload lists of `meshctl up` or the Grafana dashboard, which are not Istio config).
    static var files: [String] {
        ConfigInput.read(paths: [root.path]).inputs.map(\.file).filter {
            !$0.contains("/broken/") && !$0.contains("/grafana/") && !$0.hasSuffix("/mesh.yaml")
        }
    }
}

@Suite struct RoundTripTests {
    @Test func thereAreSamples() {
        #expect(Samples.files.count >= 10)
    }

    @Test(arguments: Samples.files)
    func sampleValidatesCleanAndRoundTrips(path: String) throws {
        let report = ValidationReport.validate(ConfigInput.read(paths: [path]).inputs)
        #expect(report.diagnostics.isEmpty, "\(report.diagnostics.map(\.description).joined(separator: "\n"))")
        #expect(!report.resources.isEmpty)
        try expectRoundTrip(report.resources)
    }

    @Test(arguments: TestFiles.files(in: "valid"))
    func validTestInputRoundTrips(name: String) throws {
        try expectRoundTrip(TestFiles.report("valid", name).resources)
    }

    @Test func brokenSampleShowsErrors() {
        let report = ValidationReport.validate(ConfigInput.read(paths: [Samples.root.appendingPathComponent("broken").path]).inputs)
        #expect(report.errorCount >= 4)
    }

    private func expectRoundTrip(_ resources: [MeshResource]) throws {
        for resource in resources {
            let yaml = try YAMLWriter.yaml(resource)
            let reloaded = ConfigLoader().load([ConfigInput(file: "roundtrip.yaml", data: Data(yaml.utf8))])
            #expect(reloaded.diagnostics.isEmpty, "\(reloaded.diagnostics)\n\(yaml)")
            #expect(reloaded.resources.map(\.resource) == [resource], "\(resource.reference) changed through YAML:\n\(yaml)")
        }
    }
}
