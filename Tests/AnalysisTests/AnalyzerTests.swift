// meshctl analyze's checks: each seeded misconfiguration in corpus/ is found, with its code, the
// resource and a fix; the clean config gives no finding.

import Analysis
import Foundation
import MeshAPI
import MeshModel
import Testing

@Suite struct AnalyzerTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("corpus")

    static var cases: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: corpus.path)) ?? [])
            .filter { $0.hasSuffix(".yaml") && $0 != "mesh.yaml" }.sorted()
    }

    static func analyze(_ name: String) throws -> [Finding] {
        let inputs = try ["mesh.yaml", name].map { file in
            ConfigInput(file: file, data: try Data(contentsOf: corpus.appendingPathComponent(file)))
        }
        let report = ValidationReport.validate(inputs)
        #expect(report.errorCount == 0, "\(name) must be valid Istio config: \(report.diagnostics)")
        return Analyzer(snapshot: MeshSnapshot.empty().next(report)).run()
    }

    @Test func everyRuleHasASeededCase() {
        #expect(Set(Self.cases.map { String($0.prefix(while: { $0 != "-" && $0 != "." })) })
                == ["IST0101", "IST0109", "IST0127", "IST0130", "SM0001", "SM0002", "clean"])
    }

    @Test(arguments: cases)
    func findsExactlyTheSeededProblem(name: String) throws {
        let findings = try Self.analyze(name)
        if name == "clean.yaml" {
            #expect(findings.isEmpty, "\(findings)")
            return
        }
        let code = String(name.prefix(while: { $0 != "-" && $0 != "." }))
        #expect(findings.count == 1, "\(findings.map(\.description))")
        let finding = try #require(findings.first)
        #expect(finding.code == code)
        #expect(finding.location?.file == name, "it points into the file with the problem")
        #expect(finding.message.contains(";") || finding.message.contains(". "), "it says how to fix it: \(finding.message)")
    }

    @Test func withoutARegistryReferenceChecksStayQuiet() throws {
        // Istio config alone (no ServiceEntries): hosts may be Kubernetes Services, not judged.
        let data = try Data(contentsOf: Self.corpus.appendingPathComponent("IST0101-host.yaml"))
        let report = ValidationReport.validate([ConfigInput(file: "IST0101-host.yaml", data: data)])
        #expect(Analyzer(snapshot: MeshSnapshot.empty().next(report)).run().isEmpty)
    }
}
