// Loading plus validation of a set of inputs, as `meshctl validate` and meshd use it.

import Foundation

/// The outcome of validating a set of files: every resource read, and every problem found.
public struct ValidationReport: Sendable {
    public var resources: [MeshResource]
    /// All diagnostics, ordered by file, line and column.
    public var diagnostics: [Diagnostic]
    public var fileCount: Int

    public var errorCount: Int { diagnostics.errorCount }
    public var warningCount: Int { diagnostics.warningCount }

    /// Resources without errors: what a control plane may serve.
    public var validResources: [MeshResource] {
        let rejected = Set(diagnostics.filter { $0.severity == .error }.compactMap(\.resource))
        return resources.filter { !rejected.contains($0.reference) }
    }

    /// Loads and validates files and directories.
    public static func validate(paths: [String]) -> ValidationReport {
        var files: [String] = []
        var pathProblems: [Diagnostic] = []
        for path in paths {
            switch ConfigLoader.expand(path) {
            case .success(let found): files += found
            case .failure(let problem): pathProblems.append(problem)
            }
        }
        var report = validate(files.map { file in (file, FileManager.default.contents(atPath: file)) }
            .compactMap { file, data in
                if data == nil { pathProblems.append(Diagnostic(.error, "cannot read file", at: SourceLocation(file: file, line: 1, column: 1))) }
                return data.map { (file, $0) }
            })
        report.diagnostics = (pathProblems + report.diagnostics).sortedForDisplay()
        return report
    }

    /// Validates in-memory inputs, each named by the file it stands for.
    public static func validate(_ inputs: [(file: String, data: Data)]) -> ValidationReport {
        let loaded = ConfigLoader().load(inputs)
        let diagnostics = loaded.diagnostics + ConfigValidator().validate(loaded.resources)
        return ValidationReport(resources: loaded.resources.map(\.resource), diagnostics: diagnostics.sortedForDisplay(), fileCount: inputs.count)
    }
}
