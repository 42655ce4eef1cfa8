// The resource kinds SwiftMesh reads, with the API groups and versions Istio serves them under.

/// A kind of Istio resource.
public enum ResourceKind: String, CaseIterable, Sendable, Codable, Hashable {
    case virtualService = "VirtualService"
    case destinationRule = "DestinationRule"
    case gateway = "Gateway"
    case serviceEntry = "ServiceEntry"
    case workloadEntry = "WorkloadEntry"
    case workloadGroup = "WorkloadGroup"
    case sidecar = "Sidecar"
    case peerAuthentication = "PeerAuthentication"
    case requestAuthentication = "RequestAuthentication"
    case authorizationPolicy = "AuthorizationPolicy"
    case telemetry = "Telemetry"

    public var group: String {
        switch self {
        case .virtualService, .destinationRule, .gateway, .serviceEntry, .workloadEntry, .workloadGroup, .sidecar:
            return "networking.istio.io"
        case .peerAuthentication, .requestAuthentication, .authorizationPolicy:
            return "security.istio.io"
        case .telemetry:
            return "telemetry.istio.io"
        }
    }

    /// Versions accepted, newest first.
    public var versions: [String] {
        switch group {
        case "networking.istio.io": return ["v1", "v1beta1", "v1alpha3"]
        case "security.istio.io": return ["v1", "v1beta1"]
        default: return ["v1", "v1alpha1"]
        }
    }

    /// The apiVersion written when SwiftMesh produces a resource.
    public var preferredAPIVersion: String { "\(group)/\(versions[0])" }

    public static let groups: Set<String> = Set(allCases.map(\.group))

    /// Istio's API groups, including those of kinds SwiftMesh does not read (WasmPlugin).
    public static let istioGroups: Set<String> = groups.union(["extensions.istio.io"])
}
