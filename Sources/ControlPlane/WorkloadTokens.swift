// Bootstrap tokens: how a workload proves, on one machine, which WorkloadEntry it is.

import Foundation
import MeshAPI
import MeshModel
import Synchronization

/// One token per WorkloadEntry, written to `<data-dir>/tokens/<namespace>/<name>` (0600, in a
/// 0700 directory) for the workload's agent to present with its CSR. Tokens are random, kept
/// across restarts (read back from their files) and forgotten when the WorkloadEntry goes.
public final class WorkloadTokens: Sendable {
    public let directory: String
    /// token → (namespace, name)
    private let owners = Mutex<[String: ResourceReference]>([:])

    public init(dataDirectory: String) {
        directory = (dataDirectory as NSString).appendingPathComponent("tokens")
    }

    /// Makes sure every workload of the registry has a token, and only those.
    public func update(_ registry: ServiceRegistry) {
        var current: [String: ResourceReference] = [:]
        for workload in registry.workloads {
            let namespaceDirectory = (directory as NSString).appendingPathComponent(workload.namespace)
            let path = (namespaceDirectory as NSString).appendingPathComponent(workload.name)
            var token = FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) } ?? ""
            if token.count < 32 {
                token = Self.randomToken()
                try? FileManager.default.createDirectory(atPath: namespaceDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                FileManager.default.createFile(atPath: path, contents: Data((token + "\n").utf8), attributes: [.posixPermissions: 0o600])
            }
            current[token] = ResourceReference(kind: ResourceKind.workloadEntry.rawValue, namespace: workload.namespace, name: workload.name)
        }
        owners.withLock { $0 = current }
    }

    /// The WorkloadEntry a token belongs to.
    public func owner(of token: String) -> ResourceReference? {
        owners.withLock { $0[token] }
    }

    static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }
}
