// meshctl apply / delete / get: change and read the running mesh's configuration.

import ArgumentParser
import EmbeddedMesh
import Foundation
import MeshAPI

/// Reads `-f` inputs: files, directories (their .yaml/.yml/.json files) or `-` for stdin.
func readInputs(_ paths: [String]) throws -> [(name: String, text: String)] {
    var inputs: [(String, String)] = []
    for path in paths {
        if path == "-" {
            inputs.append(("<stdin>", String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)))
            continue
        }
        let (read, problems) = ConfigInput.read(paths: [path])
        if let problem = problems.first { throw CommandFailure(problem) }
        inputs += read.map { ($0.file, String(decoding: $0.data, as: UTF8.self)) }
    }
    return inputs
}

struct ApplyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Validate Istio YAML and apply it to the running mesh.",
        discussion: """
            Each resource becomes a file of its own in meshd's config directory \
            (<run-dir>/config/<Kind>.<namespace>.<name>.yaml), so applying a resource again replaces \
            it. A file with validation errors changes nothing. meshd picks changes up within 100 ms \
            and pushes them to the proxies.
            """)

    @Option(name: .shortAndLong, help: "A file, a directory, or - for standard input (repeatable).")
    var filename: [String] = []

    @OptionGroup var location: MeshLocation

    func run() throws {
        guard !filename.isEmpty else { throw ValidationError("apply needs -f FILE") }
        let store = ConfigStore(directory: try location.state().configDirectory)
        var failed = false
        for (name, text) in try readInputs(filename) {
            do {
                for (reference, change) in try store.apply(text, file: name) {
                    print("\(reference.kind) \(reference.namespace)/\(reference.name) \(change.rawValue)")
                }
            } catch let error as MeshRunError {
                FileHandle.standardError.write(Data((error.description + "\n").utf8))
                failed = true
            }
        }
        if failed { throw ExitCode(1) }
    }
}

struct DeleteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete",
        abstract: "Remove the resources an Istio YAML file names from the running mesh.")

    @Option(name: .shortAndLong, help: "A file, a directory, or - for standard input (repeatable).")
    var filename: [String] = []

    @OptionGroup var location: MeshLocation

    func run() throws {
        guard !filename.isEmpty else { throw ValidationError("delete needs -f FILE") }
        let store = ConfigStore(directory: try location.state().configDirectory)
        for (name, text) in try readInputs(filename) {
            do {
                for (reference, change) in try store.delete(text, file: name) {
                    print("\(reference.kind) \(reference.namespace)/\(reference.name) \(change.rawValue)")
                }
            } catch let error as MeshRunError {
                throw CommandFailure(error.description)
            }
        }
    }
}

struct GetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get",
        abstract: "List the resources in force in the running mesh (as meshd serves them).",
        discussion: "KIND: a kind, its plural or Istio's short name (vs, dr, gw, se, we, sidecar, pa, ra, ap), or all.")

    @Argument(help: "The kind to list.")
    var kind: String

    @Argument(help: "Only this name.")
    var name: String?

    @Option(name: [.customShort("n"), .long], help: "Only this namespace.")
    var namespace: String?

    @Option(name: [.customShort("o"), .long], help: "table or yaml.")
    var output: String = "table"

    @OptionGroup var location: MeshLocation

    static let shortNames = [
        "vs": "VirtualService", "dr": "DestinationRule", "gw": "Gateway", "se": "ServiceEntry", "we": "WorkloadEntry",
        "wg": "WorkloadGroup", "pa": "PeerAuthentication", "ra": "RequestAuthentication", "ap": "AuthorizationPolicy",
    ]

    /// The kind a user typed: `vs`, `virtualservice`, `VirtualServices`, ... ; nil for `all`.
    static func resolve(_ text: String) throws -> String? {
        let lowered = text.lowercased()
        if lowered == "all" { return nil }
        if let kind = shortNames[lowered] { return kind }
        let singular = lowered.hasSuffix("ies") ? String(lowered.dropLast(3)) + "y" : (lowered.hasSuffix("s") ? String(lowered.dropLast()) : lowered)
        if let kind = ResourceKind.allCases.first(where: { $0.rawValue.lowercased() == singular }) { return kind.rawValue }
        throw ValidationError("unknown kind \"\(text)\"; use one of \(ResourceKind.allCases.map(\.rawValue).joined(separator: ", ")), their short names, or all")
    }

    func run() throws {
        guard ["table", "yaml"].contains(output) else { throw ValidationError("--output must be table or yaml") }
        let wanted = try Self.resolve(kind)
        let state = try location.state()
        let data = try ProxyStatusCommand.get("http://\(state.debugAddress)/debug/configz")
        guard let configz = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let resources = configz["resources"] as? [[String: Any]] else {
            throw MeshdUnreachable(message: "meshd's /debug/configz did not answer with resources")
        }
        let rows = resources.filter { entry in
            (wanted == nil || entry["kind"] as? String == wanted) && (name == nil || entry["name"] as? String == name)
                && (namespace == nil || entry["namespace"] as? String == namespace)
        }
        if rows.isEmpty {
            throw CommandFailure("no \(wanted ?? "resources")\(name.map { " named \($0)" } ?? "") in the mesh")
        }
        if output == "yaml" {
            print(try rows.map(Self.yaml).joined(separator: "---\n"), terminator: "")
            return
        }
        var lines = [["KIND", "NAMESPACE", "NAME", "SOURCE"]]
        for row in rows {
            let source = ((row["source"] as? String) ?? "").split(separator: ":").first.map { ($0 as NSString).lastPathComponent } ?? ""
            lines.append([row["kind"] as? String ?? "", row["namespace"] as? String ?? "", row["name"] as? String ?? "",
                          source + ((row["serving"] as? String).map { " (\($0))" } ?? "")])
        }
        print(Table.render(lines), terminator: "")
    }

    /// A resource as served, re-read from the file meshd names as its source.
    static func yaml(_ row: [String: Any]) throws -> String {
        guard let source = row["source"] as? String, let file = source.split(separator: ":").first.map(String.init),
              let data = FileManager.default.contents(atPath: file) else {
            throw ValidationError("\(row["kind"] ?? "")/\(row["name"] ?? ""): its source file is gone")
        }
        let report = ValidationReport.validate([ConfigInput(file: file, data: data)])
        guard let resource = report.resources.first(where: {
            $0.kind.rawValue == row["kind"] as? String && $0.name == row["name"] as? String && $0.namespace == row["namespace"] as? String
        }) else {
            throw ValidationError("\(row["kind"] ?? "")/\(row["name"] ?? ""): no longer in \(file)")
        }
        return try YAMLWriter.yaml(resource)
    }
}

/// Left-aligned columns separated by three spaces.
enum Table {
    static func render(_ rows: [[String]]) -> String {
        guard let columns = rows.map(\.count).max() else { return "" }
        let widths = (0..<columns).map { column in rows.map { column < $0.count ? $0[column].count : 0 }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { index, cell in index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0) }
                .joined(separator: "   ")
        }.joined(separator: "\n") + "\n"
    }
}
