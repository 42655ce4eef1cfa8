// One proxied request: route, faults, cluster and host choice, attempts with retries and timeouts, and the response back.

import NIOCore
import NIOHTTP1
import ProxyConfig
import ProxyCore
import ProxyUpstream
import Telemetry

/// The life of one request from its head to the last byte of its response, on one event loop.
/// It holds the route and cluster from the snapshot current when the request began, so config
/// updates never change it midway. Body parts stream through; they are also kept (up to
/// `retryBufferLimit`) while a retry or mirror may still need them.
final class HTTPExchange: @unchecked Sendable {  // confined to its worker's loop
    private unowned let downstream: any ExchangeDownstream
    /// Keeps a downstream that nothing else holds for as long as the exchange may use it: an
    /// HTTP/2 stream is dropped by its connection when it closes on the wire, which can happen
    /// inside the exchange's last write, before the exchange logs (an HTTP/1.1 handler is held
    /// by its channel's pipeline instead).
    private let downstreamOwner: AnyObject?
    private let http: HTTPWorker
    private var worker: Worker { http.worker }
    private let manager: HTTPConnectionManagerConfig
    private let requestHead: HTTPRequestHead
    /// The `Upgrade` value of an allowed upgrade request (WebSocket), forwarded upstream.
    private let upgrade: String?
    /// The upstream's 101, held until its end, when both connections turn into a byte pipe.
    private var acceptedUpgrade: HTTPResponseHead?
    let started = NIODeadline.now()

    private var route: RouteConfig?
    private var action: ForwardAction?
    private var clusterEntry: WeightedChoice.Entry?
    private var cluster: UpstreamCluster?
    private var upstreamHead: HTTPRequestHead?

    private var bodyParts: [ByteBuffer] = []
    /// Copies of this request on their way to shadow clusters; they get the body as it arrives.
    private var mirrors: [DetachedRequest] = []
    private var bufferedBytes = 0
    private var bodyOverflowed = false
    private var trailers: HTTPHeaders?
    private(set) var requestComplete = false

    private var connection: UpstreamHTTPConnection?
    private var host: UpstreamHost?
    private var attempt = 0
    private var triedHosts: [SocketAddressConfig] = []
    private var triedPriorities: Set<Int> = []
    private var attemptStarted = NIODeadline.now()
    /// When the whole request had arrived: Envoy's `x-envoy-upstream-service-time` counts from here.
    private var requestCompletedAt: NIODeadline?
    private var holdsRequestSlot = false
    private var holdsRetrySlot = false
    private var waitingForSlot = false
    private var responseStarted = false
    private var finished = false
    private var globalTimer: Scheduled<Void>?
    private var perTryTimer: Scheduled<Void>?
    private var delayTimer: Scheduled<Void>?
    /// What the access logs will say of this request; nil when the connection manager logs nothing.
    private var record: AccessLogRecord?
    /// The request's `x-request-id` (the client's, or one made here, as Envoy does for every request).
    private var requestID = ""
    /// The workload at the other end as its proxy announced it (metadata exchange, still
    /// encoded: the worker decodes each distinct one once): the client's on inbound listeners,
    /// the server's on outbound ones.
    private var peerAnnouncement: String?
    /// The request's trace: its sampling decision, this hop's span and the context passed on
    /// (nil when the connection manager does not trace).
    private var trace: RequestTrace?

    static let retryBufferLimit = 64 * 1024

    init(downstream: any ExchangeDownstream, http: HTTPWorker, manager: HTTPConnectionManagerConfig, head: HTTPRequestHead,
         upgrade: String? = nil, keepsDownstream: Bool = false) {
        self.downstream = downstream
        self.downstreamOwner = keepsDownstream ? downstream : nil
        self.http = http
        self.manager = manager
        self.requestHead = head
        self.upgrade = upgrade
        if manager.recordsRequests {
            // Built in place: a local record stored at the end was copied, every field retained.
            record = AccessLogRecord(startTime: WallClock.nowMicroseconds())
            record!.protocolName = head.version.major == 2 ? "HTTP/2" : head.version.minor == 0 ? "HTTP/1.0" : "HTTP/1.1"
            record!.method = head.method.rawValue
            record!.path = head.uri
            record!.requestHeaders = head.headers
            downstream.connectionInfo.fill(&record!)
        }
    }

    // MARK: - Request from downstream

