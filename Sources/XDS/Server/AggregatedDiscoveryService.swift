// The gRPC ADS service: runs each proxy's stream, state-of-the-world or delta.

import ConfigGen
import EnvoyAPI
import EnvoyServices
import GRPCCore
import MeshModel
import XDSClient

/// `envoy.service.discovery.v3.AggregatedDiscoveryService`. Each stream identifies its proxy
/// from the first request, then answers requests and pushes new snapshots as they come, from
/// one task, so a stream's state is never shared.
public struct AggregatedDiscoveryService: Envoy_Service_Discovery_V3_AggregatedDiscoveryService.SimpleServiceProtocol {
    let server: DiscoveryServer

    public init(server: DiscoveryServer) {
        self.server = server
    }

    public func streamAggregatedResources(
        request: RPCAsyncSequence<Envoy_Service_Discovery_V3_DiscoveryRequest, any Error>,
        response: RPCWriter<Envoy_Service_Discovery_V3_DiscoveryResponse>,
        context: ServerContext
    ) async throws {
        try await serve(SotWStreamStateMachine(), request, response)
    }

    public func deltaAggregatedResources(
        request: RPCAsyncSequence<Envoy_Service_Discovery_V3_DeltaDiscoveryRequest, any Error>,
        response: RPCWriter<Envoy_Service_Discovery_V3_DeltaDiscoveryResponse>,
        context: ServerContext
    ) async throws {
        try await serve(DeltaStreamStateMachine(), request, response)
    }

    /// One stream of either protocol: requests and snapshots through the protocol's state
    /// machine, its responses written back.
    private func serve<Machine: ADSStreamStateMachine>(
        _ initial: Machine,
        _ requests: RPCAsyncSequence<Machine.Request, any Error>,
        _ response: RPCWriter<Machine.Response>
    ) async throws {
        var machine = initial
        try await run(requests, protocolName: Machine.protocolName, node: { $0.hasNode ? $0.node : nil }) { event, connection in
            switch event {
            case .request(let request):
                let (kind, reply) = machine.receive(request)
                await record(kind, request.typeURL, connection)
                if let reply { try await response.write(reply) }
                connection.update { $0.types = machine.status }
            case .resources(let resources, let publishedAt):
                let replies = machine.update(resources)
                for reply in replies { try await response.write(reply) }
                connection.update { $0.types = machine.status }
                record(pushes: replies.map(\.typeURL), publishedAt: publishedAt)
                if !replies.isEmpty { await server.count(pushes: 1) }
            }
        }
    }

    /// Pushes per type, and for a new snapshot how long it took to reach this proxy.
    private func record(pushes typeURLs: [String], publishedAt: ContinuousClock.Instant?) {
        for typeURL in typeURLs {
            if let type = ResourceType(typeURL: typeURL) { server.metrics.pushed(type) }
        }
        if let publishedAt, !typeURLs.isEmpty {
            let elapsed = ContinuousClock.now - publishedAt
            server.metrics.converged(after: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        }
    }

    enum Event<Request: Sendable>: Sendable {
        case request(Request)
        /// Resources for the proxy, and when their snapshot was published (nil for the one in
        /// force when the stream began: that is no change reaching the proxy).
        case resources(ResourceSet, publishedAt: ContinuousClock.Instant?)
    }

    /// The stream's life: identify the proxy, generate its resources, then handle requests and
    /// snapshots in arrival order until the proxy goes away.
    private func run<Request: Sendable>(
        _ requests: RPCAsyncSequence<Request, any Error>,
        protocolName: String,
        node: @Sendable (Request) -> Envoy_Config_Core_V3_Node?,
        handle: (Event<Request>, ProxyConnection) async throws -> Void
    ) async throws {
        let (events, continuation) = AsyncStream.makeStream(of: Event<Request>.self)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                defer { continuation.finish() }
                for try await request in requests { continuation.yield(.request(request)) }
            }
            var pending = events.makeAsyncIterator()
            guard case .request(let first)? = await pending.next() else {
                try await group.waitForAll()
                return
            }
            guard let firstNode = node(first) else {
                await server.count(rejectedStreams: 1)
                throw RPCError(code: .invalidArgument, message: "the first request must carry node (its id identifies the proxy)")
            }
            let identity: ProxyIdentity
            do throws(ProxyIdentityError) {
                identity = try ProxyIdentity(node: firstNode)
            } catch {
                await server.count(rejectedStreams: 1)
                server.log("xds: refused a \(protocolName) stream: \(error.reason)")
                throw RPCError(code: .invalidArgument, message: error.reason)
            }
            let connection = await server.connect(identity, protocolName: protocolName)
            group.addTask {
                for await published in connection.snapshots {
                    continuation.yield(.resources(generate(published, for: connection), publishedAt: published.publishedAt))
                }
            }
            // The snapshot in force now; later ones arrive on `connection.snapshots`. Not kept in
            // a variable: a stream lives for hours, and holding its first snapshot would keep
            // that whole version (and its shared caches) alive as long.
            let initial = generate(await server.published, for: connection)
            do {
                try await handle(.resources(initial, publishedAt: nil), connection)
                try await handle(.request(first), connection)
                while let event = await pending.next() { try await handle(event, connection) }
            } catch {
                await server.disconnect(connection)
                throw error
            }
            await server.disconnect(connection)
            group.cancelAll()
            try await group.waitForAll()
        }
    }

    /// Generates the proxy's resources; on failure the proxy keeps what it was last sent.
    private func generate(_ published: PublishedSnapshot, for connection: ProxyConnection) -> ResourceSet {
        let snapshot = published.snapshot
        let proxy = connection.identity.proxy(in: snapshot)
        do {
            let resources = try ProxyConfigGenerator(context: published.context).generate(for: proxy)
            let set = try ResourceSet(resources, cache: published.packing)
            connection.update {
                $0.resources = set
                $0.snapshotVersion = snapshot.version
                $0.generationError = nil
            }
            return set
        } catch {
            let message = "snapshot \(snapshot.version): \(error)"
            server.log("xds: \(proxy.id): configuration not generated, the last one keeps serving: \(message)")
            connection.update { $0.generationError = message }
            return connection.current.resources
        }
    }

    private func record(_ kind: SotWStreamStateMachine.RequestKind, _ typeURL: String, _ connection: ProxyConnection) async {
        switch kind {
        case .nack(let message):
            connection.update { $0.nacks += 1 }
            server.metrics.rejected(ResourceType(typeURL: typeURL))
            await server.count(nacks: 1)
            server.log("xds: \(connection.identity.nodeID) rejected \(ResourceType(typeURL: typeURL)?.shortName ?? typeURL): \(message)")
        case .unknownType:
            server.log("xds: \(connection.identity.nodeID) asked for \(typeURL), which meshd does not serve")
        case .subscribe, .ack, .stale:
            break
        }
    }
}
