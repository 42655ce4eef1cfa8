// Golden validation files: invalid/ cases match their .expected diagnostics; valid/ cases have none.

import Foundation
import MeshAPI
import Testing

// SWIFTMESH_UPDATE_GOLDEN=1 rewrites the expected files; read every diff before committing it.

enum TestFiles {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()

    static func files(in folder: String) -> [String] {
        let url = directory.appendingPathComponent(folder)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []
        return names.filter { ConfigInput.configExtensions.contains(($0 as NSString).pathExtension) }.sorted()
    }

    static func data(_ folder: String, _ name: String) -> Data {
        FileManager.default.contents(atPath: directory.appendingPathComponent(folder).appendingPathComponent(name).path) ?? Data()
    }

    /// Validates one file, naming it `folder/name` so expected output does not depend on where
    /// the checkout is.
    static func report(_ folder: String, _ name: String) -> ValidationReport {
        ValidationReport.validate([ConfigInput(file: "\(folder)/\(name)", data: data(folder, name))])
    }
}

@Suite struct GoldenValidationTests {
    @Test func thereAreEnoughInvalidCases() {
        #expect(TestFiles.files(in: "invalid").count >= 60)
    }

    @Test(arguments: TestFiles.files(in: "invalid"))
    func invalidFileReportsExactlyTheExpectedDiagnostics(name: String) throws {
        let report = TestFiles.report("invalid", name)
        let actual = report.diagnostics.map(\.description).joined(separator: "\n") + "\n"
        let expectedURL = TestFiles.directory.appendingPathComponent("invalid").appendingPathComponent(name + ".expected")
        if ProcessInfo.processInfo.environment["SWIFTMESH_UPDATE_GOLDEN"] == "1" {
            try actual.write(to: expectedURL, atomically: true, encoding: .utf8)
        }
        let expected = try String(contentsOf: expectedURL, encoding: .utf8)
        #expect(actual == expected, "diagnostics of \(name) differ from \(name).expected")
        #expect(report.errorCount + report.warningCount > 0, "\(name) is meant to show a problem")
        for diagnostic in report.diagnostics where diagnostic.severity != .info {
            #expect(diagnostic.location != nil, "every problem names its place: \(diagnostic)")
        }
    }

    @Test(arguments: TestFiles.files(in: "valid"))
    func validFileHasNoProblems(name: String) {
        let report = TestFiles.report("valid", name)
        #expect(report.diagnostics.isEmpty, "\(report.diagnostics.map(\.description).joined(separator: "\n"))")
        #expect(!report.resources.isEmpty)
    }
}

/// meshd validates each file on its own and keeps the result until the file changes; what it
/// reports must be what validating everything at once reports.
@Suite struct IncrementalValidationTests {
    @Test func validatingFileByFileFindsWhatValidatingAllAtOnceFinds() {
        for folder in ["invalid", "valid"] {
            let inputs = TestFiles.files(in: folder).map { ConfigInput(file: "\(folder)/\($0)", data: TestFiles.data(folder, $0)) }
            let whole = ValidationReport.validate(inputs)
            let byFile = ValidationReport.validate(inputs.map(ValidatedInput.init))
            // Notes on ignored kinds are grouped per file rather than per run: not compared.
            let significant = { (report: ValidationReport) in report.diagnostics.filter { $0.severity != .info }.map(\.description) }
            #expect(significant(byFile) == significant(whole), "\(folder)")
            #expect(byFile.resources.map(\.reference) == whole.resources.map(\.reference))
        }
    }
}