    func start() {
        worker.stats.requests += 1
        requestID = requestHead.headers.first(name: "x-request-id") ?? http.requestIDs.next()
        if let tracing = manager.tracing {
            let trace = RequestTrace(config: tracing, headers: requestHead.headers, requestID: requestID, edge: manager.useRemoteAddress,
                                     random: &http.requestIDs)
            requestID = trace.requestID
            self.trace = trace
        }
        if record != nil, record?.requestHeaders?.first(name: "x-request-id") != requestID {
            record?.requestHeaders?.replaceOrAdd(name: "x-request-id", value: requestID)
        }
        if manager.istioMetrics?.reporter == .destination {
            peerAnnouncement = requestHead.headers.first(name: PeerMetadataHeaders.metadata)
        }
        let snapshot = worker.snapshot
        guard case .route(let route) = Router.decide(requestHead, manager: manager, snapshot: snapshot, scheme: "http") else {
            worker.stats.noRoute += 1
            return reply(.noRoute)
        }
        self.route = route
        record?.routeName = route.name.isEmpty ? nil : route.name
        trace?.name(route: route, callerOperation: requestHead.headers.first(name: RequestTrace.decoratorHeader))
        if manager.filters.contains(.cors), let cors = route.cors, cors.enabled, handleCORSPreflight(cors) { return }
        switch route.action {
        case .direct(let direct):
            return replyDirect(direct, route: route)
        case .redirect(let redirect):
            return replyRedirect(redirect)
        case .forward(let forward):
            action = forward
            // The cluster is chosen with the route, as Envoy does: logs name it even when a fault answers.
            let entry = forward.clusters.entries.count == 1 ? forward.clusters.entries[0]
                : forward.clusters.pick(Int.random(in: 0..<forward.clusters.totalWeight))
            clusterEntry = entry
            record?.upstreamCluster = entry.cluster
        }
        if manager.filters.contains(.fault), let fault = route.fault {
            if let abort = fault.abort, Self.draw(abort.perMillion) {
                worker.stats.faultsInjected += 1
                switch abort.kind {
                case .http(let status): return reply(.faultAbort(status))
                case .grpc(let status):
                    var faultReply = LocalReply.faultAbort(200)
                    faultReply.extraHeaders = [("content-type", "application/grpc"), ("grpc-status", String(status)),
                                               ("grpc-message", "fault filter abort")]
                    faultReply.body = ""
                    return reply(faultReply)
                }
            }
            if let delay = fault.delay, Self.draw(delay.perMillion) {
                worker.stats.faultsInjected += 1
                record?.responseFlags.insert(.delayInjected)
                delayTimer = worker.loop.scheduleTask(in: .nanoseconds(Self.nanoseconds(delay.duration))) { [self] in
                    delayTimer = nil
                    if !finished { forward(snapshot: snapshot) }
                }
                return
            }
        }
        forward(snapshot: snapshot)
    }

    func requestBody(_ buffer: ByteBuffer) {
        record?.bytesReceived += buffer.readableBytes
        for mirror in mirrors { mirror.body(buffer) }
        guard !finished else { return }
        if !bodyOverflowed {
            bufferedBytes += buffer.readableBytes
            if bufferedBytes > Self.retryBufferLimit {
                bodyOverflowed = true
                if connection != nil { bodyParts.removeAll() }  // already sent: retries are off from here
            }
        }
        if !bodyOverflowed || connection == nil { bodyParts.append(buffer) }
        connection?.write(.body(.byteBuffer(buffer)), flush: false)
    }

    func requestEnd(_ trailers: HTTPHeaders?) {
        requestComplete = true
        self.trailers = trailers
        requestCompletedAt = .now()
        if record != nil { record?.requestDuration = elapsed() }
        for mirror in mirrors { mirror.end(trailers) }
        mirrors = []  // each has all it needs; its connection carries it from here
        guard !finished else { return }
        connection?.write(.end(trailers), flush: true)
        startGlobalTimerIfNeeded()
    }

    func downstreamReadComplete() {
        connection?.flush()
        for mirror in mirrors { mirror.flush() }
    }

    /// The client went away, or the connection's edge ended the request (`edge`: a timeout it
    /// answers itself): stop everything, give back what was taken.
    func downstreamClosed(edge: LocalReply? = nil) {
        for mirror in mirrors { mirror.abandon() }
        mirrors = []
        guard !finished else { return }
        if let edge {
            record?.responseFlags.formUnion(edge.flags)
            record?.responseCode = Int(edge.status.code)
            record?.responseCodeDetails = edge.details
            record?.bytesSent += edge.body.utf8.count
        } else {
            record?.responseFlags.insert(.downstreamConnectionTermination)
            if record?.responseCodeDetails == nil { record?.responseCodeDetails = "downstream_remote_disconnect" }
        }
        logRecord()
        finished = true
        cancelTimers()
        if let connection {
            connection.exchange = nil
            connection.channel.close(promise: nil)
            self.connection = nil
        }
        if waitingForSlot, let cluster { http.cancelWaiting(self, cluster: cluster) }
        releaseSlots()
    }

    // MARK: - Forwarding

    private func forward(snapshot: ProxySnapshot) {
        guard let action, let entry = clusterEntry else { return }
        guard let cluster = snapshot.clusters[entry.cluster] else { return reply(.clusterNotFound) }
        self.cluster = cluster
        guard cluster.resources.tryAcquire(.requests, limit: cluster.config.thresholds.maxRequests) else {
            worker.stats.overflows += 1
            return reply(.overflow)
        }
        holdsRequestSlot = true
        upstreamHead = makeUpstreamHead(action: action, entry: entry)
        if record != nil, let upstreamHead {
            // Envoy's router edits the request's own headers, so its logs show them as sent upstream.
            record?.requestHeaders = upstreamHead.headers
            record?.path = upstreamHead.uri
        }
        if requestComplete { startGlobalTimerIfNeeded() }
        for mirror in action.mirrors where Self.draw(mirror.perMillion) {
            if let target = snapshot.clusters[mirror.cluster] { sendMirror(to: target, traceSampled: mirror.traceSampled) }
        }
        startAttempt()
    }

