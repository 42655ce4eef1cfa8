// Each sample app's own metrics on /metrics: requests it answered, by status code.

import Synchronization

/// What the app counts, in Prometheus text; the sidecar serves it merged with its own on 15020.
final class AppMetrics: Sendable {
    let service: String
    let version: String
    private let answered = Mutex<[UInt: Int]>([:])

    init(service: String, version: String) {
        self.service = service
        self.version = version
    }

    func count(_ code: UInt) {
        answered.withLock { $0[code, default: 0] += 1 }
    }

    func text() -> String {
        let counts = answered.withLock { $0 }.sorted { $0.key < $1.key }
        var out = "# HELP bookinfo_requests_total Requests this Bookinfo service answered, by status code.\n"
        out += "# TYPE bookinfo_requests_total counter\n"
        for (code, count) in counts {
            out += "bookinfo_requests_total{service=\"\(service)\",version=\"\(version)\",code=\"\(code)\"} \(count)\n"
        }
        return out
    }
}
