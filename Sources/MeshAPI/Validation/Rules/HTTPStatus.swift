// The HTTP status codes Istio accepts by number in `retryOn` (those Go's net/http names).

enum HTTPStatus {
    private static let known: Set<Int> = Set([100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226,
        300, 301, 302, 303, 304, 305, 307, 308, 421, 422, 423, 424, 425, 426, 428, 429, 431, 451,
        500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511] + Array(400...418))

    static func isKnown(_ code: Int) -> Bool { known.contains(code) }
}
