// What meshd knows of one resource type on one stream: sent, acknowledged, rejected.

import Foundation
import XDSClient

/// The sync state of one resource type for one proxy, as `/debug/syncz` shows it.
public struct TypeStatus: Sendable, Equatable, Codable {
    /// The version of the last response sent, and its nonce.
    public var sentVersion: String?
    public var sentNonce: String?
    public var sentAt: Date?
    /// Resources in the last response (delta: changed resources only).
    public var sentResources: Int = 0
    /// The last version the proxy acknowledged.
    public var ackedVersion: String?
    public var ackedAt: Date?
    /// Envoy's message from the last NACK, cleared by a later ACK.
    public var nackMessage: String?
    public var nackVersion: String?

    public init() {}

    /// SYNCED when the last response is acknowledged; NACKED when it was rejected; STALE while
    /// it is in flight; NOT SENT before anything was sent.
    public var state: String {
        guard let sentVersion else { return "NOT SENT" }
        if nackMessage != nil { return "NACKED" }
        return ackedVersion == sentVersion ? "SYNCED" : "STALE"
    }
}