    private func startAttempt() {
        guard !finished, let cluster, let action else { return }
        attempt += 1
        attemptStarted = .now()
        var context = LoadBalancerContext(hashKey: hashKey(action.hashPolicies))
        context.originalDestination = downstream.originalDestination
        if let retry = action.retry {
            context.triedHosts = triedHosts
            context.avoidTriedHosts = retry.avoidPreviousHosts
            context.hostSelectionAttempts = retry.avoidPreviousHosts ? retry.hostSelectionMaxAttempts : 1
            context.triedPriorities = triedPriorities
            context.avoidTriedPriorities = retry.avoidPreviousPriorities
        }
        guard let host = cluster.chooseHost(context, state: &worker.loadBalancing) else {
            worker.stats.noHealthyUpstream += 1
            return reply(.noHealthyUpstream)
        }
        self.host = host
        triedHosts.append(host.address)
        triedPriorities.insert(host.priority)
        if let perTry = action.retry?.perTryTimeout {
            perTryTimer?.cancel()
            perTryTimer = worker.loop.scheduleTask(in: .nanoseconds(Self.nanoseconds(perTry))) { [self] in perTryTimedOut() }
        }
        switch http.acquire(host: host, cluster: cluster, for: self) {
        case .ready(let connection):
            send(on: connection)
        case .connecting(let future):
            let attemptNumber = attempt
            future.assumeIsolated().whenComplete { [self] result in
                guard !finished, attempt == attemptNumber else {
                    if case .success(let connection) = result { http.release(connection) }
                    return
                }
                switch result {
                case .success(let connection): send(on: connection)
                case .failure: attemptFailed(.connectFailure)
                }
            }
        case .pending:
            waitingForSlot = true
        case .overflow:
            worker.stats.overflows += 1
            reply(.overflow)
        }
    }

    func connectionSlotFreed() {
        guard waitingForSlot, !finished else { return }
        waitingForSlot = false
        attempt -= 1  // the same attempt, now with a connection to be had
        startAttempt()
    }

    private func send(on connection: UpstreamHTTPConnection) {
        guard let upstreamHead, let host else { return }
        self.connection = connection
        connection.exchange = self
        host.state.requestStarted()
        if record != nil {
            record?.upstreamHost = host.address.description
            record?.upstreamAttempts = attempt
            record?.upstreamLocalAddress = connection.channel.localAddress.flatMap(DownstreamConnectionInfo.text)
        }
        var head = upstreamHead
        if attempt > 1 { head.headers.replaceOrAdd(name: "x-envoy-attempt-count", value: String(attempt)) }
        connection.send(head)
        for part in bodyParts { connection.write(.body(.byteBuffer(part)), flush: false) }
        if bodyOverflowed { bodyParts.removeAll() }
        if requestComplete {
            connection.write(.end(trailers), flush: true)
        } else {
            connection.flush()
        }
    }

    // MARK: - Response from upstream

    func upstreamHead(_ head: HTTPResponseHead, from connection: UpstreamHTTPConnection) {
        guard connection === self.connection, let cluster, let host else { return }
        let status = Int(head.status.code)
        cluster.record(.response(status: status), for: host)
        if let retry = action?.retry, retry.retries(status: status) {
            if canRetry(retry) {
                // Drop this answer; the connection is released when its body has been read.
                connection.discardingResponse = true
                detachConnection(reusable: false)
                return scheduleRetry()
            }
            record?.responseFlags.insert(.upstreamRetryLimitExceeded)
        }
        perTryTimer?.cancel()
        if upgrade != nil, head.status == .switchingProtocols {
            acceptedUpgrade = head  // goes out with the switch, at this response's end
            return
        }
        if upgrade != nil { downstream.closeAfterUpgradeDeclined() }
        responseStarted = true
        var response = head
        response.version = requestHead.version
        HeaderPolicy.removeHopByHop(&response.headers)
        let elapsed = (NIODeadline.now() - (requestCompletedAt ?? attemptStarted)).nanoseconds / 1_000_000
        response.headers.replaceOrAdd(name: "x-envoy-upstream-service-time", value: String(elapsed))
        if let metrics = manager.istioMetrics { exchangePeerMetadata(response: &response.headers, reporter: metrics.reporter) }
        if let route { HeaderPolicy.apply(route.responseHeadersToAdd, remove: route.responseHeadersToRemove, to: &response.headers) }
        if let cors = route?.cors, cors.enabled, manager.filters.contains(.cors) { addCORSHeaders(cors, to: &response.headers) }
        if !requestHead.isKeepAlive || downstream.closeAfterResponse { response.headers.replaceOrAdd(name: "connection", value: "close") }
        worker.stats.count(status: status)
        if record != nil { recordResponse(response, details: "via_upstream") }
        downstream.writeHead(response)
    }

