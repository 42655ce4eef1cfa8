// A route configuration as the router uses it: virtual hosts found by host, routes matched in order.

import EnvoyAPI

/// Route tables, virtual hosts, routes and forward actions are classes with constant fields: the
/// router hands them to every request, and a reference costs one retain where a copy of a struct
/// retains each of its strings and arrays (a third of the proxy's CPU went to that).
public final class RouteTable: Sendable {
    public let name: String
    public let virtualHosts: [VirtualHostConfig]
    /// Exact domains (lowercased) → index into `virtualHosts`.
    private let exactDomains: [String: Int]
    /// `*.suffix` domains, longest suffix first (Envoy prefers the longest wildcard).
    private let suffixDomains: [(suffix: String, index: Int)]
    /// `prefix.*` domains, longest prefix first.
    private let prefixDomains: [(prefix: String, index: Int)]
    private let catchAll: Int?

    public init(proto: Envoy_Config_Route_V3_RouteConfiguration, limits: ConfigLimits, at path: String? = nil) throws {
        let path = path ?? "route_configs[\(proto.name)]"
        var rest = proto
        name = proto.name
        rest.name = ""
        virtualHosts = try proto.virtualHosts.enumerated().map { index, host in
            try VirtualHostConfig(proto: host, limits: limits, at: "\(path).virtual_hosts[\(index)]")
        }
        rest.virtualHosts = []
        // validate_clusters only decides whether a missing cluster fails the whole table; a
        // request to a missing cluster gets 503 either way.
        rest.clearValidateClusters()
        try requireNothingElse(rest, at: path)
        var exactDomains: [String: Int] = [:]
        var suffixDomains: [(suffix: String, index: Int)] = []
        var prefixDomains: [(prefix: String, index: Int)] = []
        var catchAll: Int?
        for (index, host) in virtualHosts.enumerated() {
            for domain in host.domains {
                let domain = domain.lowercased()
                let domainPath = "\(path).virtual_hosts[\(index)].domains"
                if domain == "*" {
                    guard catchAll == nil else { throw ProxyConfigError(domainPath, "only one virtual host may have domain \"*\"") }
                    catchAll = index
                } else if domain.hasPrefix("*") {
                    suffixDomains.append((String(domain.dropFirst()), index))
                } else if domain.hasSuffix("*") {
                    prefixDomains.append((String(domain.dropLast()), index))
                } else {
                    guard exactDomains[domain] == nil else {
                        throw ProxyConfigError(domainPath, "domain \"\(domain)\" is in two virtual hosts")
                    }
                    exactDomains[domain] = index
                }
            }
        }
        self.exactDomains = exactDomains
        self.suffixDomains = suffixDomains.sorted { $0.suffix.count > $1.suffix.count }
        self.prefixDomains = prefixDomains.sorted { $0.prefix.count > $1.prefix.count }
        self.catchAll = catchAll
    }

    /// The virtual host for a request's host (already lowercased): exact, then the longest
    /// suffix wildcard, then the longest prefix wildcard, then `*`.
    public func virtualHost(for host: String) -> VirtualHostConfig? {
        if let index = exactDomains[host] { return virtualHosts[index] }
        for entry in suffixDomains where host.hasSuffix(entry.suffix) && host.count > entry.suffix.count {
            return virtualHosts[entry.index]
        }
        for entry in prefixDomains where host.hasPrefix(entry.prefix) && host.count > entry.prefix.count {
            return virtualHosts[entry.index]
        }
        return catchAll.map { virtualHosts[$0] }
    }
}

public final class VirtualHostConfig: Sendable {
    public enum TLSRequirement: Sendable { case none, externalOnly, all }

    public let name: String
    public let domains: [String]
    public let routes: [RouteConfig]
    public let requireTLS: TLSRequirement

    init(proto: Envoy_Config_Route_V3_VirtualHost, limits: ConfigLimits, at path: String) throws {
        var rest = proto
        name = proto.name
        domains = proto.domains
        rest.name = ""
        rest.domains = []
        routes = try proto.routes.enumerated().map { index, route in
            try RouteConfig(proto: route, limits: limits, at: "\(path).routes[\(index)]")
        }
        rest.routes = []
        switch proto.requireTls {
        case .none: requireTLS = .none
        case .externalOnly: requireTLS = .externalOnly
        case .all: requireTLS = .all
        case .UNRECOGNIZED(let value): throw ProxyConfigError(path + ".require_tls", "unknown value \(value)")
        }
        rest.requireTls = .none
        try requireNothingElse(rest, at: path)
    }

    /// The first route whose match accepts the request.
    public func route(for request: RouteMatch.Request) -> RouteConfig? {
        routes.first { $0.match.matches(request) }
    }
}

