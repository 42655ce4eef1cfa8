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

    /// Validates inputs already checked one by one: only the checks across resources run again.
    /// meshd reloads this way, so a change costs the files it touched, not the whole directory.
    public static func validate(_ inputs: [ValidatedInput], meshConfig: MeshConfig? = nil) -> ValidationReport {
        let loaded = inputs.flatMap(\.loaded)
        let diagnostics = inputs.flatMap(\.diagnostics) + ConfigValidator(meshConfig: meshConfig).validateAcross(loaded)
        return ValidationReport(resources: loaded.map(\.resource), diagnostics: diagnostics.sortedForDisplay(), fileCount: inputs.count)
    }
}

/// One input read, decoded and validated on its own (every rule except those across resources).
/// It depends only on the input's bytes, so it can be kept until the file changes.
public struct ValidatedInput: Sendable {
    public let input: ConfigInput
    let loaded: [LoadedResource]
    let diagnostics: [Diagnostic]

    public init(_ input: ConfigInput) {
        let result = ConfigLoader().load([input])
        self.input = input
        self.loaded = result.resources
        self.diagnostics = result.diagnostics + ConfigValidator().validateEach(result.resources)
    }
}
