// `meshctl validate`: check Istio configuration files before they reach a mesh.

import ArgumentParser
import Foundation
import MeshAPI

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Validate Istio configuration files.",
        discussion: """
            Reads YAML or JSON files (multi-document, Kubernetes Lists), or every .yaml, .yml \
            and .json file below a directory, and checks them with Istio's rules. Prints one line \
            per problem as FILE:LINE:COL: SEVERITY: KIND NAMESPACE/NAME: FIELD: REASON and a summary.
            Exit status: 0 when there are no errors, 1 when any resource is invalid, 2 for usage \
            or input/output errors.
            """)

    enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
        case text, json
    }

    @Option(name: [.customShort("f"), .customLong("filename")], parsing: .upToNextOption,
            help: "Files or directories to validate; '-' reads standard input.")
    var paths: [String] = []

    @Option(name: .customLong("mesh-config"), help: "Also validate this Istio MeshConfig file.")
    var meshConfig: String?

    @Option(name: [.customShort("o"), .customLong("output")], help: "Output format: text or json.")
    var output: OutputFormat = .text

    func validate() throws {
        if paths.isEmpty && meshConfig == nil {
            throw ValidationError("give at least one file or directory with -f (or '-f -' for standard input)")
        }
        if paths.filter({ $0 == "-" }).count > 1 {
            throw ValidationError("standard input ('-f -') can be read only once")
        }
    }

    func run() throws {
        var inputs: [ConfigInput] = []
        var fileErrors: [String] = []
        for path in paths {
            if path == "-" {
                inputs.append(ConfigInput(file: "<stdin>", data: FileHandle.standardInput.readDataToEndOfFile()))
            } else {
                let (found, problems) = ConfigInput.read(paths: [path])
                inputs += found
                fileErrors += problems
            }
        }
        var meshConfigDiagnostics: [Diagnostic] = []
        var mesh: MeshConfig?
        if let meshConfig {
            switch MeshConfigLoader.load(path: meshConfig) {
            case .success(let loaded): (mesh, meshConfigDiagnostics) = loaded
            case .failure(let failure): fileErrors.append("\(meshConfig): \(failure.reason)")
            }
        }
        if !fileErrors.isEmpty {
            for message in fileErrors { FileHandle.standardError.write(Data("meshctl: \(message)\n".utf8)) }
            throw ExitCode(2)
        }
        var report = ValidationReport.validate(inputs, meshConfig: mesh)
        if meshConfig != nil {
            report.diagnostics = (meshConfigDiagnostics + report.diagnostics).sortedForDisplay()
            report.fileCount += 1
        }
        switch output {
        case .text: printText(report)
        case .json: try printJSON(report)
        }
        if report.errorCount > 0 { throw ExitCode(1) }
    }

    private func printText(_ report: ValidationReport) {
        var text = ""
        for diagnostic in report.diagnostics { text += diagnostic.description + "\n" }
        let files = report.fileCount == 1 ? "1 file" : "\(report.fileCount) files"
        let resources = report.resources.count == 1 ? "1 resource" : "\(report.resources.count) resources"
        let errors = report.errorCount == 1 ? "1 error" : "\(report.errorCount) errors"
        let warnings = report.warningCount == 1 ? "1 warning" : "\(report.warningCount) warnings"
        let verdict = report.errorCount == 0 ? "valid" : "invalid"
        text += "\(verdict): \(resources) in \(files), \(errors), \(warnings)\n"
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    private struct JSONReport: Encodable {
        var valid: Bool
        var files: Int
        var resources: Int
        var errors: Int
        var warnings: Int
        var diagnostics: [Diagnostic]
    }

    private func printJSON(_ report: ValidationReport) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let body = JSONReport(valid: report.errorCount == 0, files: report.fileCount, resources: report.resources.count,
                              errors: report.errorCount, warnings: report.warningCount, diagnostics: report.diagnostics)
        FileHandle.standardOutput.write(try encoder.encode(body) + Data("\n".utf8))
    }
}
