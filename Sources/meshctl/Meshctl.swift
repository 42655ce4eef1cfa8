// meshctl: the SwiftMesh command line (Istio's istioctl role).

import ArgumentParser
import Foundation
import MeshAPI

@main
struct Meshctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "meshctl",
        abstract: "Operate a SwiftMesh service mesh.",
        subcommands: [
            DemoCommand.self, UpCommand.self, DownCommand.self, ApplyCommand.self, DeleteCommand.self, GetCommand.self,
            AnalyzeCommand.self, ValidateCommand.self, ProxyStatusCommand.self, ProxyConfigCommand.self, ProxyBootstrapCommand.self, VersionCommand.self,
        ])

    /// Exit codes follow `meshctl validate`'s contract: 0 success, 1 invalid configuration,
    /// 2 usage or input/output errors (ArgumentParser's own default for usage errors is 64).
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asynchronous = command as? AsyncParsableCommand {
                try await asynchronous.run()
            } else {
                try command.run()
            }
        } catch let exit as ExitCode {
            Foundation.exit(exit.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
            Foundation.exit(2)
        }
    }
}

struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Print the meshctl version.")

    func run() {
        print("meshctl \(SwiftMeshVersion.current)")
    }
}

/// A command that could not do its job (not a usage mistake): printed without the usage text.
struct CommandFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
