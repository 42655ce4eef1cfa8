// A listener as the proxy runs it: where it binds, how it picks a filter chain, what each chain does.

import EnvoyAPI
import SwiftProtobuf

public struct SocketAddressConfig: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    init(proto: Envoy_Config_Core_V3_Address, at path: String) throws {
        guard case .socketAddress(let socket)? = proto.address else {
            throw ProxyConfigError(path, "only socket addresses are supported")
        }
        var rest = socket
        rest.address = ""
        rest.portSpecifier = nil
        rest.protocol = .tcp
        try requireNothingElse(rest, at: path + ".socket_address")
        guard case .portValue(let port)? = socket.portSpecifier, port <= 65535 else {
            throw ProxyConfigError(path + ".socket_address", "needs a port_value from 0 to 65535")
        }
        guard !socket.address.isEmpty else { throw ProxyConfigError(path + ".socket_address.address", "is empty") }
        self.host = socket.address
        self.port = Int(port)
    }

    public var description: String { "\(host):\(port)" }
}

public struct ListenerConfig: Sendable {
    public enum Direction: String, Sendable { case inbound, outbound, unspecified }

    /// What a listener filter inspects before a chain is chosen.
    public enum ListenerFilter: String, Sendable {
        case originalDestination = "envoy.filters.listener.original_dst"
        /// Reads a TLS ClientHello's server name and ALPN (and tells TLS from plaintext) before
        /// the chain is chosen.
        case tlsInspector = "envoy.filters.listener.tls_inspector"
    }

    public var name: String
    public var address: SocketAddressConfig
    /// False for listeners that only receive connections handed over by a virtual listener.
    public var bindToPort: Bool
    /// Hand each connection to the listener bound to its original destination (iptables capture).
    public var useOriginalDestination: Bool
    public var direction: Direction
    public var listenerFilters: [ListenerFilter]
    /// The listener has a tls_inspector: chains are chosen by transport protocol, SNI and ALPN.
    public var inspectsTLS: Bool
    /// Connections arrive redirected by iptables: their original destination is read back and
    /// stands for the local address (chain matching, ORIGINAL_DST clusters, access logs).
    /// `use_original_dst` implies it, as in Envoy.
    public var restoresOriginalDestination: Bool { useOriginalDestination || listenerFilters.contains(.originalDestination) }
    public var filterChains: [FilterChainConfig]
    public var defaultFilterChain: FilterChainConfig?
    /// The listener's own `access_log`: written for a connection that no filter chain takes
    /// (Envoy logs it with flag NR and details `filter_chain_not_found`).
    public var accessLogs: [AccessLogConfig]
    /// The listener's own settings (all but its filter chains) as deterministic protobuf bytes:
    /// when they change the listener is replaced and every connection it accepted drains.
    public var fingerprint: [UInt8]
    /// Fingerprints of its filter chains, the default one included: a connection whose chain is
    /// still here after an update keeps going (Envoy's in-place filter chain update).
    public var chainFingerprints: Set<[UInt8]>

    public init(proto: Envoy_Config_Listener_V3_Listener, limits: ConfigLimits) throws {
        let path = "listeners[\(proto.name)]"
        var rest = proto
        name = proto.name
        address = try SocketAddressConfig(proto: proto.address, at: path + ".address")
        rest.clearAddress()
        bindToPort = proto.hasBindToPort ? proto.bindToPort.value : true
        rest.clearBindToPort()
        useOriginalDestination = proto.hasUseOriginalDst ? proto.useOriginalDst.value : false
        rest.clearUseOriginalDst()
        switch proto.trafficDirection {
        case .inbound: direction = .inbound
        case .outbound: direction = .outbound
        default: direction = .unspecified
        }
        rest.trafficDirection = .unspecified
        listenerFilters = try proto.listenerFilters.enumerated().map { index, filter in
            guard let known = ListenerFilter(rawValue: filter.name) else {
                throw ProxyConfigError("\(path).listener_filters[\(index)]", "listener filter \(filter.name) is not supported by meshproxy yet")
            }
            return known
        }
        rest.listenerFilters = []
        accessLogs = try AccessLogConfig.list(proto.accessLog, limits: limits, at: path)
        rest.accessLog = []
        inspectsTLS = listenerFilters.contains(.tlsInspector)
        let direction = direction
        filterChains = try proto.filterChains.enumerated().map { index, chain in
            try FilterChainConfig(proto: chain, direction: direction, limits: limits, at: "\(path).filter_chains[\(index)]")
        }
        rest.filterChains = []
        defaultFilterChain = proto.hasDefaultFilterChain
            ? try FilterChainConfig(proto: proto.defaultFilterChain, direction: direction, limits: limits, at: path + ".default_filter_chain") : nil
        var frame = proto
        frame.filterChains = []
        frame.clearDefaultFilterChain()
        fingerprint = try configFingerprint(frame, at: path)
        chainFingerprints = Set((filterChains + [defaultFilterChain].compactMap { $0 }).map(\.fingerprint))
        rest.clearDefaultFilterChain()
        rest.name = ""
        // Accepted with no effect on behaviour here: drain and stats options the proxy applies its own way.
        rest.clearPerConnectionBufferLimitBytes()
        rest.continueOnListenerFiltersTimeout = false
        rest.clearListenerFiltersTimeout()
        try requireNothingElse(rest, at: path)
        guard !filterChains.isEmpty || defaultFilterChain != nil else {
            throw ProxyConfigError(path, "has no filter chain")
        }
    }