    func upstreamBody(_ buffer: ByteBuffer) {
        guard responseStarted, !finished else { return }
        record?.bytesSent += buffer.readableBytes
        downstream.writeBody(buffer)
    }

    func upstreamReadComplete() {
        if responseStarted, !finished { downstream.flush() }
    }

    func upstreamEnd(_ trailers: HTTPHeaders?, from connection: UpstreamHTTPConnection) {
        guard connection === self.connection, !finished else { return }
        if let accepted = acceptedUpgrade { return becomeTunnel(accepted, connection: connection) }
        // Give the connection back before writing downstream: the write may deliver the next
        // pipelined request synchronously, and that request may want this very connection.
        detachConnection(reusable: true)
        finish()
        record?.responseTrailers = trailers
        downstream.writeEnd(trailers)
        logRecord()
    }

    /// The upstream accepted the upgrade: the 101 goes downstream and both connections leave
    /// HTTP for a byte pipe. Done from a fresh loop task, not inside the decoders' read loops.
    private func becomeTunnel(_ accepted: HTTPResponseHead, connection: UpstreamHTTPConnection) {
        self.connection = nil
        host?.state.requestFinished()
        finish()
        worker.stats.count(status: 101)
        worker.stats.upgrades += 1
        var response = accepted
        response.version = requestHead.version
        let upgradeValue = response.headers.first(name: "upgrade") ?? upgrade ?? ""
        HeaderPolicy.removeHopByHop(&response.headers)
        response.headers.replaceOrAdd(name: "upgrade", value: upgradeValue)
        response.headers.replaceOrAdd(name: "connection", value: "upgrade")
        // Logged when the switch happens: the tunnel's bytes and lifetime are not the request's.
        if record != nil { recordResponse(response, details: "via_upstream") }
        logRecord()
        let idle = manager.downstream.streamIdleTimeout
        let downstream = self.downstream
        worker.loop.assumeIsolated().execute { downstream.becomeTunnel(response, upstream: connection, idleTimeout: idle) }
    }

    func discardedResponseEnded(_ connection: UpstreamHTTPConnection) {
        http.release(connection)
    }

    /// The upstream connection closed before the response was complete.
    func upstreamReset(_ connection: UpstreamHTTPConnection) {
        guard connection === self.connection, !finished else { return }
        host?.state.requestFinished()
        self.connection = nil
        if let host { cluster?.record(.localFailure, for: host) }
        if responseStarted {
            return abortStartedResponse(.upstreamConnectionTermination, details: "upstream_reset_after_response_started{connection_termination}")
        }
        attemptFailed(.upstreamReset)
    }

    // MARK: - Failures, retries, timeouts

    private func attemptFailed(_ failure: LocalReply) {
        guard !finished else { return }
        if failure.flags == .upstreamConnectionFailure, let host { cluster?.record(.localFailure, for: host) }
        if let retry = action?.retry, failure.flags == .upstreamConnectionFailure ? retry.retriesConnectFailure : retry.retriesReset {
            if canRetry(retry) { return scheduleRetry() }
            record?.responseFlags.insert(.upstreamRetryLimitExceeded)
        }
        reply(failure)
    }

    private func canRetry(_ retry: RetryPolicy) -> Bool {
        guard attempt <= retry.numRetries, requestComplete, !bodyOverflowed, let cluster else { return false }
        if !holdsRetrySlot {
            guard cluster.resources.tryAcquire(.retries, limit: cluster.config.thresholds.maxRetries) else { return false }
            holdsRetrySlot = true
        }
        return true
    }

    private func scheduleRetry() {
        guard let retry = action?.retry else { return }
        worker.stats.upstreamRetries += 1
        cluster?.resources.retriesStarted.wrappingAdd(1, ordering: .relaxed)
        perTryTimer?.cancel()
        // Full jitter between 0 and base × 2^(n-1), capped.
        let ceiling = min(retry.backOffMax, retry.backOffBase * (1 << min(attempt - 1, 10)))
        let wait = Int64.random(in: 0...max(1, Self.nanoseconds(ceiling)))
        worker.loop.scheduleTask(in: .nanoseconds(wait)) { [self] in
            if !finished { startAttempt() }
        }
    }

    private func perTryTimedOut() {
        guard !finished, !responseStarted else { return }
        worker.stats.upstreamTimeouts += 1
        cluster?.resources.timeouts.wrappingAdd(1, ordering: .relaxed)
        if let host { cluster?.record(.localFailure, for: host) }
        detachConnection(reusable: false)
        if let retry = action?.retry, canRetry(retry) { return scheduleRetry() }
        reply(.timeout)
    }

