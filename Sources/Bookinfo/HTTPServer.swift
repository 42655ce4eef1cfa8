// A small HTTP/1.1 server for the sample apps: one async handler per request.

import NIOCore
import NIOHTTP1
import NIOPosix
import TextHTTP

/// One request as the sample apps see it.
struct Request: Sendable {
    var method: HTTPMethod
    /// Path without the query.
    var path: String
    var query: [String: String]
    var headers: HTTPHeaders
    var body: String
}

struct Response: Sendable {
    var status: HTTPResponseStatus = .ok
    var headers: [(String, String)] = []
    var body: String = ""

    static func json(_ text: String, status: HTTPResponseStatus = .ok) -> Response {
        Response(status: status, headers: [("content-type", "application/json")], body: text)
    }
}

/// Serves `handler` on `host:port` until the task is cancelled; connections are kept alive.
func serve(host: String, port: Int, log: @escaping @Sendable (String) -> Void,
           handler: @escaping @Sendable (Request) async -> Response) async throws {
    let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .bind(host: host, port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: channel)
            }
        }
    log("listening on \(server.channel.localAddress.map { "\($0)" } ?? "\(host):\(port)")")
    try await withThrowingDiscardingTaskGroup { group in
        try await server.executeThenClose { connections in
            for try await connection in connections {
                group.addTask {
                    // A connection's failure ends that connection only; it is logged, not lost.
                    do {
                        try await handle(connection, handler: handler)
                    } catch {
                        log("connection ended: \(error)")
                    }
                }
            }
        }
    }
}

private func handle(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>,
                    handler: @Sendable (Request) async -> Response) async throws {
    try await connection.executeThenClose { inbound, outbound in
        var head: HTTPRequestHead?
        var body = ByteBuffer()
        for try await part in inbound {
            switch part {
            case .head(let received):
                head = received
                body.clear()
            case .body(var chunk):
                body.writeBuffer(&chunk)
            case .end:
                guard let request = head else { continue }
                head = nil
                let (path, query) = TextHTTPServer.splitQuery(request.uri)
                let response = await handler(Request(method: request.method, path: path, query: query, headers: request.headers,
                                                     body: String(buffer: body)))
                var headers = HTTPHeaders()
                for (name, value) in response.headers { headers.add(name: name, value: value) }
                headers.replaceOrAdd(name: "content-length", value: String(response.body.utf8.count))
                if !request.isKeepAlive { headers.replaceOrAdd(name: "connection", value: "close") }
                try await outbound.write(.head(HTTPResponseHead(version: request.version, status: response.status, headers: headers)))
                try await outbound.write(.body(.byteBuffer(ByteBuffer(string: response.body))))
                try await outbound.write(.end(nil))
                if !request.isKeepAlive { return }
            }
        }
    }
}
