// A worker's open client connections, each with the listener and filter chain that accepted it, so that an update can drain the ones whose chain it removed.

import NIOCore
import ProxyConfig

/// Sent down a client connection's pipeline when the listener or filter chain that accepted it
/// has changed or gone: the network filter finishes what is in flight and closes (HTTP/1.1:
/// `connection: close` on the response under way, an idle connection at once; HTTP/2: GOAWAY,
/// then close when its streams are done). What cannot be told (a TCP proxy, a WebSocket tunnel)
/// is closed when the drain time ends, as is anything still open then.
public struct ConnectionDrain: Sendable {
    public init() {}
}

/// The connections a worker accepted and has not seen close. Only the worker's loop touches it.
final class DownstreamConnections {
    private struct Entry {
        let channel: Channel
        let listener: String
        let listenerFingerprint: [UInt8]
        let chainFingerprint: [UInt8]
        var draining = false
    }

    private var open: [ObjectIdentifier: Entry] = [:]

    var count: Int { open.count }

    func add(_ channel: Channel, listener: ListenerConfig, chain: FilterChainConfig) {
        open[ObjectIdentifier(channel)] = Entry(channel: channel, listener: listener.name, listenerFingerprint: listener.fingerprint,
                                                chainFingerprint: chain.fingerprint)
    }

    /// Whether `listener` (as an update left it) still has the listener settings and the chain
    /// these fingerprints were taken from.
    static func serves(_ listener: ListenerConfig?, listenerFingerprint: [UInt8], chainFingerprint: [UInt8]) -> Bool {
        guard let listener else { return false }
        return listener.fingerprint == listenerFingerprint && listener.chainFingerprints.contains(chainFingerprint)
    }

    func remove(_ channel: Channel) {
        open[ObjectIdentifier(channel)] = nil
    }

    /// Starts draining every connection whose listener is gone or changed, or whose filter chain
    /// the listener no longer has (`listeners` nil: all of them), and returns them.
    func drain(keeping listeners: [String: ListenerConfig]?) -> [Channel] {
        var drained: [Channel] = []
        for (key, entry) in open where !entry.draining {
            if let listeners, Self.serves(listeners[entry.listener], listenerFingerprint: entry.listenerFingerprint,
                                          chainFingerprint: entry.chainFingerprint) {
                continue
            }
            open[key]?.draining = true
            drained.append(entry.channel)
        }
        for channel in drained { channel.pipeline.fireUserInboundEventTriggered(ConnectionDrain()) }
        return drained
    }
}