    private func startGlobalTimerIfNeeded() {
        guard globalTimer == nil, let timeout = action?.timeout, !finished else { return }
        globalTimer = worker.loop.scheduleTask(in: .nanoseconds(Self.nanoseconds(timeout))) { [self] in
            guard !finished else { return }
            worker.stats.upstreamTimeouts += 1
            cluster?.resources.timeouts.wrappingAdd(1, ordering: .relaxed)
            detachConnection(reusable: false)
            if responseStarted {
                abortStartedResponse(.upstreamRequestTimeout, details: "upstream_response_timeout")
            } else {
                reply(.timeout)
            }
        }
    }

    /// The response cannot be completed after its head went out (upstream reset, timeout): the
    /// only honest signal left on HTTP/1.1 is closing (HTTP/2 resets the stream).
    private func abortStartedResponse(_ flag: ResponseFlags, details: String) {
        finish()
        record?.responseFlags.insert(flag)
        record?.responseCodeDetails = details
        downstream.abortResponse()
        logRecord()
    }

    /// Lets go of the current upstream connection: back to the pool when it finished cleanly,
    /// otherwise closed (it may still be sending an answer nobody will read).
    private func detachConnection(reusable: Bool) {
        guard let connection else { return }
        self.connection = nil
        host?.state.requestFinished()
        if reusable {
            http.release(connection)
        } else if !connection.discardingResponse {
            connection.exchange = nil
            connection.channel.close(promise: nil)
        }
    }

    // MARK: - Local answers

    private func reply(_ local: LocalReply) {
        guard !finished else { return }
        detachConnection(reusable: false)
        finish()
        worker.stats.count(status: Int(local.status.code))
        var headers = HTTPHeaders()
        headers.add(name: "content-length", value: String(local.body.utf8.count))
        if !local.body.isEmpty { headers.add(name: "content-type", value: "text/plain") }
        for (name, value) in local.extraHeaders { headers.add(name: name, value: value) }
        if let route, local.flags != .noRouteFound { HeaderPolicy.apply(route.responseHeadersToAdd, remove: route.responseHeadersToRemove, to: &headers) }
        let head = HTTPResponseHead(version: requestHead.version, status: local.status, headers: headers)
        if record != nil {
            record?.responseFlags.formUnion(local.flags)
            recordResponse(head, details: local.details, bodyBytes: local.body.utf8.count)
        }
        downstream.writeLocal(head, body: local.body.isEmpty ? nil : ByteBuffer(string: local.body), request: requestHead,
                              requestComplete: requestComplete)
        logRecord()
    }

    private func replyDirect(_ direct: DirectResponse, route: RouteConfig) {
        finish()
        worker.stats.count(status: direct.status)
        var headers = HTTPHeaders()
        headers.add(name: "content-length", value: String(direct.body?.count ?? 0))
        if direct.body != nil { headers.add(name: "content-type", value: "text/plain") }
        HeaderPolicy.apply(route.responseHeadersToAdd, remove: route.responseHeadersToRemove, to: &headers)
        let head = HTTPResponseHead(version: requestHead.version, status: HTTPResponseStatus(statusCode: direct.status), headers: headers)
        if record != nil { recordResponse(head, details: "direct_response", bodyBytes: direct.body?.count ?? 0) }
        downstream.writeLocal(head, body: direct.body.map { ByteBuffer(bytes: $0) }, request: requestHead, requestComplete: requestComplete)
        logRecord()
    }

    private func replyRedirect(_ redirect: RedirectAction) {
        finish()
        worker.stats.count(status: redirect.status)
        let authority = requestHead.headers.first(name: "host") ?? ""
        var host = authority
        var port: String?
        if let colon = authority.lastIndex(of: ":"), !authority.hasSuffix("]") {
            host = String(authority[..<colon])
            port = String(authority[authority.index(after: colon)...])
        }
        let scheme = redirect.scheme ?? "http"
        if let newHost = redirect.host { host = newHost }
        if let newPort = redirect.port { port = String(newPort) }
        if redirect.scheme != nil, redirect.port == nil { port = nil }  // a new scheme drops the old port
        if let known = port, (scheme == "http" && known == "80") || (scheme == "https" && known == "443") { port = nil }
        let uri = requestHead.uri
        let question = uri.firstIndex(of: "?")
        var path = String(question.map { uri[..<$0] } ?? uri[...])
        let query = redirect.stripQuery ? "" : (question.map { String(uri[$0...]) } ?? "")
        switch redirect.path {
        case .none: break
        case .path(let newPath): path = newPath
        case .prefix(let prefix):
            if case .prefix(let matched)? = route.map({ $0.match.path }) { path = prefix + path.dropFirst(matched.count) }
        }
        let location = "\(scheme)://\(host)\(port.map { ":\($0)" } ?? "")\(path)\(query)"
        var headers = HTTPHeaders()
        headers.add(name: "location", value: location)
        headers.add(name: "content-length", value: "0")
        if let route { HeaderPolicy.apply(route.responseHeadersToAdd, remove: route.responseHeadersToRemove, to: &headers) }
        let head = HTTPResponseHead(version: requestHead.version, status: HTTPResponseStatus(statusCode: redirect.status), headers: headers)
        if record != nil { recordResponse(head, details: "direct_response") }
        downstream.writeLocal(head, body: nil, request: requestHead, requestComplete: requestComplete)
        logRecord()
    }

