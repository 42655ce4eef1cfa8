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

    /// Validates inputs; with a mesh config, names of extension providers are checked too.
    public static func validate(_ inputs: [ConfigInput], meshConfig: MeshConfig? = nil) -> ValidationReport {
        let loaded = ConfigLoader().load(inputs)
        let diagnostics = loaded.diagnostics + ConfigValidator(meshConfig: meshConfig).validate(loaded.resources)
        return ValidationReport(resources: loaded.resources.map(\.resource), diagnostics: diagnostics.sortedForDisplay(), fileCount: inputs.count)
    }
}
