// productpage: the HTML page that calls details and reviews, with sign-in as a user.

import Foundation
import NIOCore
import NIOHTTP1
import TextHTTP

/// Istio's productpage: `/productpage` renders the book with its details and reviews. Signing
/// in (`POST /login`) stores the user in a `session` cookie, and every call the page makes then
/// carries `end-user: <user>`, which routing rules match (Istio's "user jason" tasks). As in
/// Istio's Python productpage, reviews gets a 3 s timeout and one more try, and details a 3 s
/// timeout; a failure shows an error panel instead of that part of the page.
struct ProductPageService: Sendable {
    let details = Upstream.named("details")
    let reviews = Upstream.named("reviews")

    static let unavailableReviews = "Sorry, product reviews are currently unavailable for this book."
    static let unavailableDetails = "Sorry, product details are currently unavailable for this book."

    func handle(_ request: Request) async -> Response {
        switch (request.method, request.path) {
        case (.GET, "/"), (.GET, "/index.html"):
            return Response(headers: [("content-type", "text/html")], body: Self.index)
        case (.GET, "/health"):
            return .json(#"{"status":"Product page is healthy"}"#)
        case (.POST, "/login"):
            let user = TextHTTPServer.formFields(request.body)["username"].flatMap { $0.isEmpty ? nil : $0 } ?? "anonymous"
            return Response(status: .found, headers: [("location", "/productpage"), ("set-cookie", "session=\(user); Path=/")])
        case (.GET, "/logout"):
            return Response(status: .found, headers: [("location", "/productpage"), ("set-cookie", "session=; Path=/; Max-Age=0")])
        case (.GET, "/productpage"):
            return await page(request)
        case (.GET, "/api/v1/products"):
            return .json(#"[{"id":0,"title":"The Comedy of Errors","descriptionHtml":"Wikipedia Summary"}]"#)
        case (.GET, "/api/v1/products/0/reviews"):
            let answer = await callReviews(request)
            return .json(answer?.body ?? #"{"error":"\#(Self.unavailableReviews)"}"#, status: answer == nil ? .serviceUnavailable : .ok)
        default:
            return Response(status: .notFound, headers: [("content-type", "text/plain")], body: "not found\n")
        }
    }

    /// The signed-in user, from the `session` cookie.
    static func user(_ headers: HTTPHeaders) -> String? {
        for cookie in headers["cookie"].flatMap({ $0.split(separator: ";") }) {
            let parts = cookie.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2, parts[0] == "session", !parts[1].isEmpty { return parts[1] }
        }
        return nil
    }

    private func propagated(_ request: Request) -> [(String, String)] {
        var headers = PropagatedHeaders.from(request.headers).filter { $0.0 != "end-user" }
        if let user = Self.user(request.headers) ?? request.headers.first(name: "end-user") { headers.append(("end-user", user)) }
        return headers
    }

    private func callReviews(_ request: Request) async -> Upstream.Answer? {
        // Two tries of 3 s each: Istio's productpage does this on purpose, and the docs' fault
        // injection task (a 7 s ratings delay for jason) shows its consequence.
        for _ in 0..<2 {
            if let answer = await reviews.get("/reviews/0", propagating: propagated(request), timeout: .seconds(3)), answer.status == 200 {
                return answer
            }
        }
        return nil
    }

    private func page(_ request: Request) async -> Response {
        async let detailsAnswer = details.get("/details/0", propagating: propagated(request), timeout: .seconds(3))
        async let reviewsAnswer = callReviews(request)
        let (detailsResult, reviewsResult) = await (detailsAnswer, reviewsAnswer)
        let user = Self.user(request.headers)
        var html = Self.header(user: user)
        html += Self.detailsPanel(detailsResult)
        html += Self.reviewsPanel(reviewsResult)
        html += "</div></body></html>\n"
        var headers = [("content-type", "text/html; charset=utf-8")]
        if let version = reviewsResult?.headers.first(name: "x-bookinfo-version") { headers.append(("x-bookinfo-reviews-version", version)) }
        return Response(headers: headers, body: html)
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func header(user: String?) -> String {
        let session = user.map { "<p class=\"user\">Signed in as <b>\(escape($0))</b> · <a href=\"/logout\">sign out</a></p>" }
            ?? "<form class=\"login\" method=\"post\" action=\"/login\"><input name=\"username\" placeholder=\"User\"><input name=\"passwd\" type=\"password\" placeholder=\"Password\"><button>Sign in</button></form>"
        return """
            <!DOCTYPE html><html><head><meta charset="utf-8"><title>Simple Bookstore App</title></head>
            <body><div class="container"><h1>BookInfo Sample</h1>\(session)
            <h2>The Comedy of Errors</h2>
            <p>Summary: Wikipedia Summary: The Comedy of Errors is one of William Shakespeare's early plays.</p>

            """
    }

    static func detailsPanel(_ answer: Upstream.Answer?) -> String {
        guard let answer, answer.status == 200,
              let details = try? JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any] else {
            return "<div class=\"details error\"><h4>Error fetching product details!</h4><p>\(unavailableDetails)</p></div>\n"
        }
        let rows = ["type", "pages", "publisher", "language", "ISBN-10", "ISBN-13"].map { key in
            "<dt>\(key)</dt><dd>\(escape("\(details[key] ?? "")"))</dd>"
        }.joined()
        return "<div class=\"details\"><h4>Book Details</h4><dl>\(rows)</dl></div>\n"
    }

    static func reviewsPanel(_ answer: Upstream.Answer?) -> String {
        guard let answer,
              let object = try? JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any],
              let reviews = object["reviews"] as? [[String: Any]] else {
            return "<div class=\"reviews error\"><h4>Error fetching product reviews!</h4><p>\(unavailableReviews)</p></div>\n"
        }
        let version = answer.headers.first(name: "x-bookinfo-version") ?? "unknown"
        var html = "<div class=\"reviews\" data-version=\"\(escape(version))\"><h4>Book Reviews</h4>\n"
        for review in reviews {
            html += "<blockquote><p>\(escape(review["text"] as? String ?? ""))</p><small>\(escape(review["reviewer"] as? String ?? ""))</small>"
            if let rating = review["rating"] as? [String: Any] {
                if let stars = rating["stars"] as? Int, let color = rating["color"] as? String {
                    html += "<p class=\"stars\">" + String(repeating: "<span class=\"star\" style=\"color: \(escape(color))\">★</span>", count: stars) + "</p>"
                } else if let error = rating["error"] as? String {
                    html += "<p class=\"ratings error\">\(escape(error))</p>"
                }
            }
            html += "</blockquote>\n"
        }
        html += "<p class=\"served-by\">Reviews served by: reviews-\(escape(version))</p></div>\n"
        return html
    }

    static let index = """
        <!DOCTYPE html><html><head><meta charset="utf-8"><title>Simple Bookstore App</title></head>
        <body><h1>Hello! This is a simple bookstore application consisting of three services.</h1>
        <p><a href="/productpage">Normal user</a> · <a href="/productpage?u=test">Test user</a></p></body></html>
        """
}
