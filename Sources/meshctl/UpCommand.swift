// meshctl up: the embedded mesh for a user's own workloads.

import ArgumentParser
import EmbeddedMesh
import MeshAPI
import Foundation

struct UpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Run your own workloads in an embedded mesh on this machine.",
        discussion: """
            DIR holds mesh.yaml, which lists the workloads (name, service, labels, serviceAccount, \
            port, protocol, command, env; `{port}` in the command is where the app must listen on \
            127.0.0.1, `{egress}` in env is the address of the sidecar's outbound listeners), and \
            any number of Istio YAML files, validated and applied at start. Each workload gets a \
            sidecar, as in `meshctl demo`; an ingress gateway (labels istio: ingressgateway) serves \
            the Gateways you define. Runs until Ctrl-C or `meshctl down`.
            """)

    @Argument(help: "The directory with mesh.yaml and your Istio config.")
    var directory: String

    @OptionGroup var mesh: MeshRunArguments

    func run() async throws {
        let meshFile = (directory as NSString).appendingPathComponent("mesh.yaml")
        let workloads: [WorkloadSpec]
        do {
            workloads = try MeshFile.load(meshFile)
        } catch let error as MeshRunError {
            throw CommandFailure(error.description)
        }
        // Every other config file in DIR is the user's Istio configuration; validate it now, so a
        // mistake is reported before anything starts.
        let (inputs, problems) = ConfigInput.read(paths: [directory])
        if let problem = problems.first(where: { !$0.hasSuffix("no .yaml, .yml or .json files found") }) { throw CommandFailure(problem) }
        let config = inputs.filter { URL(fileURLWithPath: $0.file).standardizedFileURL.path != URL(fileURLWithPath: meshFile).standardizedFileURL.path }
        for input in config {
            do {
                _ = try ConfigStore.validated(String(decoding: input.data, as: UTF8.self), file: input.file)
            } catch let error as MeshRunError {
                throw CommandFailure(error.description)
            }
        }
        var options = try mesh.options(workloads: workloads)
        options.initialConfig = config.map { String(decoding: $0.data, as: UTF8.self) }
        try await runUntilStopped(options, title: "SwiftMesh: \(workloads.count) workloads from \(meshFile)") { run in
            let lines = run.plan.workloads.map { workload in
                "  \(workload.spec.name): app on 127.0.0.1:\(workload.appPort), reach other services at \(workload.egressAddress):<port>"
            }
            return "\nThe mesh is up; the ingress gateway is \(run.gatewayURL)\n" + lines.joined(separator: "\n")
                + "\n  meshctl proxy-status · meshctl apply -f FILE · meshctl down (or Ctrl-C here)\n"
        }
    }
}

struct DownCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "down", abstract: "Stop the mesh `meshctl up` or `meshctl demo` started.")

    @OptionGroup var location: MeshLocation

    func run() async throws {
        var stop = StopDemo()
        stop.location = location
        try await stop.run()
    }
}
