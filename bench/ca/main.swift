// CABench: CSR signatures per second by the mesh CA (parse, verify, check, build, sign), beside
// openssl's raw signature speed for the same key type measured in the same run.
//
//   swift build -c release --product CABench && .build/release/CABench [--seconds 3] [--json FILE]

import _CryptoExtras
import Crypto
import Foundation
import MeshCA
import X509

struct Result: Codable {
    var caKey: String
    var signaturesPerSecond: Double
    var opensslSignsPerSecond: Double
    var ratio: Double
}

func csr(_ identity: SpiffeIdentity) throws -> String {
    let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
    let extensions = try Certificate.Extensions { SubjectAlternativeNames([.uniformResourceIdentifier(identity.uri)]) }
    let request = try CertificateSigningRequest(
        version: .v1, subject: DistinguishedName {}, privateKey: key,
        attributes: CertificateSigningRequest.Attributes([.init(ExtensionRequest(extensions: extensions))]),
        signatureAlgorithm: .ecdsaWithSHA256)
    return try request.serializeAsPEM().pemString
}

/// openssl's `speed` for one algorithm: signatures per second (single thread).
func opensslSigns(_ algorithm: String, seconds: Int) throws -> Double {
    // openssl times itself with SIGALRM, which a child of this process inherits blocked: python
    // unblocks it before starting openssl (without that, `speed` never stops).
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
    process.arguments = ["-c", "import os, signal, sys; signal.pthread_sigmask(signal.SIG_SETMASK, []); os.execv('/usr/bin/openssl', sys.argv[1:])",
                         "openssl", "speed", "-seconds", String(seconds), algorithm]
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    try process.run()
    let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    // The summary line: "256 bits ecdsa (nistp256)   0.0000s   0.0001s  35000.0  12000.0" (sign/s, verify/s)
    // or "rsa 2048 bits 0.000500s 0.000015s 2000.0 66000.0".
    guard let line = text.split(separator: "\n").last(where: { $0.contains("bits") && $0.contains("s ") }) else { return 0 }
    let numbers = line.split(separator: " ").compactMap { Double($0) }
    return numbers.count >= 2 ? numbers[numbers.count - 2] : 0
}

var arguments = CommandLine.arguments.dropFirst()
var seconds = 3
var jsonPath: String?
while let argument = arguments.popFirst() {
    switch argument {
    case "--seconds": seconds = Int(arguments.popFirst()!)!
    case "--json": jsonPath = arguments.popFirst()!
    default: fatalError("unknown argument \(argument)")
    }
}

let identity = SpiffeIdentity(trustDomain: "cluster.local", namespace: "default", serviceAccount: "bench")
let requests = try (0..<200).map { _ in try csr(identity) }
var results: [Result] = []
for (keyType, opensslAlgorithm) in [(CAKeyType.ecdsaP256, "ecdsap256"), (.rsa2048, "rsa2048")] {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cabench-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let ca = try await CAStore.selfSigned(directory: directory, keyType: keyType, trustDomain: "cluster.local")
    let start = ContinuousClock.now
    var signed = 0
    while ContinuousClock.now - start < .seconds(seconds) {
        _ = try await ca.sign(csrPEM: requests[signed % requests.count], for: identity, ttl: .seconds(3600))
        signed += 1
    }
    let elapsed = ContinuousClock.now - start
    let rate = Double(signed) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    let reference = try opensslSigns(opensslAlgorithm, seconds: seconds)
    let result = Result(caKey: keyType.rawValue, signaturesPerSecond: rate, opensslSignsPerSecond: reference, ratio: reference > 0 ? rate / reference : 0)
    print(String(format: "%@ CA: %.0f CSRs signed/s (one core); openssl %@ raw signatures: %.0f/s; ratio %.2f",
                 keyType.rawValue, rate, opensslAlgorithm, reference, result.ratio))
    results.append(result)
}
if let jsonPath {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try encoder.encode(results).write(to: URL(fileURLWithPath: jsonPath))
}
