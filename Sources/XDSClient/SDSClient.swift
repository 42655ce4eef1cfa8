// The proxy's SDS stream to a workload agent (Istio's pilot-agent, `meshproxy agent`): secrets by name, ACK/NACK, reconnection.

import EnvoyAPI
import EnvoyServices
import GRPCCore
import GRPCNIOTransportHTTP2
import Synchronization

/// Keeps a state-of-the-world SDS stream (`StreamSecrets`) to the agent named by the bootstrap's
/// `sds-grpc` cluster, asking for the secrets the proxy's config refers to as that set changes.
/// Secrets go to `apply` (nil: accepted; else the NACK reason, and the ones held stay). When the
/// stream breaks the proxy keeps the secrets it has and reconnects after a jittered, growing delay
/// (100 ms up to 10 s), as the ADS client does.
public struct SDSClient: Sendable {
    public enum Address: Sendable, Equatable, CustomStringConvertible {
        case unix(path: String)
        case tcp(host: String, port: Int)

        public var description: String {
            switch self {
            case .unix(let path): "unix:\(path)"
            case .tcp(let host, let port): "\(host):\(port)"
            }
        }
    }

    public var address: Address
    public var node: Envoy_Config_Core_V3_Node
    /// Every set of secret names the config refers to, latest last.
    public var names: AsyncStream<Set<String>>
    public var apply: @Sendable ([String: Envoy_Extensions_TransportSockets_Tls_V3_Secret]) -> String?
    public var log: @Sendable (String) -> Void

    public init(address: Address, node: Envoy_Config_Core_V3_Node, names: AsyncStream<Set<String>>,
                apply: @escaping @Sendable ([String: Envoy_Extensions_TransportSockets_Tls_V3_Secret]) -> String?,
                log: @escaping @Sendable (String) -> Void) {
        self.address = address
        self.node = node
        self.names = names
        self.apply = apply
        self.log = log
    }

    /// What the stream's two halves and the names watcher share.
    final class Shared: Sendable {
        let machine: Mutex<SDSClientStateMachine>
        /// The current stream's outbound requests; nil between streams.
        let outbound = Mutex<AsyncStream<Envoy_Service_Discovery_V3_DiscoveryRequest>.Continuation?>(nil)
        init(_ machine: SDSClientStateMachine) { self.machine = Mutex(machine) }
    }

    /// Streams until cancelled.
    public func run() async {
        let shared = Shared(SDSClientStateMachine(node: node))
        await withTaskGroup(of: Void.self) { group in
            // Name changes go out on the stream that is open; the next stream opens with them.
            group.addTask { [names] in
                for await wanted in names {
                    shared.outbound.withLock { outbound in
                        if let request = shared.machine.withLock({ $0.want(wanted) }) { outbound?.yield(request) }
                    }
                }
            }
            group.addTask { await self.reconnecting(shared) }
            await group.next()
            group.cancelAll()
        }
    }

    private func reconnecting(_ shared: Shared) async {
        await Reconnection.run(ended: { "sds: stream to \(address) ended; reconnecting in \($0.milliseconds) ms" }, log: log) {
            await stream(shared)
        }
    }

    /// One stream; true when it delivered at least one response.
    private func stream(_ shared: Shared) async -> Bool {
        let received = Atomic(false)
        do {
            let target: any ResolvableTarget = switch address {
            case .unix(let path): .unixDomainSocket(path: path)
            case .tcp(let host, let port): .dns(host: host, port: port)
            }
            try await withGRPCClient(transport: try .http2NIOPosix(target: target, transportSecurity: .plaintext)) { client in
                let sds = Envoy_Service_Secret_V3_SecretDiscoveryService.Client(wrapping: client)
                let (outbound, continuation) = AsyncStream.makeStream(of: Envoy_Service_Discovery_V3_DiscoveryRequest.self)
                shared.outbound.withLock { current in
                    current = continuation
                    if let opening = shared.machine.withLock({ $0.openingRequest() }) { continuation.yield(opening) }
                }
                defer { shared.outbound.withLock { $0 = nil } }
                try await sds.streamSecrets(requestProducer: { writer in
                    for await request in outbound { try await writer.write(request) }
                }, onResponse: { response in
                    defer { continuation.finish() }
                    for try await message in response.messages {
                        received.store(true, ordering: .relaxed)
                        shared.outbound.withLock { outbound in
                            let answer = shared.machine.withLock { $0.receive(message, apply: apply) }
                            if answer.hasErrorDetail { log("sds: rejected secrets version \(message.versionInfo): \(answer.errorDetail.message)") }
                            outbound?.yield(answer)
                        }
                    }
                })
            }
        } catch {
            log("sds: \(error)")
        }
        return received.load(ordering: .relaxed)
    }
}
