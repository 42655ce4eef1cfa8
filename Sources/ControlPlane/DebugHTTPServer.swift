// meshd's debug API on the debug address: GET requests, path and query handed to the endpoints.

import NIOCore
import NIOHTTP1
import NIOPosix
import TextHTTP

/// Serves GET requests by handing path and query to `respond`; each connection closes after its
/// answer (debug clients are curl and meshctl).
public struct DebugHTTPServer: Sendable {
    public typealias Responder = @Sendable (_ path: String, _ query: [String: String]) async -> TextResponse

    let host: String
    let port: Int
    let respond: Responder

    public init(host: String, port: Int, respond: @escaping Responder) {
        self.host = host
        self.port = port
        self.respond = respond
    }

    /// Binds and returns the channel; close it to stop serving.
    public func start(group: MultiThreadedEventLoopGroup = .singleton) async throws -> Channel {
        let respond = self.respond
        return try await TextHTTPServer.bind(host: host, port: port, group: group, closeAfterResponse: true) { head, loop in
            let (path, query) = TextHTTPServer.splitQuery(head.uri)
            let answer = loop.makePromise(of: TextResponse.self)
            answer.completeWithTask {
                head.method == .GET ? await respond(path, query) : TextResponse(status: .methodNotAllowed, contentType: "text/plain", body: "only GET\n")
            }
            return answer.futureResult
        }.get()
    }
}