    /// Envoy's filter chain selection: destination port, then server name, then transport
    /// protocol, then application protocol; at each step an exact match beats an unset field.
    public func filterChain(destinationPort: Int, serverName: String?, transportProtocol: String,
                            applicationProtocols: [String]) -> FilterChainConfig? {
        var candidates = filterChains
        candidates = narrow(candidates) { chain in
            chain.match.destinationPort.map { $0 == destinationPort ? 2 : 0 } ?? 1
        }
        candidates = narrow(candidates) { chain in
            if chain.match.serverNames.isEmpty { return 1 }
            guard let serverName else { return 0 }
            if chain.match.serverNames.contains(serverName) { return 3 }
            return chain.match.serverNames.contains { $0.hasPrefix("*.") && serverName.hasSuffix($0.dropFirst()) } ? 2 : 0
        }
        candidates = narrow(candidates) { chain in
            chain.match.transportProtocol.map { $0 == transportProtocol ? 2 : 0 } ?? 1
        }
        candidates = narrow(candidates) { chain in
            if chain.match.applicationProtocols.isEmpty { return 1 }
            return chain.match.applicationProtocols.contains(where: applicationProtocols.contains) ? 2 : 0
        }
        return candidates.first ?? defaultFilterChain
    }

    /// Keeps the chains with the best positive score.
    private func narrow(_ chains: [FilterChainConfig], score: (FilterChainConfig) -> Int) -> [FilterChainConfig] {
        let scored = chains.map { ($0, score($0)) }
        guard let best = scored.map(\.1).max(), best > 0 else { return [] }
        return scored.filter { $0.1 == best }.map(\.0)
    }
}

public struct FilterChainMatch: Sendable {
    public var destinationPort: Int?
    public var serverNames: [String]
    public var transportProtocol: String?
    public var applicationProtocols: [String]
}

public struct FilterChainConfig: Sendable {
    public enum NetworkFilter: Sendable {
        case http(HTTPConnectionManagerConfig)
        case tcp(TCPProxyConfig)
    }

    public var name: String
    public var match: FilterChainMatch
    public var network: NetworkFilter
    /// The chain's transport socket: TLS terminated here, or nil for plaintext.
    public var tls: TLSContextConfig?
    /// The chain as deterministic protobuf bytes, to tell after an update whether it changed.
    public var fingerprint: [UInt8]

    init(proto: Envoy_Config_Listener_V3_FilterChain, direction: ListenerConfig.Direction, limits: ConfigLimits, at path: String) throws {
        var rest = proto
        name = proto.name
        fingerprint = try configFingerprint(proto, at: path)
        rest.name = ""
        var matchRest = proto.filterChainMatch
        match = FilterChainMatch(
            destinationPort: proto.filterChainMatch.hasDestinationPort ? Int(proto.filterChainMatch.destinationPort.value) : nil,
            serverNames: proto.filterChainMatch.serverNames,
            transportProtocol: proto.filterChainMatch.transportProtocol.isEmpty ? nil : proto.filterChainMatch.transportProtocol,
            applicationProtocols: proto.filterChainMatch.applicationProtocols)
        matchRest.clearDestinationPort()
        matchRest.serverNames = []
        matchRest.transportProtocol = ""
        matchRest.applicationProtocols = []
        try requireNothingElse(matchRest, at: path + ".filter_chain_match")
        rest.clearFilterChainMatch()
        tls = proto.hasTransportSocket
            ? try TLSContextConfig.transportSocket(proto.transportSocket, role: .server, limits: limits, at: path + ".transport_socket") : nil
        rest.clearTransportSocket()
        let metrics = try IstioMetricsSettings.parse(proto.metadata, direction: direction, at: path)
        rest.clearMetadata()
        guard let last = proto.filters.last else { throw ProxyConfigError(path + ".filters", "is empty") }
        // In front of the terminal filter: Istio's metadata exchange, before a TCP proxy only.
        var exchange: MetadataExchangeConfig?
        for (index, filter) in proto.filters.dropLast().enumerated() {
            let filterPath = "\(path).filters[\(index)]"
            guard filter.name == MetadataExchangeConfig.filterName, exchange == nil, last.name == "envoy.filters.network.tcp_proxy" else {
                throw ProxyConfigError(filterPath, "\(filter.name): meshproxy supports one terminal network filter, with \(MetadataExchangeConfig.filterName) only in front of a tcp_proxy")
            }
            guard tls != nil else {
                throw ProxyConfigError(filterPath, "the exchange needs TLS to negotiate its ALPN, and the chain has no transport socket")
            }
            exchange = try MetadataExchangeConfig(typedConfig: filter.typedConfig, at: filterPath)
        }
        let filterPath = "\(path).filters[\(proto.filters.count - 1)]"
        switch last.name {
        case "envoy.filters.network.http_connection_manager":
            let manager = try unpack(last.typedConfig, as: Envoy_Extensions_Filters_Network_HttpConnectionManager_V3_HttpConnectionManager.self,
                                     at: filterPath + ".typed_config")
            network = .http(try HTTPConnectionManagerConfig(proto: manager, istioMetrics: metrics, direction: direction, limits: limits,
                                                            at: filterPath + ".typed_config"))
        case "envoy.filters.network.tcp_proxy":
            let proxy = try unpack(last.typedConfig, as: Envoy_Extensions_Filters_Network_TcpProxy_V3_TcpProxy.self,
                                   at: filterPath + ".typed_config")
            var config = try TCPProxyConfig(proto: proxy, istioMetrics: metrics, limits: limits, at: filterPath + ".typed_config")
            config.metadataExchange = exchange
            network = .tcp(config)
        default:
            throw ProxyConfigError(filterPath, "network filter \(last.name) is not supported by meshproxy")
        }
        rest.filters = []
        try requireNothingElse(rest, at: path)
    }
}
