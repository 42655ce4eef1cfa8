// Outbound listeners of a sidecar: per Sidecar egress entry (or Istio's default `*/*`), HTTP, TLS or TCP.

import EnvoyAPI
import MeshAPI
import MeshModel
import SwiftProtobuf

/// Where a sidecar accepts its app's outbound traffic. An egress entry with a port is one
/// listener on its `bind` (default: the instance address); one without a port is a listener per
/// port of the services it imports, skipping address and port pairs already taken by inbound
/// listeners. In REDIRECT mode the listeners are `0.0.0.0_<port>` and do not bind: the
/// virtualOutbound listener hands them the captured connections.
struct SidecarOutboundListenerGenerator {
    let proxy: MeshProxy
    let scope: SidecarScope
    let virtualServices: VirtualServiceIndex

    /// One outbound listener to build.
    struct Plan {
        var bind: String
        var port: UInt32
        var protocolKind: ListenerProtocol
        var services: [MeshService]
    }

    struct Output {
        var listeners: [Envoy_Config_Listener_V3_Listener] = []
        /// The services each HTTP route configuration (named by port) has virtual hosts for.
        var httpServices: [UInt32: [MeshService]] = [:]
    }

    /// `taken` holds `address:port` pairs inbound listeners bind already.
    func plans(taken: Set<String>) -> [Plan] {
        var taken = taken
        var plans: [Plan] = []
        for listener in scope.egressListeners {
            let imported = scope.services(importedBy: listener)
            let bind = proxy.interceptionMode == .redirect ? "0.0.0.0" : (listener.bind.flatMap { $0.isEmpty ? nil : $0 } ?? proxy.address)
            // Port 0 with a unix:// bind is a Unix socket listener, which this generator does not build.
            if bind.hasPrefix("unix://") { continue }
            if let number = listener.port?.number, number != 0 {
                let services = imported.filter { $0.ports.contains { $0.number == number } }
                if taken.insert("\(bind):\(number)").inserted {
                    plans.append(Plan(bind: bind, port: number, protocolKind: ListenerProtocol(protocolName: listener.port?.protocolName), services: services))
                }
                continue
            }
            let numbers = Set(imported.flatMap { $0.ports.map(\.number) }).sorted()
            for number in numbers {
                let kinds = imported.map { service in service.ports.filter { $0.number == number }.map { ListenerProtocol(protocolName: $0.protocolName) } }
                // HTTP wins a port that services share with other protocols; then TLS.
                let kind: ListenerProtocol = kinds.joined().contains(.http) ? .http : kinds.joined().contains(.tls) ? .tls : .tcp
                let services = zip(imported, kinds).filter { $0.1.contains(kind) }.map(\.0)
                guard taken.insert("\(bind):\(number)").inserted else { continue }
                plans.append(Plan(bind: bind, port: number, protocolKind: kind, services: services))
            }
        }
        return plans
    }

    func generate(taken: Set<String>, context: (UInt32) -> RouteContext) throws -> Output {
        var output = Output()
        for plan in plans(taken: taken) {
            let name = ListenerAddresses.name(bind: plan.bind, port: plan.port)
            var listener = ListenerAddresses.listener(name: name, bind: plan.bind, port: plan.port, direction: .outbound)
            if proxy.interceptionMode == .redirect { listener.bindToPort = Google_Protobuf_BoolValue(false) }
            let chains = TCPRouteFilterChains(context: context(plan.port))
            switch plan.protocolKind {
            case .http:
                var chain = Envoy_Config_Listener_V3_FilterChain()
                chain.filters = [try HTTPConnectionManagerFactory.filter(statPrefix: "outbound_\(name)", routes: .rds(String(plan.port)))]
                listener.filterChains = [chain]
                var services = output.httpServices[plan.port, default: []]
                for service in plan.services where !services.contains(where: { $0.hostname == service.hostname }) { services.append(service) }
                output.httpServices[plan.port] = services
            case .tls:
                listener.filterChains = try chains.tlsChains(for: plan.services)
                guard !listener.filterChains.isEmpty else { continue }
                listener.listenerFilters = [try ListenerAddresses.tlsInspector()]
            case .tcp:
                guard let filter = try chains.tcpProxy(for: plan.services) else { continue }
                var chain = Envoy_Config_Listener_V3_FilterChain()
                chain.filters = [filter]
                listener.filterChains = [chain]
            }
            output.listeners.append(listener)
        }
        return output
    }
}
