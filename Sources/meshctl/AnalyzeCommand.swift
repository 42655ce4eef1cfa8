// meshctl analyze: validation plus the checks across a whole mesh, with codes and fixes.

import Analysis
import ArgumentParser
import EmbeddedMesh
import Foundation
import MeshAPI
import MeshModel

struct AnalyzeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "analyze",
        abstract: "Find misconfigurations: validation plus checks across resources, each with a code and a fix.",
        discussion: """
            With -f, analyzes those files; without, the running mesh's configuration (its run \
            directory's config). Codes: IST0101 a VirtualService host, destination or subset that \
            does not exist; IST0109 two VirtualServices for one host; IST0127 a selector that matches \
            no workload; IST0130 a rule no request reaches; SM0001 a DestinationRule subset that \
            selects no endpoint; SM0002 a Gateway no VirtualService binds. Reference and selector \
            checks need the mesh's registry: they run when the input has ServiceEntries \
            (WorkloadEntries for selectors). Exit status 1 when there is an error.
            """)

    @Option(name: .shortAndLong, help: "A file or directory to analyze (repeatable); default: the running mesh.")
    var filename: [String] = []

    @OptionGroup var location: MeshLocation

    func run() throws {
        let paths = filename.isEmpty ? [try location.state().configDirectory] : filename
        let (inputs, problems) = ConfigInput.read(paths: paths)
        if let problem = problems.first { throw CommandFailure(problem) }
        let report = ValidationReport.validate(inputs)
        let findings = Analyzer(snapshot: MeshSnapshot.empty().next(report)).run()
        // The validator's own reference warnings say what a finding says: the coded one stays.
        let covered = Set(findings.map { "\($0.resource)\u{0}\($0.path)" })
        let diagnostics = report.diagnostics.filter { diagnostic in
            diagnostic.severity != .info
                && !(diagnostic.severity == .warning && covered.contains("\(diagnostic.resource.map { "\($0)" } ?? "")\u{0}\(diagnostic.path.map { "\($0)" } ?? "")"))
        }
        for diagnostic in diagnostics { print(diagnostic.description) }
        for finding in findings { print(finding.description) }
        let errors = diagnostics.filter { $0.severity == .error }.count + findings.filter { $0.severity == .error }.count
        let warnings = diagnostics.count + findings.count - errors
        if errors + warnings == 0 {
            print("✔ no problems found in \(report.resources.count) resources")
        } else {
            print("\(errors) error\(errors == 1 ? "" : "s"), \(warnings) warning\(warnings == 1 ? "" : "s") in \(report.resources.count) resources")
        }
        if errors > 0 { throw ExitCode(1) }
    }
}
