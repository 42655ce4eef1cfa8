// The embedded config source: a directory of Istio YAML and a MeshConfig file, watched by polling.

import Foundation
import MeshAPI
import MeshModel
import Synchronization

/// What a reload found: the snapshot to serve and what was wrong with the input.
public struct ConfigReload: Sendable {
    public var snapshot: MeshSnapshot
    /// Problems of the resources and files (also in `snapshot.rejected` for resources).
    public var diagnostics: [Diagnostic]
    /// Files that could not be read, and MeshConfig problems that kept the previous MeshConfig.
    public var problems: [String]
}

/// A directory of Istio configuration (read recursively, as `meshctl validate` reads it) and an
/// optional MeshConfig file. Changes are found by polling file sizes and modification times,
/// which works on every file system and costs a few `stat` calls per interval. Each file's
/// validation is kept until its bytes change, so a reload re-validates only the files that
/// changed (and the checks across resources).
public final class ConfigDirectory: Sendable {
    public let directory: String
    public let meshConfigFile: String?
    private let validated = Mutex<[String: ValidatedInput]>([:])

    public init(directory: String, meshConfigFile: String? = nil) {
        self.directory = directory
        self.meshConfigFile = meshConfigFile
    }

    /// The state of every config file, compared between polls.
    public struct Fingerprint: Equatable, Sendable {
        var entries: [String] = []
    }

    public func fingerprint() -> Fingerprint {
        var fingerprint = Fingerprint()
        let manager = FileManager.default
        func add(_ path: String) {
            guard let attributes = try? manager.attributesOfItem(atPath: path) else { return }
            let size = (attributes[.size] as? Int) ?? -1
            let modified = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            fingerprint.entries.append("\(path)\u{0}\(size)\u{0}\(modified)")
        }
        if let enumerator = manager.enumerator(atPath: directory) {
            while let relative = enumerator.nextObject() as? String {
                if (relative as NSString).lastPathComponent.hasPrefix(".") {
                    enumerator.skipDescendants()
                    continue
                }
                guard ConfigInput.configExtensions.contains((relative as NSString).pathExtension.lowercased()) else { continue }
                add((directory as NSString).appendingPathComponent(relative))
            }
        }
        if let meshConfigFile { add(meshConfigFile) }
        fingerprint.entries.sort()
        return fingerprint
    }

    /// Reads and validates everything, and builds the snapshot after `previous`: invalid
    /// resources keep their last valid version, an invalid MeshConfig keeps the previous one.
    public func reload(after previous: MeshSnapshot) -> ConfigReload {
        var problems: [String] = []
        var meshConfig = previous.meshConfig
        if let meshConfigFile {
            switch MeshConfigLoader.load(path: meshConfigFile) {
            case .failure(let failure):
                problems.append("\(meshConfigFile): \(failure.reason); the previous mesh config stays in force")
            case .success(let loaded):
                let errors = loaded.diagnostics.filter { $0.severity == .error }
                if let config = loaded.config, errors.isEmpty {
                    meshConfig = config
                } else {
                    problems += errors.map { "\($0); the previous mesh config stays in force" }
                }
            }
        }
        let (inputs, readProblems) = ConfigInput.read(paths: [directory])
        // An empty directory is a valid (empty) configuration, not a problem.
        problems += readProblems.filter { !$0.hasSuffix("no .yaml, .yml or .json files found") }
        let report = ValidationReport.validate(validate(inputs), meshConfig: meshConfig)
        return ConfigReload(snapshot: previous.next(report, meshConfig: meshConfig), diagnostics: report.diagnostics, problems: problems)
    }

    /// Each input validated on its own, reusing the previous result for bytes seen before;
    /// files gone from the directory are forgotten.
    private func validate(_ inputs: [ConfigInput]) -> [ValidatedInput] {
        let previous = validated.withLock { $0 }
        var current: [String: ValidatedInput] = [:]
        let results = inputs.map { input in
            let result = previous[input.file].flatMap { $0.input.data == input.data ? $0 : nil } ?? ValidatedInput(input)
            current[input.file] = result
            return result
        }
        validated.withLock { $0 = current }
        return results
    }

    /// Yields once at the start and then whenever a config file is added, removed or changed.
    public func changes(every interval: Duration = .milliseconds(100)) -> AsyncStream<Void> {
        AsyncStream { continuation in
            let task = Task {
                var last: Fingerprint?
                while !Task.isCancelled {
                    let current = fingerprint()
                    if current != last {
                        last = current
                        continuation.yield()
                    }
                    do {
                        try await Task.sleep(for: interval)
                    } catch {
                        break  // cancelled: the consumer stopped listening
                    }
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}
