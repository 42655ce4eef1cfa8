// details, ratings and reviews: the JSON services behind the product page.

import Foundation
import NIOCore
import NIOHTTP1

/// Each answer names the service and version that produced it, so tests (and people) can tell
/// which version answered.
func versioned(_ response: Response, service: String, version: String) -> Response {
    var response = response
    response.headers += [("x-bookinfo-service", service), ("x-bookinfo-version", version)]
    return response
}

enum DetailsService {
    static func handle(_ request: Request) -> Response {
        if request.path == "/health" { return .json(#"{"status":"Details is healthy"}"#) }
        guard request.path.hasPrefix("/details/") else { return .json(#"{"error":"please use /details/<id>"}"#, status: .notFound) }
        return .json(Catalog.details)
    }
}

/// The propagated headers a service received, as a JSON object: each answer carries it, so a
/// test can see the trace context and `end-user` arrive at every hop.
func receivedHeaders(_ request: Request) -> [String: String] {
    var received = Dictionary(PropagatedHeaders.from(request.headers).filter { $0.0 != "user-agent" }, uniquingKeysWith: { first, _ in first })
    // Not propagated, but shown: the caller's identity as the sidecar verified it (mTLS).
    if let peer = request.headers.first(name: "x-forwarded-client-cert") { received["x-forwarded-client-cert"] = peer }
    return received
}

func jsonText(_ object: Any) -> String {
    (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
}

enum RatingsService {
    static func handle(_ request: Request) -> Response {
        if request.path == "/health" { return .json(#"{"status":"Ratings is healthy"}"#) }
        guard request.path.hasPrefix("/ratings/") else { return .json(#"{"error":"please use /ratings/<id>"}"#, status: .notFound) }
        return .json(jsonText(["id": 0, "ratings": ["Reviewer1": 5, "Reviewer2": 4], "received": receivedHeaders(request)]))
    }
}

/// reviews v1 shows no stars; v2 asks ratings and shows black stars, v3 red ones. Like Istio's
/// Java reviews, v2 waits up to 10 s for ratings and v3 2.5 s (the fault-injection task relies on
/// v2's long timeout being longer than productpage's).
struct ReviewsService: Sendable {
    var version: String
    let ratings = Upstream.named("ratings")

    var starColor: String? {
        switch version {
        case "v2": "black"
        case "v3": "red"
        default: nil
        }
    }

    var ratingsTimeout: TimeAmount { version == "v3" ? .milliseconds(2500) : .seconds(10) }

    func handle(_ request: Request) async -> Response {
        if request.path == "/health" { return .json(#"{"status":"Reviews is healthy"}"#) }
        guard request.path.hasPrefix("/reviews/") else { return .json(#"{"error":"please use /reviews/<id>"}"#, status: .notFound) }
        var stars: [String: Int]?
        var ratingsReceived: [String: String]?
        var ratingsError = false
        if starColor != nil {
            let answer = await ratings.get("/ratings/0", propagating: PropagatedHeaders.from(request.headers), timeout: ratingsTimeout)
            if let answer, answer.status == 200,
               let object = try? JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any],
               let values = object["ratings"] as? [String: Int] {
                stars = values
                ratingsReceived = object["received"] as? [String: String]
            } else {
                ratingsError = true
            }
        }
        let reviews: [[String: Any]] = Catalog.reviews.map { review in
            var entry: [String: Any] = ["reviewer": review.reviewer, "text": review.text]
            if let color = starColor {
                if let count = stars?[review.reviewer] {
                    entry["rating"] = ["stars": count, "color": color]
                } else if ratingsError {
                    entry["rating"] = ["error": "Ratings service is currently unavailable"]
                }
            }
            return entry
        }
        var body: [String: Any] = ["id": "0", "podname": "reviews-\(version)", "clustername": "embedded", "reviews": reviews,
                                   "received": receivedHeaders(request)]
        if let ratingsReceived { body["ratings_received"] = ratingsReceived }
        return .json(jsonText(body))
    }
}
