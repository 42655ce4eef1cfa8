// The listener around a test's filter chains: a name, an address and the chains.

import EnvoyAPI

extension Envoy_Config_Listener_V3_Listener {
    static func test(_ name: String, address: String, port: UInt32, chains: [Envoy_Config_Listener_V3_FilterChain]) -> Self {
        var listener = Self()
        listener.name = name
        listener.address.socketAddress.address = address
        listener.address.socketAddress.portValue = port
        listener.filterChains = chains
        return listener
    }
}
