// The agent's current certificate, and everyone waiting to hear when it changes.

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Synchronization

/// Holds the workload's certificate; SDS streams subscribe to changes.
public final class SecretStore: Sendable {
    private struct State {
        var certificate: WorkloadCertificate?
        var generation = 0
        var listeners: [UUID: AsyncStream<Int>.Continuation] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    public var current: (certificate: WorkloadCertificate?, generation: Int) {
        state.withLock { ($0.certificate, $0.generation) }
    }

    public func publish(_ certificate: WorkloadCertificate) {
        let listeners = state.withLock { state -> [AsyncStream<Int>.Continuation] in
            state.certificate = certificate
            state.generation += 1
            return state.listeners.values.map { continuation in
                continuation.yield(state.generation)
                return continuation
            }
        }
        _ = listeners
    }

    /// Generations as they are published, starting with the current one if there is one.
    func changes() -> (AsyncStream<Int>, UUID) {
        let id = UUID()
        let (stream, continuation) = AsyncStream.makeStream(of: Int.self, bufferingPolicy: .bufferingNewest(1))
        state.withLock { state in
            state.listeners[id] = continuation
            if state.certificate != nil { continuation.yield(state.generation) }
        }
        return (stream, id)
    }

    func unsubscribe(_ id: UUID) {
        state.withLock { $0.listeners.removeValue(forKey: id)?.finish() }
    }
}
