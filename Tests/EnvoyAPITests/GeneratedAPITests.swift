// The generated xDS API round-trips through binary and JSON, `Any` fields included.

import EnvoyAPI
import Foundation
import SwiftProtobuf
import Testing

@Suite struct GeneratedAPITests {
    init() {
        EnvoyTypeRegistry.registerAll()
    }

    /// An EDS cluster that enables HTTP/2 upstream through typed extension protocol options.
    private func cluster() throws -> Envoy_Config_Cluster_V3_Cluster {
        var options = Envoy_Extensions_Upstreams_Http_V3_HttpProtocolOptions()
        options.explicitHTTPConfig.http2ProtocolOptions = Envoy_Config_Core_V3_Http2ProtocolOptions()
        var cluster = Envoy_Config_Cluster_V3_Cluster()
        cluster.name = "outbound|9080|v1|reviews.default.svc.cluster.local"
        cluster.type = .eds
        cluster.connectTimeout = Google_Protobuf_Duration(seconds: 10)
        cluster.edsClusterConfig.edsConfig.ads = Envoy_Config_Core_V3_AggregatedConfigSource()
        cluster.edsClusterConfig.edsConfig.resourceApiVersion = .v3
        cluster.typedExtensionProtocolOptions["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"] = try Google_Protobuf_Any(message: options)
        return cluster
    }

    @Test func binaryRoundTrip() throws {
        let original = try cluster()
        let bytes: Data = try original.serializedBytes()
        let decoded = try Envoy_Config_Cluster_V3_Cluster(serializedBytes: bytes)
        #expect(try decoded.serializedBytes() as Data == bytes)
        let options = try Envoy_Extensions_Upstreams_Http_V3_HttpProtocolOptions(
            unpackingAny: try #require(decoded.typedExtensionProtocolOptions["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]))
        guard case .http2ProtocolOptions? = options.explicitHTTPConfig.protocolConfig else {
            Issue.record("HTTP/2 upstream setting lost")
            return
        }
    }

    @Test func jsonNamesPackedTypes() throws {
        let json = try cluster().jsonString()
        #expect(json.contains("\"@type\":\"type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions\""))
        #expect(json.contains("\"type\":\"EDS\""))
        let decoded = try Envoy_Config_Cluster_V3_Cluster(jsonString: json)
        var options = BinaryEncodingOptions()
        options.useDeterministicOrdering = true
        #expect(try decoded.serializedBytes(options: options) as Data == (try cluster().serializedBytes(options: options) as Data))
    }

    @Test func discoveryResponseCarriesResources() throws {
        var response = Envoy_Service_Discovery_V3_DiscoveryResponse()
        response.typeURL = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
        response.versionInfo = "1"
        response.nonce = "n1"
        response.resources = [try Google_Protobuf_Any(message: try cluster())]
        let decoded = try Envoy_Service_Discovery_V3_DiscoveryResponse(jsonString: try response.jsonString())
        let cluster = try Envoy_Config_Cluster_V3_Cluster(unpackingAny: try #require(decoded.resources.first))
        #expect(cluster.name == "outbound|9080|v1|reviews.default.svc.cluster.local")
    }

    @Test func everyResourceTypeMeshdServesIsRegistered() {
        #expect(EnvoyTypeRegistry.messageTypeCount > 300)
        for url in [
            "type.googleapis.com/envoy.config.listener.v3.Listener",
            "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
            "type.googleapis.com/envoy.config.cluster.v3.Cluster",
            "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
            "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
            "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
            "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault",
            "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
            "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
            "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
            "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate",
            "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
            "type.googleapis.com/envoy.config.trace.v3.ZipkinConfig",
            "type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig",
            "type.googleapis.com/envoy.config.bootstrap.v3.Bootstrap",
        ] {
            #expect(Google_Protobuf_Any.messageType(forTypeURL: url) != nil, "\(url)")
        }
    }

    @Test func istioCertificateRequestRoundTrips() throws {
        var request = Istio_V1_Auth_IstioCertificateRequest()
        request.csr = "-----BEGIN CERTIFICATE REQUEST-----\n...\n-----END CERTIFICATE REQUEST-----\n"
        request.validityDuration = 86_400
        request.metadata.fields["ImpersonatedIdentity"] = Google_Protobuf_Value(stringValue: "spiffe://cluster.local/ns/default/sa/reviews")
        let decoded = try Istio_V1_Auth_IstioCertificateRequest(serializedBytes: try request.serializedBytes() as Data)
        #expect(decoded == request)
        var response = Istio_V1_Auth_IstioCertificateResponse()
        response.certChain = ["leaf", "root"]
        #expect(try Istio_V1_Auth_IstioCertificateResponse(jsonString: try response.jsonString()).certChain == ["leaf", "root"])
    }
}
