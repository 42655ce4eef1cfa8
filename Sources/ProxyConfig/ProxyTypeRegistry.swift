// The message types meshproxy registers for google.protobuf.Any.

import EnvoyAPI
import SwiftProtobuf

/// Registers, for `Any` in JSON, only the types meshproxy reads or hands back (bootstrap,
/// config dump). Registering all of the generated API instantiates the metadata of ~360
/// message types and was measured at ~5 MB of resident memory per proxy; the full registry is
/// loaded only when an error message needs to name fields of a type outside this list.
public enum ProxyTypeRegistry {
    /// Safe to call any number of times, from any thread.
    public static func registerUnderstood() {
        _ = registration
    }

    private static let registration: Bool = {
        let types: [any SwiftProtobuf.Message.Type] = [
            Envoy_Config_Listener_V3_Listener.self,
            Envoy_Config_Cluster_V3_Cluster.self,
            Envoy_Config_Route_V3_RouteConfiguration.self,
            Envoy_Config_Endpoint_V3_ClusterLoadAssignment.self,
            Envoy_Extensions_Filters_Network_HttpConnectionManager_V3_HttpConnectionManager.self,
            Envoy_Extensions_Filters_Network_TcpProxy_V3_TcpProxy.self,
            Envoy_Extensions_Filters_Http_Router_V3_Router.self,
            Envoy_Extensions_AccessLoggers_File_V3_FileAccessLog.self,
            Envoy_Extensions_AccessLoggers_Stream_V3_StdoutAccessLog.self,
            Envoy_Extensions_AccessLoggers_Stream_V3_StderrAccessLog.self,
            Envoy_Extensions_Filters_Http_Fault_V3_HTTPFault.self,
            Envoy_Extensions_Filters_Http_Cors_V3_Cors.self,
            Envoy_Extensions_Filters_Http_Cors_V3_CorsPolicy.self,
            Envoy_Extensions_Filters_Listener_OriginalDst_V3_OriginalDst.self,
            Envoy_Extensions_Filters_Listener_TlsInspector_V3_TlsInspector.self,
            Envoy_Extensions_Retry_Host_PreviousHosts_V3_PreviousHostsPredicate.self,
            Envoy_Extensions_Retry_Priority_PreviousPriorities_V3_PreviousPrioritiesConfig.self,
            Envoy_Extensions_TransportSockets_RawBuffer_V3_RawBuffer.self,
            Envoy_Extensions_TransportSockets_Tls_V3_DownstreamTlsContext.self,
            Envoy_Extensions_TransportSockets_Tls_V3_UpstreamTlsContext.self,
            Envoy_Extensions_Upstreams_Http_V3_HttpProtocolOptions.self,
            Envoy_Config_Trace_V3_ZipkinConfig.self,
            Envoy_Tcp_Metadataexchange_Config_MetadataExchange.self,
            Envoy_Config_Trace_V3_OpenTelemetryConfig.self,
        ]
        for type in types {
            _ = Google_Protobuf_Any.register(messageType: type)
        }
        return true
    }()
}
