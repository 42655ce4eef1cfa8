// meshd's command line: parses arguments and runs the control plane.

import ArgumentParser
import ControlPlane
import Foundation
import MeshCA

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

    @Option(name: .long, help: "The CA's root key, workload tokens (tokens/<ns>/<name>) and the trust bundle (root-cert.pem). Default: <config-dir>/.meshd.")
    var dataDir: String?

    @Option(name: .long, help: "Address of Istio's CSR API (TLS).")
    var caAddress: String = "127.0.0.1:15012"

    @Option(name: .long, help: "Sign with an existing CA in Istio's cacerts layout (ca-cert.pem, ca-key.pem, cert-chain.pem, root-cert.pem).")
    var pluginCaDir: String?

    @Option(name: .long, help: "Key type of a new root: ec-p256, rsa-2048 or rsa-4096.")
    var caKeyType: String = "ec-p256"

    @Option(name: .long, help: "Workload certificate lifetime in seconds (a CSR may ask for less).")
    var workloadCertTtl: Int = 86400

    func validate() throws {
        guard HostAndPort(xdsAddress) != nil else { throw ValidationError("--xds-address \"\(xdsAddress)\" must be HOST:PORT") }
        guard HostAndPort(debugAddress) != nil else { throw ValidationError("--debug-address \"\(debugAddress)\" must be HOST:PORT") }
        guard HostAndPort(caAddress) != nil else { throw ValidationError("--ca-address \"\(caAddress)\" must be HOST:PORT") }
        guard CAKeyType(rawValue: caKeyType) != nil else { throw ValidationError("--ca-key-type must be ec-p256, rsa-2048 or rsa-4096") }
        guard workloadCertTtl >= 10 else { throw ValidationError("--workload-cert-ttl must be at least 10 seconds") }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: configDir, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ValidationError("--config-dir \"\(configDir)\" is not a directory")
        }
    }

    func run() async throws {
        var options = MeshDaemon.Options(
            configDirectory: configDir, meshConfigFile: meshConfig,
            xdsAddress: HostAndPort(xdsAddress)!, debugAddress: HostAndPort(debugAddress)!)
        options.dataDirectory = dataDir
        options.caAddress = HostAndPort(caAddress)!
        options.pluginCADirectory = pluginCaDir
        options.caKeyType = CAKeyType(rawValue: caKeyType)!
        options.workloadCertificateTTL = .seconds(workloadCertTtl)
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
