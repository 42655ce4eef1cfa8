// meshctl proxy-status: the sync state of every connected proxy, as istioctl proxy-status prints it.

import ArgumentParser
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

struct ProxyStatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proxy-status",
        abstract: "Show whether each proxy has the configuration meshd sent it (CDS, LDS, EDS, RDS).",
        discussion: """
            SYNCED: the proxy acknowledged the last response. STALE: a response is not acknowledged \
            yet. NACKED: the proxy rejected it (the message follows the table). NOT SENT: the proxy \
            has not asked for that type.
            """)

    @Option(name: .long, help: "meshd's debug address, HOST:PORT.")
    var meshd: String = "127.0.0.1:15014"

    @Option(name: [.customShort("o"), .long], help: "text or json.")
    var output: String = "text"

    func run() throws {
        guard ["text", "json"].contains(output) else { throw ValidationError("--output must be text or json") }
        let data = try Self.get("http://\(meshd)/debug/syncz")
        if output == "json" {
            print(String(decoding: data, as: UTF8.self), terminator: "")
            return
        }
        guard let rows = try JSONSerialization.jsonObject(with: data) as? [[String: Any]] else {
            throw MeshdUnreachable(message: "meshd at \(meshd) answered /debug/syncz with something other than a list")
        }
        print(Self.table(rows), terminator: "")
    }

    static func table(_ rows: [[String: Any]]) -> String {
        let types = [("CDS", "cluster"), ("LDS", "listener"), ("EDS", "endpoint"), ("RDS", "route")]
        var lines = [["NAME", "TYPE", "PROTOCOL"] + types.map(\.0) + ["VERSION"]]
        var nacks: [String] = []
        for row in rows {
            let proxy = row["proxy"] as? String ?? "?"
            let parts = proxy.split(separator: "~", omittingEmptySubsequences: false)
            let name = parts.count == 4 ? String(parts[2]) : proxy
            var line = [name, row["proxy_type"] as? String ?? "", row["protocol"] as? String ?? ""]
            for (short, prefix) in types {
                line.append(row["\(prefix)_state"] as? String ?? "")
                if let nack = row["\(prefix)_nack"] as? String { nacks.append("\(name) \(short) NACK: \(nack)") }
            }
            line.append("\(row["snapshot_version"] ?? "")")
            lines.append(line)
            if let error = row["generation_error"] as? String { nacks.append("\(name) not regenerated: \(error)") }
        }
        let widths = (0..<lines[0].count).map { column in lines.map { $0[column].count }.max() ?? 0 }
        var text = lines.map { line in
            line.enumerated().map { $0.element.padding(toLength: widths[$0.offset] + 3, withPad: " ", startingAt: 0) }.joined()
                .trimmingCharacters(in: .whitespaces)
        }.joined(separator: "\n") + "\n"
        if !nacks.isEmpty { text += "\n" + nacks.joined(separator: "\n") + "\n" }
        return text
    }

    /// A GET with a 5 s bound; the error names meshd's address.
    static func get(_ url: String) throws -> Data {
        guard let target = URL(string: url) else { throw MeshdUnreachable(message: "\(url) is not a URL") }
        var request = URLRequest(url: target)
        request.timeoutInterval = 5
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: Result<Data, Error> = .failure(MeshdUnreachable(message: "no answer from \(url)"))
        URLSession.shared.dataTask(with: request) { data, response, error in
            if let error {
                result = .failure(MeshdUnreachable(message: "cannot reach meshd at \(url): \(error.localizedDescription)"))
            } else if let http = response as? HTTPURLResponse, http.statusCode != 200 {
                result = .failure(MeshdUnreachable(message: "\(url): HTTP \(http.statusCode): \(String(decoding: data ?? Data(), as: UTF8.self))"))
            } else {
                result = .success(data ?? Data())
            }
            done.signal()
        }.resume()
        done.wait()
        return try result.get()
    }
}

struct MeshdUnreachable: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
