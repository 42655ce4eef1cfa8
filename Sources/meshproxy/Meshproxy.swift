// meshproxy: SwiftMesh's data plane. Today it runs the identity agent beside a stock Envoy.

import ArgumentParser
import Foundation
import IdentityAgent

@main
struct Meshproxy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "meshproxy",
        abstract: "SwiftMesh's proxy. `meshproxy agent` gives a colocated Envoy its workload identity over SDS.",
        subcommands: [AgentCommand.self])
}

struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Get the workload's certificate from meshd's CA, rotate it, and serve it to Envoy over SDS.",
        discussion: """
            The key is made here; the CSR goes to meshd with the workload's bootstrap token \
            (<meshd data dir>/tokens/<namespace>/<name>). Envoy reads the secrets `default` (its \
            certificate and key) and `ROOTCA` (the trust bundle) from --sds-socket; \
            `meshctl proxy-bootstrap --sds-socket PATH` sets that up.
            """)

    @Option(help: "meshd's CA address, HOST:PORT.")
    var caAddress: String = "127.0.0.1:15012"

    @Option(help: "The mesh's trust bundle (meshd writes <data dir>/root-cert.pem).")
    var caRoot: String

    @Option(help: "The file with the workload's bootstrap token.")
    var tokenFile: String

    @Option(help: "The workload's namespace.")
    var namespace: String = "default"

    @Option(help: "The workload's service account (its WorkloadEntry's serviceAccount).")
    var serviceAccount: String = "default"

    @Option(help: "The mesh's trust domain.")
    var trustDomain: String = "cluster.local"

    @Option(help: "Where to serve SDS (a Unix socket path).")
    var sdsSocket: String

    @Option(help: "Certificate lifetime to ask for, in seconds.")
    var certTtl: Int = 86400

    func run() async throws {
        guard let colon = caAddress.lastIndex(of: ":"), let port = Int(caAddress[caAddress.index(after: colon)...]) else {
            throw ValidationError("--ca-address must be HOST:PORT")
        }
        guard let root = FileManager.default.contents(atPath: caRoot) else { throw ValidationError("--ca-root \(caRoot): cannot read it") }
        guard let token = FileManager.default.contents(atPath: tokenFile) else { throw ValidationError("--token-file \(tokenFile): cannot read it") }
        let log: @Sendable (String) -> Void = { FileHandle.standardError.write(Data("\($0)\n".utf8)) }
        let client = CAClient(host: String(caAddress[..<colon]), port: port, rootPEM: String(decoding: root, as: UTF8.self),
                              token: String(decoding: token, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        let identity = "spiffe://\(trustDomain)/ns/\(namespace)/sa/\(serviceAccount)"
        try await IdentityAgent(ca: client, identityURI: identity, ttl: .seconds(certTtl), sdsSocket: sdsSocket, log: log).run()
    }
}
