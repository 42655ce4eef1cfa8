// `meshctl validate` end to end: the real binary, its output format and its exit codes.

import Foundation
import Testing

struct CommandResult {
    var status: Int32
    var output: String
    var error: String
}

enum Meshctl {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The meshctl binary built beside this test runner.
    static var binary: URL {
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("meshctl")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        return repository.appendingPathComponent(".build/debug/meshctl")
    }

    /// Runs meshctl with its output captured in files: a pipe read to its end before the other
    /// could fill and block the child.
    static func run(_ arguments: [String], input: String? = nil) throws -> CommandResult {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("meshctl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let outputURL = scratch.appendingPathComponent("stdout"), errorURL = scratch.appendingPathComponent("stderr")
        FileManager.default.createFile(atPath: outputURL.path, contents: nil)
        FileManager.default.createFile(atPath: errorURL.path, contents: nil)
        let output = try FileHandle(forWritingTo: outputURL), error = try FileHandle(forWritingTo: errorURL)
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.currentDirectoryURL = repository
        process.standardOutput = output
        process.standardError = error
        let stdin = Pipe()
        process.standardInput = stdin
        try process.run()
        if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
        try stdin.fileHandleForWriting.close()
        process.waitUntilExit()
        try output.close()
        try error.close()
        return CommandResult(status: process.terminationStatus,
                             output: String(decoding: try Data(contentsOf: outputURL), as: UTF8.self),
                             error: String(decoding: try Data(contentsOf: errorURL), as: UTF8.self))
    }
}

@Suite struct ValidateCommandTests {
    @Test func validFileExitsZeroWithASummary() throws {
        let result = try Meshctl.run(["validate", "-f", "samples/bookinfo/networking/virtual-service-reviews-test-v2.yaml"])
        #expect(result.status == 0)
        #expect(result.output == "valid: 1 resource in 1 file, 0 errors, 0 warnings\n")
    }

    @Test func invalidFileExitsOneWithOneLinePerProblem() throws {
        let result = try Meshctl.run(["validate", "-f", "samples/broken/reviews-typos.yaml"])
        #expect(result.status == 1)
        let lines = result.output.split(separator: "\n").map(String.init)
        #expect(lines.count == 5)
        #expect(lines[2] == "samples/broken/reviews-typos.yaml:22:5: error: VirtualService default/reviews: spec.http[0].timout: unknown field \"timout\"; did you mean \"timeout\"?")
        #expect(lines.last == "invalid: 1 resource in 1 file, 4 errors, 0 warnings")
    }

    @Test func directoriesAreReadRecursively() throws {
        let result = try Meshctl.run(["validate", "-f", "samples/bookinfo"])
        #expect(result.status == 0, "duplicates across alternative files are warnings, not errors")
        #expect(result.output.hasSuffix("valid: 25 resources in 15 files, 0 errors, 12 warnings\n"))
    }

    @Test func standardInput() throws {
        let yaml = """
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata: {name: reviews}
            spec: {host: reviews, subsets: [{name: v_1}]}
            """
        let result = try Meshctl.run(["validate", "-f", "-"], input: yaml)
        #expect(result.status == 1)
        #expect(result.output.hasPrefix("<stdin>:4:34: error: DestinationRule default/reviews: spec.subsets[0].name: subset name \"v_1\" is invalid"))
    }

    @Test func jsonOutputForMachines() throws {
        let result = try Meshctl.run(["validate", "-f", "samples/broken", "-o", "json"])
        #expect(result.status == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
        #expect(object["valid"] as? Bool == false)
        #expect(object["errors"] as? Int == 4)
        let diagnostics = try #require(object["diagnostics"] as? [[String: Any]])
        let first = try #require(diagnostics.first)
        #expect(first["file"] as? String == "samples/broken/reviews-typos.yaml")
        #expect(first["line"] as? Int == 12)
        #expect(first["column"] as? Int == 9)
        #expect(first["kind"] as? String == "VirtualService")
        #expect(first["name"] as? String == "reviews")
        #expect(first["path"] as? String == "spec.http[0].match[0].uri.regex")
        #expect(first["severity"] as? String == "error")
    }

    @Test func meshConfigIsValidatedToo() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("meshctl-test-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let mesh = directory.appendingPathComponent("mesh.yaml")
        try "trustDomain: example.org\noutboundTrafficPolicy: {mode: REGISTRY_ONY}\n".write(to: mesh, atomically: true, encoding: .utf8)
        let result = try Meshctl.run(["validate", "--mesh-config", mesh.path])
        #expect(result.status == 1)
        #expect(result.output.hasPrefix("\(mesh.path):2:31: error: MeshConfig mesh.yaml: outboundTrafficPolicy.mode: unknown value \"REGISTRY_ONY\"; did you mean \"REGISTRY_ONLY\"?"))
    }

    @Test func usageAndInputErrorsExitTwo() throws {
        let missing = try Meshctl.run(["validate", "-f", "no/such/file.yaml"])
        #expect(missing.status == 2)
        #expect(missing.error.contains("no/such/file.yaml: no such file or directory"))
        let noFiles = try Meshctl.run(["validate"])
        #expect(noFiles.status == 2)
        let badFlag = try Meshctl.run(["validate", "--frobnicate"])
        #expect(badFlag.status == 2)
        let badFormat = try Meshctl.run(["validate", "-f", "samples", "-o", "xml"])
        #expect(badFormat.status == 2)
    }

    @Test func helpAndVersionExitZero() throws {
        let help = try Meshctl.run(["validate", "--help"])
        #expect(help.status == 0)
        #expect(help.output.contains("Exit status: 0 when there are no errors"))
        let version = try Meshctl.run(["version"])
        #expect(version.status == 0)
        #expect(version.output.hasPrefix("meshctl "))
    }
}
