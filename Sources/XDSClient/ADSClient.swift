// The proxy's ADS stream to meshd: delta or state-of-the-world xDS, ACK/NACK, reconnection with jittered backoff.

import EnvoyAPI
import EnvoyServices
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import GRPCCore
import GRPCNIOTransportHTTP2
import Synchronization

/// Keeps an ADS stream to the control plane for as long as it runs, over delta xDS
/// (`DELTA_GRPC`) or state-of-the-world (`GRPC`). Resources go to `apply` one type at a time,
/// whole; whatever `apply` rejects is NACKed with its reason and the previous resources stay in
/// force. When the stream breaks, the proxy keeps serving what it has and reconnects after a
/// jittered, growing delay (100 ms up to 10 s), offering the versions it holds (delta: so only
/// changes come back).
public struct ADSClient: Sendable {
    public enum WireProtocol: Sendable { case delta, stateOfTheWorld }

    public var host: String
    public var port: Int
    public var node: Envoy_Config_Core_V3_Node
    public var wireProtocol: WireProtocol
    public var apply: @Sendable (ResourceType, [String: HeldResource]) -> String?
    public var log: @Sendable (String) -> Void

    public init(host: String, port: Int, node: Envoy_Config_Core_V3_Node, wireProtocol: WireProtocol = .delta,
                apply: @escaping @Sendable (ResourceType, [String: HeldResource]) -> String?,
                log: @escaping @Sendable (String) -> Void) {
        self.host = host
        self.port = port
        self.node = node
        self.wireProtocol = wireProtocol
        self.apply = apply
        self.log = log
    }

    public func run() async {
        switch wireProtocol {
        case .delta:
            await run(DeltaClientStateMachine(node: node), typeURL: \.typeURL) { ads, requests, handle in
                try await ads.deltaAggregatedResources(requestProducer: requests, onResponse: handle)
            }
        case .stateOfTheWorld:
            await run(SotWClientStateMachine(node: node), typeURL: \.typeURL) { ads, requests, handle in
                try await ads.streamAggregatedResources(requestProducer: requests, onResponse: handle)
            }
        }
    }

    /// The bookkeeping, shared by the stream's two halves.
    final class Box<Machine: ADSClientStateMachine>: Sendable {
        let machine: Mutex<Machine>
        init(_ machine: Machine) { self.machine = Mutex(machine) }
    }

    typealias ADS = Envoy_Service_Discovery_V3_AggregatedDiscoveryService.Client<HTTP2ClientTransport.Posix>

    /// Streams until cancelled; the bookkeeping survives reconnections (one stream at a time touches it).
    private func run<Machine: ADSClientStateMachine>(
        _ machine: Machine, typeURL: KeyPath<Machine.Response, String> & Sendable,
        call: @escaping @Sendable (ADS, @escaping @Sendable (RPCWriter<Machine.Request>) async throws -> Void,
                                   @escaping @Sendable (StreamingClientResponse<Machine.Response>) async throws -> Void) async throws -> Void
    ) async {
        let box = Box(machine)
        await Reconnection.run(ended: { "ads: stream to \(host):\(port) ended; reconnecting in \($0.milliseconds) ms" }, log: log) {
            await stream(box, typeURL: typeURL, call: call)
        }
    }

    /// One stream; true when it delivered at least one response.
    private func stream<Machine: ADSClientStateMachine>(
        _ box: Box<Machine>, typeURL: KeyPath<Machine.Response, String> & Sendable,
        call: @escaping @Sendable (ADS, @escaping @Sendable (RPCWriter<Machine.Request>) async throws -> Void,
                                   @escaping @Sendable (StreamingClientResponse<Machine.Response>) async throws -> Void) async throws -> Void
    ) async -> Bool {
        let received = Atomic(false)
        do {
            try await withGRPCClient(transport: try .http2NIOPosix(target: .ipv4(address: host, port: port), transportSecurity: .plaintext)) { client in
                let ads = Envoy_Service_Discovery_V3_AggregatedDiscoveryService.Client(wrapping: client)
                let (outbound, continuation) = AsyncStream.makeStream(of: Machine.Request.self)
                for request in box.machine.withLock({ $0.openingRequests() }) { continuation.yield(request) }
                try await call(ads, { writer in
                    for await request in outbound { try await writer.write(request) }
                }, { response in
                    defer { continuation.finish() }
                    for try await message in response.messages {
                        received.store(true, ordering: .relaxed)
                        let type = ResourceType(typeURL: message[keyPath: typeURL])
                        let answers = box.machine.withLock { machine in
                            machine.receive(message) { resources in type.flatMap { apply($0, resources) } }
                        }
                        for answer in answers {
                            if let reason = Machine.rejection(in: answer) { log("ads: rejected \(type?.shortName ?? message[keyPath: typeURL]): \(reason)") }
                            continuation.yield(answer)
                        }
                    }
                })
            }
        } catch {
            log("ads: \(error)")
        }
        return received.load(ordering: .relaxed)
    }
}
