// meshd's command line: parses arguments and runs the control plane.

import ArgumentParser
import ControlPlane
import Foundation

@main
struct Meshd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "meshd",
        abstract: "SwiftMesh's control plane: turns Istio configuration into xDS for every proxy.")

    @Option(name: .long, help: "Directory of Istio YAML/JSON to watch (read recursively).")
    var configDir: String

    @Option(name: .long, help: "Istio MeshConfig file (or the istio ConfigMap). Defaults apply without it.")
    var meshConfig: String?

    @Option(name: .long, help: "Address of the ADS (xDS) gRPC server.")
    var xdsAddress: String = "127.0.0.1:15010"

    @Option(name: .long, help: "Address of the debug API (/debug/syncz, /debug/config_dump, /debug/configz, /debug/registryz, /ready).")
    var debugAddress: String = "127.0.0.1:15014"

    func validate() throws {
        guard HostAndPort(xdsAddress) != nil else { throw ValidationError("--xds-address \"\(xdsAddress)\" must be HOST:PORT") }
        guard HostAndPort(debugAddress) != nil else { throw ValidationError("--debug-address \"\(debugAddress)\" must be HOST:PORT") }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: configDir, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ValidationError("--config-dir \"\(configDir)\" is not a directory")
        }
    }

    func run() async throws {
        let options = MeshDaemon.Options(
            configDirectory: configDir, meshConfigFile: meshConfig,
            xdsAddress: HostAndPort(xdsAddress)!, debugAddress: HostAndPort(debugAddress)!)
        // Each line is one unbuffered write to stderr: a redirected log loses nothing on SIGTERM.
        try await MeshDaemon(options: options) { line in
            FileHandle.standardError.write(Data((Self.timestamp() + " " + line + "\n").utf8))
        }.run()
    }

    static func timestamp() -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date())
    }
}
