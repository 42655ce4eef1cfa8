// Listener names and socket addresses: Istio's `<bind>_<port>` naming.

import EnvoyAPI
import SwiftProtobuf

enum ListenerAddresses {
    /// `127.0.1.4_9080`, `0.0.0.0_8080`: the bind address and port, as Istio names listeners.
    static func name(bind: String, port: UInt32) -> String { "\(bind)_\(port)" }

    static func listener(name: String, bind: String, port: UInt32, direction: Envoy_Config_Core_V3_TrafficDirection) -> Envoy_Config_Listener_V3_Listener {
        var listener = Envoy_Config_Listener_V3_Listener()
        listener.name = name
        listener.address = BootstrapGenerator.socketAddress(bind, port)
        listener.trafficDirection = direction
        return listener
    }

    static func tlsInspector() throws -> Envoy_Config_Listener_V3_ListenerFilter {
        var filter = Envoy_Config_Listener_V3_ListenerFilter()
        filter.name = "envoy.filters.listener.tls_inspector"
        filter.typedConfig = try Google_Protobuf_Any(message: Envoy_Extensions_Filters_Listener_TlsInspector_V3_TlsInspector())
        return filter
    }
}