    // MARK: - CORS

    /// Answers a CORS preflight from an allowed origin; true when it did.
    private func handleCORSPreflight(_ cors: CorsPolicy) -> Bool {
        guard requestHead.method == .OPTIONS, let origin = requestHead.headers.first(name: "origin"),
              requestHead.headers.first(name: "access-control-request-method") != nil else { return false }
        guard cors.allows(origin: origin) else {
            if cors.forwardNotMatchingPreflights { return false }
            finish()
            let head = HTTPResponseHead(version: requestHead.version, status: .ok, headers: ["content-length": "0"])
            if record != nil { recordResponse(head, details: "cors_response") }
            downstream.writeLocal(head, body: nil, request: requestHead, requestComplete: requestComplete)
            logRecord()
            return true
        }
        finish()
        var headers = HTTPHeaders()
        headers.add(name: "access-control-allow-origin", value: origin)
        if !cors.allowMethods.isEmpty { headers.add(name: "access-control-allow-methods", value: cors.allowMethods) }
        if !cors.allowHeaders.isEmpty { headers.add(name: "access-control-allow-headers", value: cors.allowHeaders) }
        if !cors.maxAge.isEmpty { headers.add(name: "access-control-max-age", value: cors.maxAge) }
        if cors.allowCredentials { headers.add(name: "access-control-allow-credentials", value: "true") }
        headers.add(name: "content-length", value: "0")
        worker.stats.count(status: 200)
        let head = HTTPResponseHead(version: requestHead.version, status: .ok, headers: headers)
        if record != nil { recordResponse(head, details: "cors_response") }
        downstream.writeLocal(head, body: nil, request: requestHead, requestComplete: requestComplete)
        logRecord()
        return true
    }

    private func addCORSHeaders(_ cors: CorsPolicy, to headers: inout HTTPHeaders) {
        guard let origin = requestHead.headers.first(name: "origin"), cors.allows(origin: origin) else { return }
        headers.replaceOrAdd(name: "access-control-allow-origin", value: origin)
        if cors.allowCredentials { headers.replaceOrAdd(name: "access-control-allow-credentials", value: "true") }
        if !cors.exposeHeaders.isEmpty { headers.replaceOrAdd(name: "access-control-expose-headers", value: cors.exposeHeaders) }
    }

    // MARK: - Mirroring

    /// Sends a copy of the request to `target` with `-shadow` appended to its authority, its
    /// body following as it arrives; the answer is read and dropped, and the caller never waits
    /// for it.
    private func sendMirror(to target: UpstreamCluster, traceSampled: Bool) {
        guard var head = upstreamHead else { return }
        if let trace, !traceSampled {
            // The shadow's spans stay out of the trace (Istio sets `trace_sampled: false`).
            var unsampled = trace.outgoing
            unsampled.sampled = false
            unsampled.write(to: &head.headers, propagation: trace.config.propagation)
        }
        var loadBalancing = worker.loadBalancing
        var context = LoadBalancerContext()
        context.originalDestination = downstream.originalDestination
        guard let host = target.chooseHost(context, state: &loadBalancing) else { return }
        worker.loadBalancing = loadBalancing
        let authority = head.headers.first(name: "host") ?? ""
        if let colon = authority.lastIndex(of: ":"), !authority.hasSuffix("]") {
            head.headers.replaceOrAdd(name: "host", value: authority[..<colon] + "-shadow" + authority[colon...])
        } else {
            head.headers.replaceOrAdd(name: "host", value: authority + "-shadow")
        }
        worker.stats.mirrored += 1
        // Until the request ends, the body received so far is all in `bodyParts` (nothing is
        // dropped from it before an upstream connection exists, and none exists yet).
        let mirror = DetachedRequest(http: http, head: head, received: bodyParts)
        if requestComplete {
            mirror.end(trailers)
        } else {
            mirrors.append(mirror)
        }
        mirror.send(to: host, cluster: target)
    }

    // MARK: - Helpers