public final class RouteConfig: Sendable {
    public let name: String
    public let match: RouteMatch
    public let action: RouteAction
    public let requestHeadersToAdd: [HeaderToAdd]
    public let requestHeadersToRemove: [String]
    public let responseHeadersToAdd: [HeaderToAdd]
    public let responseHeadersToRemove: [String]
    public let fault: FaultPolicy?
    public let cors: CorsPolicy?
    /// The decorator's operation: the name of the spans this route's requests make.
    public let operation: String?
    /// Whether an outbound proxy passes `operation` on in `x-envoy-decorator-operation`.
    public let propagatesOperation: Bool

    init(proto: Envoy_Config_Route_V3_Route, limits: ConfigLimits, at path: String) throws {
        var rest = proto
        name = proto.name
        rest.name = ""
        match = try RouteMatch(proto: proto.match, limits: limits, at: path + ".match")
        rest.clearMatch()
        switch proto.action {
        case .route(let action)?:
            self.action = .forward(try ForwardAction(proto: action, limits: limits, at: path + ".route"))
        case .redirect(let redirect)?:
            self.action = .redirect(try RedirectAction(proto: redirect, at: path + ".redirect"))
        case .directResponse(let direct)?:
            self.action = .direct(try DirectResponse(proto: direct, at: path + ".direct_response"))
        case .filterAction?, .nonForwardingAction?, nil:
            throw ProxyConfigError(path, "needs route, redirect or direct_response")
        }
        rest.action = nil
        requestHeadersToAdd = try HeaderToAdd.list(proto.requestHeadersToAdd, at: path + ".request_headers_to_add")
        requestHeadersToRemove = proto.requestHeadersToRemove.map { $0.lowercased() }
        responseHeadersToAdd = try HeaderToAdd.list(proto.responseHeadersToAdd, at: path + ".response_headers_to_add")
        responseHeadersToRemove = proto.responseHeadersToRemove.map { $0.lowercased() }
        rest.requestHeadersToAdd = []
        rest.requestHeadersToRemove = []
        rest.responseHeadersToAdd = []
        rest.responseHeadersToRemove = []
        var fault: FaultPolicy?
        var cors: CorsPolicy?
        for (filter, config) in proto.typedPerFilterConfig.sorted(by: { $0.key < $1.key }) {
            let filterPath = "\(path).typed_per_filter_config[\(filter)]"
            switch filter {
            case "envoy.filters.http.fault":
                fault = try FaultPolicy(proto: try unpack(config, as: Envoy_Extensions_Filters_Http_Fault_V3_HTTPFault.self, at: filterPath), at: filterPath)
            case "envoy.filters.http.cors":
                cors = try CorsPolicy(proto: try unpack(config, as: Envoy_Extensions_Filters_Http_Cors_V3_CorsPolicy.self, at: filterPath), limits: limits, at: filterPath)
            default:
                throw ProxyConfigError(filterPath, "per-route config for \(filter) is not supported by meshproxy")
            }
        }
        self.fault = fault
        self.cors = cors
        rest.typedPerFilterConfig = [:]
        operation = proto.hasDecorator && !proto.decorator.operation.isEmpty ? proto.decorator.operation : nil
        propagatesOperation = !proto.decorator.hasPropagate || proto.decorator.propagate.value
        rest.clearDecorator()
        // Metadata names the route for stats; it does not change routing.
        rest.clearMetadata()
        try requireNothingElse(rest, at: path)
    }
}

/// A header a route adds, with Envoy's append semantics.
public struct HeaderToAdd: Sendable {
    public enum Mode: Sendable { case append, addIfAbsent, overwrite, overwriteIfExists }
    public var name: String
    public var value: String
    public var mode: Mode

    static func list(_ options: [Envoy_Config_Core_V3_HeaderValueOption], at path: String) throws -> [HeaderToAdd] {
        try options.enumerated().map { index, option in
            var rest = option
            rest.clearHeader()
            rest.appendAction = .appendIfExistsOrAdd
            rest.clearAppend()
            try requireNothingElse(rest, at: "\(path)[\(index)]")
            guard !option.header.key.isEmpty else { throw ProxyConfigError("\(path)[\(index)].header.key", "is empty") }
            try HeaderText.requireName(option.header.key, at: "\(path)[\(index)].header.key")
            try HeaderText.requireValue(option.header.value, at: "\(path)[\(index)].header.value")
            let mode: Mode
            if option.hasAppend {
                mode = option.append.value ? .append : .overwrite
            } else {
                switch option.appendAction {
                case .appendIfExistsOrAdd: mode = .append
                case .addIfAbsent: mode = .addIfAbsent
                case .overwriteIfExistsOrAdd: mode = .overwrite
                case .overwriteIfExists: mode = .overwriteIfExists
                case .UNRECOGNIZED(let value): throw ProxyConfigError("\(path)[\(index)].append_action", "unknown value \(value)")
                }
            }
            return HeaderToAdd(name: option.header.key.lowercased(), value: option.header.value, mode: mode)
        }
    }
}
