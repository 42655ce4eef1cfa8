// Corrupted, deep, huge or non-UTF-8 input never crashes or hangs; it is reported with a place.

import Foundation
import MeshAPI
import Testing

/// A small deterministic generator, so a failing case can be replayed from its seed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite struct RobustnessTests {
    static let seeds: [Data] = (Samples.files.map { FileManager.default.contents(atPath: $0) ?? Data() })
        + TestFiles.files(in: "valid").map { TestFiles.data("valid", $0) }

    /// Validates with a bound that only a hang would pass (the machines are shared and slow
    /// under load; speed is measured in bench/, not here); returns the report.
    private func check(_ data: Data, _ label: String) -> ValidationReport {
        let clock = ContinuousClock()
        let start = clock.now
        let report = ValidationReport.validate([ConfigInput(file: label, data: data)])
        let elapsed = clock.now - start
        #expect(elapsed < .seconds(60), "\(label) took \(elapsed)")
        for diagnostic in report.diagnostics where diagnostic.severity != .info {
            #expect(diagnostic.location != nil, "\(label): \(diagnostic) has no place")
        }
        return report
    }

    enum Mutation: CaseIterable {
        case truncate, deleteLine, duplicateLine, swapLines, retypeValue, reindent, insertByte, invalidUTF8, misspellKey, hugeValue
    }

    static let replacementValues = [
        "[]", "{}", "12", "-1", "true", "null", "\"x\"", "1e999", ".nan", "&a x", "*nope", "!!binary abc", "[unclosed",
        "{a: [b, {c: d}]}", "'quote", "0x", "\"\\u00\"", "|", ">-", "- - -", "? complex", "@", "`", "%YAML 1.1",
    ]

    static func mutate(_ data: Data, _ mutation: Mutation, _ random: inout SplitMix64) -> Data {
        var lines = String(decoding: data, as: UTF8.self).components(separatedBy: "\n")
        let line = Int.random(in: 0..<max(1, lines.count), using: &random)
        switch mutation {
        case .truncate:
            return data.prefix(Int.random(in: 0...data.count, using: &random))
        case .deleteLine:
            if !lines.isEmpty { lines.remove(at: line) }
        case .duplicateLine:
            if !lines.isEmpty { lines.insert(lines[line], at: line) }
        case .swapLines:
            let other = Int.random(in: 0..<max(1, lines.count), using: &random)
            if !lines.isEmpty { lines.swapAt(line, other) }
        case .retypeValue:
            if let colon = lines[line].range(of: ": ") {
                lines[line] = String(lines[line][..<colon.upperBound]) + replacementValues.randomElement(using: &random)!
            } else if let dash = lines[line].range(of: "- ") {
                lines[line] = String(lines[line][..<dash.upperBound]) + replacementValues.randomElement(using: &random)!
            }
        case .reindent:
            let shift = Int.random(in: -3...3, using: &random)
            lines[line] = shift > 0 ? String(repeating: " ", count: shift) + lines[line] : String(lines[line].dropFirst(-shift))
        case .insertByte:
            var bytes = [UInt8](data)
            bytes.insert(UInt8.random(in: 0x20...0x7E, using: &random), at: Int.random(in: 0...bytes.count, using: &random))
            return Data(bytes)
        case .invalidUTF8:
            var bytes = [UInt8](data)
            let bad: [[UInt8]] = [[0xFF], [0xC3], [0xE2, 0x28, 0xA1], [0xF0, 0x90, 0x28, 0xBC], [0xED, 0xA0, 0x80]]
            bytes.insert(contentsOf: bad.randomElement(using: &random)!, at: Int.random(in: 0...bytes.count, using: &random))
            return Data(bytes)
        case .misspellKey:
            if let colon = lines[line].firstIndex(of: ":"), colon > lines[line].startIndex {
                var key = Array(lines[line][..<colon])
                key.insert("q", at: Int.random(in: 0...key.count, using: &random))
                lines[line] = String(key) + lines[line][colon...]
            }
        case .hugeValue:
            if let colon = lines[line].range(of: ": ") {
                lines[line] = String(lines[line][..<colon.upperBound]) + String(repeating: "x", count: 1_000_000)
            }
        }
        return Data(lines.joined(separator: "\n").utf8)
    }

    @Test func thousandsOfCorruptedDocumentsNeverCrashOrHang() {
        var random = SplitMix64(state: 0x5EED_0F_C0FFEE)
        var withErrors = 0
        let rounds = 4000
        for round in 0..<rounds {
            let seed = Self.seeds.randomElement(using: &random)!
            let mutation = Mutation.allCases.randomElement(using: &random)!
            let data = Self.mutate(seed, mutation, &random)
            let report = check(data, "fuzz-\(round).yaml")
            if report.errorCount > 0 { withErrors += 1 }
            if mutation == .invalidUTF8 {
                #expect(report.errorCount > 0, "round \(round): invalid UTF-8 must be an error")
            }
        }
        // Most corruptions break something; if few did, the mutator is not reaching the validator.
        #expect(withErrors > rounds / 2, "only \(withErrors) of \(rounds) corrupted documents had errors")
    }

    @Test func deepNestingIsRefusedNotOverflowed() {
        let cases = [
            String(repeating: "[", count: 200_000),
            String(repeating: "{a: ", count: 50_000),
            String(repeating: "- ", count: 100_000) + "x",
            (0..<2_000).map { String(repeating: " ", count: $0) + "k\($0):" }.joined(separator: "\n"),
            "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: a}\nspec:\n  hosts: " + String(repeating: "[", count: 5_000) + String(repeating: "]", count: 5_000),
        ]
        for (index, text) in cases.enumerated() {
            let report = check(Data(text.utf8), "deep-\(index).yaml")
            #expect(report.errorCount > 0, "deep case \(index)")
            #expect(report.diagnostics.first?.message.contains("levels deep") == true, "deep case \(index): \(report.diagnostics.first?.description ?? "")")
        }
    }

    @Test func ordinaryDepthIsAccepted() {
        let text = (0..<40).map { String(repeating: "  ", count: $0) + "k\($0):" }.joined(separator: "\n") + " v"
        let report = check(Data(text.utf8), "moderate.yaml")
        #expect(!report.diagnostics.contains { $0.message.contains("levels deep") })
    }

    @Test func aliasExpansionIsBounded() {
        var lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
        for level in 1...9 {
            lines.append("a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ") + "]")
        }
        let report = check(Data(lines.joined(separator: "\n").utf8), "bomb.yaml")
        #expect(report.errorCount == 1)
        #expect(report.diagnostics.first?.message.contains("refusing") == true)
        // The same bomb used as a mapping key: a parser that hashes keys to find duplicates
        // would walk all 10^10 nodes.
        let asKey = check(Data((lines + ["? *a9", ": x"]).joined(separator: "\n").utf8), "bomb-key.yaml")
        #expect(asKey.errorCount == 1)
    }

    @Test func hugeAndBinaryInputs() {
        var random = SplitMix64(state: 42)
        let noise = Data((0..<2_000_000).map { _ in UInt8.random(in: 0...255, using: &random) })
        #expect(check(noise, "noise.bin").errorCount > 0)
        let longString = "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: a}\nspec: {host: \"" + String(repeating: "a", count: 5_000_000) + "\"}"
        let report = check(Data(longString.utf8), "long.yaml")
        #expect(report.errorCount == 1, "a 5 MB host name is reported as too long")
        #expect(check(Data(), "empty.yaml").diagnostics.isEmpty)
        #expect(check(Data("\u{0}\u{1}".utf8), "control.yaml").errorCount > 0)
    }

    @Test func aProblemOnEachOfManyKeysStaysLinear() {
        // 20,000 bad label keys and as many bad values: one problem each. Quadratic lookups
        // would take minutes here; linear work takes well under a second.
        let labels = (0..<20_000).map { "    \"-bad\($0)\": \($0)" }.joined(separator: "\n")
        let text = "apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata:\n  name: wide\nspec:\n  address: 10.0.0.1\n  labels:\n" + labels
        let clock = ContinuousClock()
        let start = clock.now
        let report = ValidationReport.validate([ConfigInput(file: "wide.yaml", data: Data(text.utf8))])
        let elapsed = clock.now - start
        #expect(report.errorCount == 20_000)
        #expect(elapsed < .seconds(30), "took \(elapsed)")
    }
}