    private func makeUpstreamHead(action: ForwardAction, entry: WeightedChoice.Entry) -> HTTPRequestHead {
        var head = requestHead
        head.version = .http1_1
        HeaderPolicy.removeHopByHop(&head.headers)
        if let upgrade {
            head.headers.replaceOrAdd(name: "connection", value: "upgrade")
            head.headers.replaceOrAdd(name: "upgrade", value: upgrade)
        }
        if let route { HeaderPolicy.apply(route.requestHeadersToAdd, remove: route.requestHeadersToRemove, to: &head.headers) }
        HeaderPolicy.apply(entry.requestHeadersToAdd, remove: entry.requestHeadersToRemove, to: &head.headers)
        if let prefix = action.prefixRewrite, case .prefix(let matched)? = route.map({ $0.match.path }) {
            head.uri = prefix + head.uri.dropFirst(matched.count)
            if head.uri.isEmpty || head.uri.first == "?" { head.uri = "/" + head.uri }
        } else if let (pattern, substitution) = action.regexRewrite {
            let question = head.uri.firstIndex(of: "?")
            let path = String(question.map { head.uri[..<$0] } ?? head.uri[...])
            let query = question.map { String(head.uri[$0...]) } ?? ""
            head.uri = pattern.replacingAll(in: path, with: substitution) + query
        }
        if head.uri != requestHead.uri { head.headers.replaceOrAdd(name: "x-envoy-original-path", value: requestHead.uri) }
        if let host = action.hostRewrite { head.headers.replaceOrAdd(name: "host", value: host) }
        if let metrics = manager.istioMetrics { exchangePeerMetadata(request: &head.headers, reporter: metrics.reporter) }
        if let trace {
            trace.write(to: &head.headers, route: route)
        } else if !head.headers.contains(name: "x-request-id") {
            head.headers.add(name: "x-request-id", value: requestID)
        }
        let security = downstream.security
        if !head.headers.contains(name: "x-forwarded-proto") { head.headers.add(name: "x-forwarded-proto", value: security == nil ? "http" : "https") }
        Self.forwardClientCert(manager, security: security, headers: &head.headers)
        if manager.useRemoteAddress, let peer = downstream.remoteIP {
            if let existing = head.headers.first(name: "x-forwarded-for") {
                head.headers.replaceOrAdd(name: "x-forwarded-for", value: existing + "," + peer)
            } else {
                head.headers.add(name: "x-forwarded-for", value: peer)
            }
        }
        if let timeout = action.timeout {
            head.headers.replaceOrAdd(name: "x-envoy-expected-rq-timeout-ms", value: String(Self.nanoseconds(timeout) / 1_000_000))
        }
        return head
    }

    /// `x-forwarded-client-cert` by the manager's `forward_client_cert_details` (Envoy's rules:
    /// only a client that proved itself with a certificate may pass one on or get one set).
    static func forwardClientCert(_ manager: HTTPConnectionManagerConfig, security: ConnectionSecurity?, headers: inout HTTPHeaders) {
        let name = "x-forwarded-client-cert"
        let mutual = security?.peerAuthenticated == true
        switch manager.forwardClientCert {
        case .alwaysForwardOnly:
            return
        case .forwardOnly where mutual:
            return
        case .sanitize, .forwardOnly:
            headers.remove(name: name)
        case .appendForward, .sanitizeSet:
            guard mutual, let security,
                  let current = security.clientCertDetails(subject: manager.setClientCertSubject, uri: manager.setClientCertURI,
                                                           dns: manager.setClientCertDNS) else {
                headers.remove(name: name)
                return
            }
            if manager.forwardClientCert == .appendForward, let existing = headers.first(name: name) {
                headers.replaceOrAdd(name: name, value: existing + "," + current)
            } else {
                headers.replaceOrAdd(name: name, value: current)
            }
        }
    }

    private func hashKey(_ policies: [HashPolicy]) -> UInt64? {
        var key: UInt64?
        for policy in policies {
            var value: String?
            switch policy.source {
            case .header(let name): value = requestHead.headers[name].first
            case .sourceIP: value = downstream.remoteIP
            case .queryParameter(let name):
                if let question = requestHead.uri.firstIndex(of: "?") {
                    for pair in requestHead.uri[requestHead.uri.index(after: question)...].split(separator: "&") {
                        let parts = pair.split(separator: "=", maxSplits: 1)
                        if parts.first.map(String.init) == name { value = parts.count > 1 ? String(parts[1]) : "" }
                    }
                }
            case .cookie(let name, _, _):
                value = HeaderPolicy.cookie(named: name, in: requestHead.headers)
            }
            if let value {
                let hash = StableHash.of(value)
                // Several policies combine as Envoy does: rotate and xor.
                key = key.map { (($0 << 1) | ($0 >> 63)) ^ hash } ?? hash
                if policy.terminal { break }
            }
        }
        return key
    }

    // MARK: - Access log

    private func elapsed() -> Int64 { (NIODeadline.now() - started).nanoseconds }

    private func recordResponse(_ head: HTTPResponseHead, details: String, bodyBytes: Int = 0) {
        record?.responseCode = Int(head.status.code)
        record?.responseHeaders = head.headers
        record?.responseCodeDetails = details
        record?.bytesSent += bodyBytes
        if record?.responseDuration == nil, details == "via_upstream" { record?.responseDuration = elapsed() }
    }

    /// Writes the record to the connection manager's access logs and Istio's metrics, once.
    private func logRecord() {
        // Moved out, not copied: a copy retains every string and header list in the record.
        guard var record = record.take() else { return }
        record.duration = elapsed()
        if !manager.accessLogs.isEmpty { worker.log(record, to: manager.accessLogs) }
        if let metrics = manager.istioMetrics, metrics.overrides?.records(tcp: false) ?? true {
            recordMetrics(record, reporter: metrics.reporter, overrides: metrics.overrides)
        }
        if let trace, trace.outgoing.sampled {
            let span = trace.span(record, request: requestHead, nodeID: worker.nodeID, scheme: downstream.security == nil ? "http" : "https")
            http.spanReports.add(span, config: trace.config)
        }
    }

