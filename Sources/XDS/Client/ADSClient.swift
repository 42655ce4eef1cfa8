// The proxy's ADS stream to meshd: delta xDS, ACK/NACK, reconnection with jittered backoff.

import EnvoyAPI
import EnvoyServices
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Synchronization

/// Keeps a delta ADS stream to the control plane for as long as it runs. Resources go to
/// `apply` one type at a time, whole; whatever `apply` rejects is NACKed with its reason and the
/// previous resources stay in force. When the stream breaks, the proxy keeps serving what it
/// has and reconnects after a jittered, growing delay (100 ms up to 10 s), offering the versions
/// it holds so only changes come back.
public struct ADSClient: Sendable {
    public var host: String
    public var port: Int
    public var node: Envoy_Config_Core_V3_Node
    public var apply: @Sendable (ResourceType, [String: DeltaClientStateMachine.Held]) -> String?
    public var log: @Sendable (String) -> Void

    public init(host: String, port: Int, node: Envoy_Config_Core_V3_Node,
                apply: @escaping @Sendable (ResourceType, [String: DeltaClientStateMachine.Held]) -> String?,
                log: @escaping @Sendable (String) -> Void) {
        self.host = host
        self.port = port
        self.node = node
        self.apply = apply
        self.log = log
    }

    /// The bookkeeping survives reconnections; it is touched only by one stream at a time.
    final class Box: Sendable {
        let machine: Mutex<DeltaClientStateMachine>
        init(_ machine: DeltaClientStateMachine) { self.machine = Mutex(machine) }
    }

    public func run() async {
        let box = Box(DeltaClientStateMachine(node: node))
        var delay: Duration = .milliseconds(100)
        while !Task.isCancelled {
            let received = await stream(box)
            if Task.isCancelled { return }
            if received { delay = .milliseconds(100) }
            // Full jitter: a fleet of proxies does not reconnect in lockstep.
            let wait = Duration.milliseconds(Int64.random(in: 0...max(1, delay.milliseconds)))
            log("ads: stream to \(host):\(port) ended; reconnecting in \(wait.milliseconds) ms")
            do {
                try await Task.sleep(for: wait)
            } catch {
                return  // cancelled: the proxy is stopping
            }
            delay = min(delay * 2, .seconds(10))
        }
    }

    /// One stream; true when it delivered at least one response.
    func stream(_ box: Box) async -> Bool {
        let received = Atomic(false)
        do {
            try await withGRPCClient(transport: try .http2NIOPosix(target: .ipv4(address: host, port: port), transportSecurity: .plaintext)) { client in
                let ads = Envoy_Service_Discovery_V3_AggregatedDiscoveryService.Client(wrapping: client)
                let (outbound, continuation) = AsyncStream.makeStream(of: Envoy_Service_Discovery_V3_DeltaDiscoveryRequest.self)
                for request in box.machine.withLock({ $0.openingRequests() }) { continuation.yield(request) }
                try await ads.deltaAggregatedResources(requestProducer: { writer in
                    for await request in outbound { try await writer.write(request) }
                }, onResponse: { response in
                    defer { continuation.finish() }
                    for try await message in response.messages {
                        received.store(true, ordering: .relaxed)
                        let type = ResourceType(typeURL: message.typeURL)
                        let answers = box.machine.withLock { machine in
                            machine.receive(message) { resources in type.flatMap { apply($0, resources) } }
                        }
                        for answer in answers {
                            if answer.hasErrorDetail { log("ads: rejected \(type?.shortName ?? message.typeURL): \(answer.errorDetail.message)") }
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

extension Duration {
    var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}
