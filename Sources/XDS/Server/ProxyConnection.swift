// One connected proxy as the server and the debug API see it.

import ConfigGen
import Foundation
import MeshModel
import Synchronization
import XDSClient

/// A proxy's stream: who it is, what was generated for it, and the sync state per type. The
/// stream's task writes; the debug API and the server read copies.
public final class ProxyConnection: Sendable {
    /// The state a reader gets, copied under the lock.
    public struct State: Sendable {
        public var protocolName: String
        public var connectedAt: Date
        public var types: [ResourceType: TypeStatus] = [:]
        /// What was last generated for the proxy (what its responses hold), serialized: the
        /// same storage the stream sends from, so keeping it costs nothing more.
        public var resources = ResourceSet()
        /// The snapshot version the last generation used.
        public var snapshotVersion: UInt64 = 0
        /// The last generation failure, if the proxy is being served older config.
        public var generationError: String?
        public var nacks: Int = 0
    }

    public let id: UInt64
    public let identity: ProxyIdentity
    private let state: Mutex<State>
    /// New snapshots (with their shared generation state) for the stream's task.
    let snapshots: AsyncStream<PublishedSnapshot>
    let snapshotContinuation: AsyncStream<PublishedSnapshot>.Continuation

    init(id: UInt64, identity: ProxyIdentity, protocolName: String) {
        self.id = id
        self.identity = identity
        self.state = Mutex(State(protocolName: protocolName, connectedAt: Date()))
        // Only the newest snapshot matters; older ones waiting are skipped.
        (snapshots, snapshotContinuation) = AsyncStream.makeStream(of: PublishedSnapshot.self, bufferingPolicy: .bufferingNewest(1))
    }

    public var current: State { state.withLock { $0 } }

    func update(_ body: (inout State) -> Void) {
        state.withLock { body(&$0) }
    }
}