    // MARK: - Istio metrics and metadata exchange

    private func recordMetrics(_ record: AccessLogRecord, reporter: IstioRequestContext.Reporter, overrides: IstioMetricOverrides?) {
        var key = IstioPeerKey(reporter: reporter, announcement: peerAnnouncement)
        // A local answer after routing (a fault abort, an overflow) still names the route's
        // cluster's service, as Envoy's stream info carries the routed cluster to Istio's stats.
        let routed = cluster ?? clusterEntry.flatMap { worker.snapshot.clusters[$0.cluster] }
        key.destinationService = routed?.config.meshService ?? Self.authorityHost(requestHead.headers.first(name: "host"))
        let security: IstioSecurityPolicy
        switch reporter {
        case .destination:
            let connection = downstream.security
            security = connection?.peerAuthenticated == true ? .mutualTLS : .none
            if security == .mutualTLS {
                key.sourcePrincipal = connection?.peerURIs.first
                key.destinationPrincipal = connection?.localURI
            }
        case .source:
            // A client cannot tell how the server's proxy took the connection: Istio's client
            // side reports `unknown` security, and principals only from its upstream TLS.
            security = .unknown
        }
        let labels = worker.istioMetrics.peerLabels(for: key) { [worker] key in
            let peer = key.announcement.flatMap(PeerMetadataHeaders.decode)
            return IstioRequestContext(reporter: key.reporter, source: key.reporter == .destination ? peer : worker.workload,
                                       destination: key.reporter == .destination ? worker.workload : peer,
                                       sourcePrincipal: key.sourcePrincipal, destinationPrincipal: key.destinationPrincipal,
                                       destinationService: key.destinationService)
        }
        let milliseconds = Double(record.duration ?? 0) / 1_000_000
        worker.istioMetrics.recordRequest(IstioRequestSeries(peer: labels, security: security, record: record, overrides: overrides),
                                          durationMilliseconds: milliseconds,
                                          requestBytes: record.bytesReceived, responseBytes: record.bytesSent)
    }

    /// The request as it leaves: inbound, the client's announcement is taken off before the
    /// application sees it; outbound, this workload is announced to mesh services only (never
    /// to an external host), replacing whatever the application put there.
    private func exchangePeerMetadata(request headers: inout HTTPHeaders, reporter: IstioRequestContext.Reporter) {
        headers.remove(name: PeerMetadataHeaders.metadata)
        headers.remove(name: PeerMetadataHeaders.id)
        if reporter == .source, cluster?.config.meshService != nil {
            headers.add(name: PeerMetadataHeaders.id, value: worker.nodeID)
            headers.add(name: PeerMetadataHeaders.metadata, value: worker.workloadHeader)
        }
    }

    /// The response as it leaves: outbound, the server's announcement is read and taken off;
    /// inbound, this workload answers a client that announced itself.
    private func exchangePeerMetadata(response headers: inout HTTPHeaders, reporter: IstioRequestContext.Reporter) {
        if reporter == .source, let announced = headers.first(name: PeerMetadataHeaders.metadata) {
            peerAnnouncement = announced
        }
        headers.remove(name: PeerMetadataHeaders.metadata)
        headers.remove(name: PeerMetadataHeaders.id)
        if reporter == .destination, peerAnnouncement != nil {
            headers.add(name: PeerMetadataHeaders.id, value: worker.nodeID)
            headers.add(name: PeerMetadataHeaders.metadata, value: worker.workloadHeader)
        }
    }

    /// `reviews:9080` → `reviews` (Istio's `destination_service` fallback when the cluster names no service).
    static func authorityHost(_ authority: String?) -> String? {
        guard let authority, !authority.isEmpty else { return nil }
        if authority.hasPrefix("[") { return authority.firstIndex(of: "]").map { String(authority[...$0]) } ?? authority }
        return authority.firstIndex(of: ":").map { String(authority[..<$0]) } ?? authority
    }

    private func finish() {
        guard !finished else { return }
        finished = true
        cancelTimers()
        releaseSlots()
    }

    private func releaseSlots() {
        if holdsRequestSlot { cluster?.resources.release(.requests); holdsRequestSlot = false }
        if holdsRetrySlot { cluster?.resources.release(.retries); holdsRetrySlot = false }
    }

    private func cancelTimers() {
        globalTimer?.cancel()
        perTryTimer?.cancel()
        delayTimer?.cancel()
        globalTimer = nil
        perTryTimer = nil
        delayTimer = nil
    }

    static func draw(_ perMillion: Int) -> Bool {
        perMillion >= 1_000_000 || (perMillion > 0 && Int.random(in: 0..<1_000_000) < perMillion)
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
    }
}
