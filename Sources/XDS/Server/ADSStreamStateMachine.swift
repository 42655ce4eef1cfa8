// What the ADS service needs of a protocol's per-stream state machine, so one loop serves both.

import EnvoyAPI
import SwiftProtobuf
import XDSClient

/// A discovery request of either protocol: the proxy names itself (`node`) and a type.
public protocol ADSRequest: SwiftProtobuf.Message {
    var typeURL: String { get }
    var hasNode: Bool { get }
    var node: Envoy_Config_Core_V3_Node { get }
}

/// A discovery response of either protocol.
public protocol ADSResponse: SwiftProtobuf.Message {
    var typeURL: String { get }
}

extension Envoy_Service_Discovery_V3_DiscoveryRequest: ADSRequest {}
extension Envoy_Service_Discovery_V3_DeltaDiscoveryRequest: ADSRequest {}
extension Envoy_Service_Discovery_V3_DiscoveryResponse: ADSResponse {}
extension Envoy_Service_Discovery_V3_DeltaDiscoveryResponse: ADSResponse {}

/// One stream's protocol state: state-of-the-world (`SotWStreamStateMachine`) or delta
/// (`DeltaStreamStateMachine`). Pure: requests and resource sets in, responses out.
public protocol ADSStreamStateMachine: Sendable {
    associatedtype Request: ADSRequest
    associatedtype Response: ADSResponse

    /// The protocol's name in bootstraps and logs (`GRPC`, `DELTA_GRPC`).
    static var protocolName: String { get }
    /// Per type: what was sent, acknowledged and refused.
    var status: [ResourceType: TypeStatus] { get }
    /// Handles one request; returns what it was and the response it calls for, if any.
    mutating func receive(_ request: Request) -> (SotWStreamStateMachine.RequestKind, Response?)
    /// The responses a new set of resources calls for.
    mutating func update(_ resources: ResourceSet) -> [Response]
}

extension SotWStreamStateMachine: ADSStreamStateMachine {
    public static let protocolName = "GRPC"
}

extension DeltaStreamStateMachine: ADSStreamStateMachine {
    public static let protocolName = "DELTA_GRPC"
}
