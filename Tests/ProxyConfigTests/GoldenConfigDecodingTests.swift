// meshproxy honours what ConfigGen emits: every golden resource decodes, or is refused for a feature of a later slice.

import EnvoyAPI
import Foundation
import ProxyConfig
import SwiftProtobuf
import Testing

enum GoldenResources {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("ConfigGenTests/golden")

    /// Each resource of golden/<case>/<kind>.json, as its message type.
    static func load<M: SwiftProtobuf.Message>(_ kind: String, as type: M.Type) throws -> [(String, M)] {
        EnvoyTypeRegistry.registerAll()
        var out: [(String, M)] = []
        let cases = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        for name in cases {
            let file = directory.appendingPathComponent(name).appendingPathComponent("\(kind).json")
            guard let data = FileManager.default.contents(atPath: file.path),
                  let array = try JSONSerialization.jsonObject(with: data) as? [Any] else { continue }
            for (index, element) in array.enumerated() {
                let json = try JSONSerialization.data(withJSONObject: element)
                out.append(("\(name)/\(kind)[\(index)]", try M(jsonUTF8Data: json)))
            }
        }
        return out
    }
}

@Suite struct GoldenConfigDecodingTests {
    /// Nothing ConfigGen emits is left for a later slice now: any refusal is a gap.
    static func isLaterSlice(_ error: ProxyConfigError) -> Bool {
        false
    }

    static let limits = ConfigLimits(maxRegexProgramSize: 32768)

    /// Decodes every resource; a refusal must name a later slice. Returns what was accepted.
    static func decodeEach<M, Config>(_ resources: [(String, M)], _ decode: (M) throws -> Config) -> [(String, Config)] {
        var accepted: [(String, Config)] = []
        for (where_, proto) in resources {
            do {
                accepted.append((where_, try decode(proto)))
            } catch let error as ProxyConfigError {
                #expect(isLaterSlice(error), "\(where_): \(error)")
            } catch {
                Issue.record("\(where_): \(error)")
            }
        }
        return accepted
    }

    @Test func everyGoldenClusterDecodes() throws {
        let clusters = try GoldenResources.load("clusters", as: Envoy_Config_Cluster_V3_Cluster.self)
        #expect(clusters.count > 40)
        #expect(Self.decodeEach(clusters) { try ClusterConfig(proto: $0, limits: Self.limits) }.count > 30)
        // gRPC and HTTP/2 ports get HTTP/2 upstreams, which meshproxy now speaks.
        let http2 = try clusters.filter { try $0.1.typedExtensionProtocolOptions.values.contains { any in
            let options = try Envoy_Extensions_Upstreams_Http_V3_HttpProtocolOptions(unpackingAny: any)
            if case .http2ProtocolOptions? = options.explicitHTTPConfig.protocolConfig { return true }
            return false
        } }
        #expect(!http2.isEmpty)
        for (where_, config) in Self.decodeEach(http2, { try ClusterConfig(proto: $0, limits: Self.limits) }) {
            #expect(config.upstreamHTTP2, "\(where_)")
        }
    }

    /// Istio's metrics name the service behind a cluster: every inbound cluster of a workload
    /// that serves a service, and every outbound cluster of a mesh service, says which.
    @Test func serviceClustersNameTheirMeshService() throws {
        let clusters = try GoldenResources.load("clusters", as: Envoy_Config_Cluster_V3_Cluster.self)
            .filter { $0.0.hasPrefix("sidecar-embedded/") }
        let decoded = Self.decodeEach(clusters) { try ClusterConfig(proto: $0, limits: Self.limits) }
        let inbound = decoded.filter { $0.1.name.hasPrefix("inbound|") }
        #expect(!inbound.isEmpty)
        for (where_, config) in inbound {
            #expect(config.meshService?.hasSuffix(".default.svc.cluster.local") == true, "\(where_)")
        }
        let outbound = decoded.filter { $0.1.name.hasPrefix("outbound|") }
        #expect(outbound.contains { $0.1.meshService == "reviews.default.svc.cluster.local" })
    }

    @Test func everyGoldenRouteTableDecodes() throws {
        let tables = try GoldenResources.load("routes", as: Envoy_Config_Route_V3_RouteConfiguration.self)
        #expect(!tables.isEmpty)
        for (where_, proto) in tables {
            #expect(throws: Never.self, "\(where_)") { _ = try RouteTable(proto: proto, limits: ConfigLimits(maxRegexProgramSize: 32768)) }
        }
    }

    @Test func everyGoldenEndpointAssignmentDecodes() throws {
        let assignments = try GoldenResources.load("endpoints", as: Envoy_Config_Endpoint_V3_ClusterLoadAssignment.self)
        #expect(!assignments.isEmpty)
        for (where_, proto) in assignments {
            #expect(throws: Never.self, "\(where_)") { _ = try LoadAssignment(proto: proto) }
        }
    }

    @Test func everyGoldenListenerDecodesOrNamesItsSlice() throws {
        let listeners = try GoldenResources.load("listeners", as: Envoy_Config_Listener_V3_Listener.self)
        #expect(Self.decodeEach(listeners) { try ListenerConfig(proto: $0, limits: Self.limits) }.count >= 5)
    }

    /// Istio's mTLS as ConfigGen writes it: inbound chains require a client certificate from the
    /// mesh (SDS `default` and `ROOTCA`), chosen by the TLS inspector; clusters use mTLS to
    /// `tlsMode: istio` endpoints with the servers' SPIFFE IDs checked, plaintext to the rest.
    @Test func mutualTLSDecodesAsIstioMeansIt() throws {
        let listeners = try GoldenResources.load("listeners", as: Envoy_Config_Listener_V3_Listener.self).filter { $0.0.hasPrefix("mtls/") }
        let decoded = try listeners.map { try ListenerConfig(proto: $0.1, limits: Self.limits) }
        let inbound = decoded.filter { $0.filterChains.contains { $0.tls != nil } }
        #expect(!inbound.isEmpty)
        for listener in inbound {
            #expect(listener.inspectsTLS)
            for chain in listener.filterChains where chain.tls != nil {
                let tls = try #require(chain.tls)
                #expect(chain.match.transportProtocol == "tls")
                #expect(tls.role == .server && tls.requireClientCertificate)
                #expect(tls.certificate == .secret("default") && tls.trust == .secret("ROOTCA"))
                #expect(tls.alpn == ["h2", "http/1.1"])
            }
        }
        let clusters = try GoldenResources.load("clusters", as: Envoy_Config_Cluster_V3_Cluster.self).filter { $0.0.hasPrefix("mtls/") }
        let automatic = Self.decodeEach(clusters) { try ClusterConfig(proto: $0, limits: Self.limits) }.map(\.1).filter { !$0.tlsByEndpoint.isEmpty }
        #expect(!automatic.isEmpty)
        for cluster in automatic {
            let istio = try #require(cluster.tls(forEndpointTLSMode: "istio"))
            #expect(istio.role == .client && istio.serverName?.hasPrefix("outbound_.") == true)
            #expect(istio.minimumVersion == .tls12 && istio.maximumVersion == .tls13)
            #expect(!istio.subjectAltNames.isEmpty && istio.subjectAltNames.allSatisfy { $0.kind == .uri })
            #expect(cluster.tls(forEndpointTLSMode: "disabled") == nil)
            #expect(cluster.tls(forEndpointTLSMode: nil) == nil)
        }
    }
}
