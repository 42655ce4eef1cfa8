// The running mesh's configuration as meshctl changes it: one file per resource in meshd's directory.

import Foundation
import MeshAPI

/// `meshctl apply` and `delete` work on meshd's watched directory: each resource is a file of
/// its own, named by kind, namespace and name, so applying a resource again replaces it (as
/// `kubectl apply` does) and deleting removes exactly it. meshd notices within its 100 ms poll.
/// Input is validated first; nothing is written when it has errors.
public struct ConfigStore: Sendable {
    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    public enum Change: String, Sendable {
        case created, configured, unchanged, deleted
        case notFound = "not found"
    }

    /// The resources of `text` validated; throws the diagnostics when any is an error.
    public static func validated(_ text: String, file: String) throws -> ValidationReport {
        let report = ValidationReport.validate([ConfigInput(file: file, data: Data(text.utf8))])
        if report.errorCount > 0 {
            let lines = report.diagnostics.filter { $0.severity == .error }.map(\.description)
            throw MeshRunError(lines.joined(separator: "\n") + "\n\(file): nothing applied; fix the errors above and apply again")
        }
        if report.resources.isEmpty { throw MeshRunError("\(file): no Istio resources found") }
        return report
    }

    /// Writes each resource of `text`; returns what happened to each.
    public func apply(_ text: String, file: String) throws -> [(ResourceReference, Change)] {
        let report = try Self.validated(text, file: file)
        return try report.resources.map { resource in
            let path = self.path(resource.reference)
            let yaml = "# applied by meshctl from \(file)\n" + (try YAMLWriter.yaml(resource))
            let previous = FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
            let change: Change = previous == nil ? .created : (previous!.split(separator: "\n").dropFirst() == yaml.split(separator: "\n").dropFirst() ? .unchanged : .configured)
            if change != .unchanged { try write(yaml, to: path) }
            return (resource.reference, change)
        }
    }

    /// Removes each resource `text` names.
    public func delete(_ text: String, file: String) throws -> [(ResourceReference, Change)] {
        let report = ValidationReport.validate([ConfigInput(file: file, data: Data(text.utf8))])
        if report.resources.isEmpty { throw MeshRunError("\(file): no Istio resources found") }
        return report.resources.map { resource in
            let path = self.path(resource.reference)
            guard FileManager.default.fileExists(atPath: path) else { return (resource.reference, .notFound) }
            try? FileManager.default.removeItem(atPath: path)
            return (resource.reference, .deleted)
        }
    }

    /// `VirtualService.default.reviews.yaml`.
    func path(_ reference: ResourceReference) -> String {
        (directory as NSString).appendingPathComponent("\(reference.kind).\(reference.namespace).\(reference.name).yaml")
    }

    /// Written beside the target and renamed over it: meshd never reads half a file.
    private func write(_ text: String, to path: String) throws {
        let temporary = (directory as NSString).appendingPathComponent(".\((path as NSString).lastPathComponent).tmp")
        try text.write(toFile: temporary, atomically: false, encoding: .utf8)
        guard rename(temporary, path) == 0 else {
            throw MeshRunError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }
}
