// bookinfo: Istio's sample application as one executable, one service per subcommand.

import ArgumentParser
import Foundation

@main
struct Bookinfo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bookinfo",
        abstract: "Istio's Bookinfo sample: productpage, details, reviews (v1, v2, v3) and ratings.",
        discussion: """
            Each service listens on --listen and reaches the services it calls through its sidecar's \
            egress address, from BOOKINFO_EGRESS (meshctl demo sets it).
            """,
        subcommands: [ProductPage.self, Details.self, Reviews.self, Ratings.self])
}

struct ServiceOptions: ParsableArguments {
    @Option(help: "HOST:PORT to listen on.")
    var listen: String = "127.0.0.1:9080"

    func run(_ name: String, version: String, _ handler: @escaping @Sendable (Request) async -> Response) async throws {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]) else {
            throw ValidationError("--listen must be HOST:PORT")
        }
        let log: @Sendable (String) -> Void = { FileHandle.standardError.write(Data("\(name)-\(version): \($0)\n".utf8)) }
        let metrics = AppMetrics(service: name, version: version)
        try await serve(host: String(listen[..<colon]), port: port, log: log) { request in
            // The app's own Prometheus metrics (what a sidecar merges into port 15020).
            if request.method == .GET, request.path == "/metrics" {
                return Response(headers: [("content-type", "text/plain; version=0.0.4")], body: metrics.text())
            }
            let response = versioned(await handler(request), service: name, version: version)
            metrics.count(response.status.code)
            return response
        }
    }
}

struct ProductPage: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "productpage", abstract: "The product page (calls details and reviews).")
    @OptionGroup var options: ServiceOptions
    func run() async throws {
        let service = ProductPageService()
        try await options.run("productpage", version: "v1") { await service.handle($0) }
    }
}

struct Details: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "details", abstract: "Book details.")
    @OptionGroup var options: ServiceOptions
    func run() async throws {
        try await options.run("details", version: "v1") { DetailsService.handle($0) }
    }
}

struct Reviews: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "reviews", abstract: "Book reviews; v2 and v3 call ratings.")
    @OptionGroup var options: ServiceOptions
    @Option(help: "v1 (no stars), v2 (black stars) or v3 (red stars).")
    var version: String = "v1"

    func validate() throws {
        guard ["v1", "v2", "v3"].contains(version) else { throw ValidationError("--version must be v1, v2 or v3") }
    }

    func run() async throws {
        let service = ReviewsService(version: version)
        try await options.run("reviews", version: version) { await service.handle($0) }
    }
}

struct Ratings: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ratings", abstract: "Book ratings.")
    @OptionGroup var options: ServiceOptions
    func run() async throws {
        try await options.run("ratings", version: "v1") { RatingsService.handle($0) }
    }
}
