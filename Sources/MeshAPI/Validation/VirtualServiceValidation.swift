// VirtualService rules: hosts, gateways, HTTP/TLS/TCP routes and everything a route can do.

import Foundation
extension ValidationContext {
    static let retryOnPolicies: Set<String> = [
        "5xx", "gateway-error", "reset", "reset-before-request", "connect-failure", "retriable-4xx",
        "refused-stream", "retriable-status-codes", "retriable-headers", "envoy-ratelimited",
        "http3-post-connect-failure", "cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable",
    ]

    static let grpcStatusNames: Set<String> = [
        "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
        "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
        "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
    ]

    static let corsMethods: Set<String> = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE", "*"]

    mutating func validate(_ service: VirtualService) {
        let hosts = service.hosts ?? []
        let isDelegate = hosts.isEmpty
        if isDelegate {
            // A VirtualService without hosts can only be the target of a `delegate`.
            if !(service.gateways ?? []).isEmpty { error(spec / "gateways", "a delegate VirtualService (one without hosts) must not set gateways") }
            if !(service.tls ?? []).isEmpty { error(spec / "tls", "a delegate VirtualService (one without hosts) must not have tls routes") }
            if !(service.tcp ?? []).isEmpty { error(spec / "tcp", "a delegate VirtualService (one without hosts) must not have tcp routes") }
        }
        gatewayNames(spec / "gateways", service.gateways)
        let appliesToMesh = (service.gateways ?? []).isEmpty || service.gateways!.contains("mesh")
        var validHosts: [(Int, String)] = []
        for (index, host) in hosts.enumerated() {
            if host == "*" && appliesToMesh {
                error(spec / "hosts" / index, "wildcard host \"*\" is not allowed for VirtualServices bound to the mesh")
                continue
            }
            if let problem = HostNames.validateWildcardDomain(host), IPAddress.parse(host) == nil {
                error(spec / "hosts" / index, problem)
            } else {
                validHosts.append((index, host))
            }
        }
        for (position, (index, host)) in validHosts.enumerated() {
            for (_, earlier) in validHosts.prefix(position) where HostNames.matches(earlier, host) {
                error(spec / "hosts" / index, "duplicate hosts in VirtualService: \"\(earlier)\" and \"\(host)\" overlap")
            }
        }
        if (service.http ?? []).isEmpty && (service.tcp ?? []).isEmpty && (service.tls ?? []).isEmpty {
            error(spec, "a VirtualService must have http, tcp or tls routes")
        }
        let isRoot = !isDelegate
        for (index, route) in (service.http ?? []).enumerated() {
            httpRoute(spec / "http" / index, route, isDelegateService: isDelegate, isRoot: isRoot && route.delegate != nil,
                      appliesToMesh: appliesToMesh && !(service.gateways ?? []).contains(where: { $0 != "mesh" }))
        }
        unreachableHTTPRules(service.http ?? [])
        for (index, route) in (service.tls ?? []).enumerated() {
            tlsRoute(spec / "tls" / index, route, hosts: hosts)
        }
        for (index, route) in (service.tcp ?? []).enumerated() {
            let path = spec / "tcp" / index
            for (matchIndex, match) in (route.match ?? []).enumerated() {
                let matchPath = path / "match" / matchIndex
                for (subnetIndex, subnet) in (match.destinationSubnets ?? []).enumerated() {
                    check(matchPath / "destinationSubnets" / subnetIndex, IPAddress.validateAddressOrCIDR(subnet))
                }
                if let port = match.port, port != 0 { check(matchPath / "port", Values.portProblem(port)) }
                labels(matchPath / "sourceLabels", match.sourceLabels)
                gatewayNames(matchPath / "gateways", match.gateways)
                if let namespace = match.sourceNamespace, !HostNames.isKubernetesLabel(namespace) {
                    error(matchPath / "sourceNamespace", "sourceNamespace \"\(namespace.truncatedForDisplay)\" is not a valid namespace name")
                }
            }
            routeDestinations(path / "route", route.route, required: "a TCP route needs at least one destination")
        }
        exportTo(service.exportTo)
    }

    mutating func gatewayNames(_ path: FieldPath, _ gateways: [String]?) {
        for (index, gateway) in (gateways ?? []).enumerated() {
            if gateway == "mesh" { continue }
            guard let slash = gateway.firstIndex(of: "/") else {
                let parts = gateway.split(separator: ".", maxSplits: 2).map(String.init)
                if parts.count >= 2 {
                    warning(path / index, "gateway \"\(gateway)\" uses the legacy name.namespace form; prefer \"\(parts[1])/\(parts[0])\"")
                }
                check(path / index, HostNames.validateFQDN(gateway).map { "invalid gateway name: \($0)" })
                continue
            }
            let namespace = String(gateway[..<slash])
            let name = String(gateway[gateway.index(after: slash)...])
            if namespace.isEmpty || name.isEmpty {
                error(path / index, "gateway \"\(gateway)\" must be namespace/name with neither part empty")
            } else if !HostNames.isDNS1123Label(namespace) {
                error(path / index, "invalid namespace \"\(namespace.truncatedForDisplay)\" in gateway \"\(gateway.truncatedForDisplay)\"")
            } else if !HostNames.isDNS1123Label(name) {
                error(path / index, "invalid gateway name \"\(name.truncatedForDisplay)\" in \"\(gateway.truncatedForDisplay)\"")
            }
        }
    }

    private mutating func httpRoute(_ path: FieldPath, _ route: HTTPRoute, isDelegateService: Bool, isRoot: Bool, appliesToMesh: Bool) {
        let hasRoute = !(route.route ?? []).isEmpty
        if isDelegateService && route.delegate != nil {
            error(path / "delegate", "a route of a delegate VirtualService cannot delegate again")
        }
        if isRoot {
            if route.redirect != nil { error(path / "redirect", "a route with \"delegate\" must not also set \"redirect\"") }
            if route.route != nil { error(path / "route", "a route with \"delegate\" must not also set \"route\"") }
            if route.directResponse != nil { error(path / "directResponse", "a route with \"delegate\" must not also set \"directResponse\"") }
        } else if route.redirect != nil {
            if hasRoute { error(path / "redirect", "\"redirect\" and \"route\" are mutually exclusive; a route either redirects or forwards") }
            if route.fault != nil { error(path / "fault", "\"fault\" cannot be combined with \"redirect\"") }
            if route.rewrite != nil { error(path / "rewrite", "\"rewrite\" cannot be combined with \"redirect\"") }
            if route.directResponse != nil { error(path / "directResponse", "\"directResponse\" and \"redirect\" are mutually exclusive") }
        } else if route.directResponse != nil {
            if hasRoute { error(path / "directResponse", "\"directResponse\" and \"route\" are mutually exclusive; a route either responds or forwards") }
            if route.fault != nil { error(path / "fault", "\"fault\" cannot be combined with \"directResponse\"") }
            if route.rewrite != nil { error(path / "rewrite", "\"rewrite\" cannot be combined with \"directResponse\"") }
        } else if !hasRoute && route.delegate == nil {
            error(path, "an HTTP route needs one of route, redirect, directResponse or delegate")
        }
        if route.mirror != nil && !(route.mirrors ?? []).isEmpty {
            error(path / "mirrors", "\"mirror\" and \"mirrors\" are mutually exclusive")
        }
        for (index, match) in (route.match ?? []).enumerated() {
            httpMatch(path / "match" / index, match, appliesToMesh: appliesToMesh)
        }
        headerOperations(path / "headers", route.headers)
        if let cors = route.corsPolicy { corsPolicy(path / "corsPolicy", cors) }
        if let fault = route.fault { faultInjection(path / "fault", fault) }
        if let percent = route.mirrorPercent {
            warning(path / "mirrorPercent", "mirrorPercent is deprecated; use mirrorPercentage")
            if percent > 100 { error(path / "mirrorPercent", "mirrorPercent \(percent) must be at most 100") }
        }
        if let value = route.mirrorPercentage?.value, !(0...100).contains(value) {
            error(path / "mirrorPercentage" / "value", "mirrorPercentage \(Values.formatted(value)) must be between 0 and 100")
        }
        if route.mirror != nil && route.mirror?.host == nil { error(path / "mirror" / "host", "destination host is required") }
        destination(path / "mirror", route.mirror)
        for (index, mirror) in (route.mirrors ?? []).enumerated() {
            let mirrorPath = path / "mirrors" / index
            if mirror.destination == nil { error(mirrorPath / "destination", "each mirror needs a destination") }
            destination(mirrorPath / "destination", mirror.destination)
            if let value = mirror.percentage?.value, !(0...100).contains(value) {
                error(mirrorPath / "percentage" / "value", "mirror percentage \(Values.formatted(value)) must be between 0 and 100")
            }
        }
        if let redirect = route.redirect { self.redirect(path / "redirect", redirect) }
        if let response = route.directResponse { directResponse(path / "directResponse", response) }
        if let retries = route.retries { self.retries(path / "retries", retries) }
        if let rewrite = route.rewrite { self.rewrite(path / "rewrite", rewrite) }
        duration(path / "timeout", route.timeout)
        if let routes = route.route {
            for (index, destination) in routes.enumerated() {
                headerOperations(path / "route" / index / "headers", destination.headers)
            }
            weightedDestinations(path / "route", routes.map { ($0.destination, $0.weight) }, required: nil)
        }
    }

    private mutating func httpMatch(_ path: FieldPath, _ match: HTTPMatchRequest, appliesToMesh: Bool) {
        stringMatch(path / "uri", match.uri, allowEmptyPrefix: true)
        stringMatch(path / "scheme", match.scheme)
        stringMatch(path / "method", match.method)
        stringMatch(path / "authority", match.authority)
        for (field, headers) in [("headers", match.headers), ("withoutHeaders", match.withoutHeaders)] {
            for (name, value) in (headers ?? [:]).sorted(by: { $0.key < $1.key }) {
                check(path / field / name, Values.headerMatchKeyProblem(name))
                if name != name.lowercased() && !name.hasPrefix("@") {
                    warning(path / field / name, "header names are matched case-insensitively; write \"\(name.lowercased())\" as Istio documents")
                }
                if name.hasPrefix("@request.auth.claims") && appliesToMesh {
                    error(path / field / name, "routing on JWT claims (\(name)) is only supported on gateways; this VirtualService applies to the mesh")
                }
                if field == "withoutHeaders" && value.regex == "*" { continue }
                stringMatch(path / field / name, value)
            }
        }
        for (name, value) in (match.queryParams ?? [:]).sorted(by: { $0.key < $1.key }) {
            stringMatch(path / "queryParams" / name, value)
        }
        if let port = match.port, port != 0 { check(path / "port", Values.portProblem(port)) }
        labels(path / "sourceLabels", match.sourceLabels)
        gatewayNames(path / "gateways", match.gateways)
        if let namespace = match.sourceNamespace, !HostNames.isKubernetesLabel(namespace) {
            error(path / "sourceNamespace", "sourceNamespace \"\(namespace.truncatedForDisplay)\" is not a valid namespace name")
        }
    }

    /// Weights are relative proportions (as current Istio treats them): negative weights and an
    /// all-zero split are errors; a total other than 100 is worth a warning.
    private mutating func weightedDestinations(_ path: FieldPath, _ destinations: [(Destination?, Int32?)], required: String?) {
        if destinations.isEmpty, let required {
            error(path, required)
            return
        }
        var total: Int64 = 0
        for (index, (destination, weight)) in destinations.enumerated() {
            if destination == nil {
                error(path / index / "destination", "destination is required")
            }
            self.destination(path / index / "destination", destination)
            if let weight, weight < 0 { error(path / index / "weight", "weight \(weight) must not be negative") }
            total += Int64(max(0, weight ?? 0))
        }
        if destinations.count > 1 {
            if total == 0 {
                error(path, "the destinations' weights add up to 0; give at least one destination a positive weight")
            } else if total != 100 && destinations.allSatisfy({ ($0.1 ?? 0) >= 0 }) {
                warning(path, "the destinations' weights add up to \(total), not 100; they are treated as relative proportions")
            }
        }
    }

    private mutating func routeDestinations(_ path: FieldPath, _ routes: [RouteDestination]?, required: String) {
        weightedDestinations(path, (routes ?? []).map { ($0.destination, $0.weight) }, required: required)
    }

    private mutating func corsPolicy(_ path: FieldPath, _ cors: CorsPolicy) {
        for (index, origin) in (cors.allowOrigins ?? []).enumerated() {
            if origin.exact == nil && origin.prefix == nil && origin.regex == nil {
                error(path / "allowOrigins" / index, "an allowed origin needs exact, prefix or regex")
            }
            stringMatch(path / "allowOrigins" / index, origin)
        }
        for (index, method) in (cors.allowMethods ?? []).enumerated() where !Self.corsMethods.contains(method) {
            error(path / "allowMethods" / index, "\"\(method.truncatedForDisplay)\" is not a supported HTTP method (use upper case: GET, POST, ...)")
        }
        for field in ["allowHeaders", "exposeHeaders"] {
            for (index, header) in ((field == "allowHeaders" ? cors.allowHeaders : cors.exposeHeaders) ?? []).enumerated() where header != "*" {
                check(path / field / index, Values.headerNameProblem(header))
            }
        }
        if let maxAge = cors.maxAge {
            duration(path / "maxAge", maxAge)
            if maxAge.nanoseconds % 1_000_000_000 != 0 {
                error(path / "maxAge", "maxAge is sent in whole seconds; \"\(maxAge.text)\" is not a whole number of seconds")
            }
        }
    }

    private mutating func faultInjection(_ path: FieldPath, _ fault: HTTPFaultInjection) {
        if fault.abort == nil && fault.delay == nil {
            error(path, "fault injection needs an abort, a delay, or both")
        }
        if let abort = fault.abort {
            let base = path / "abort"
            exclusive(base, [("httpStatus", abort.httpStatus != nil), ("grpcStatus", abort.grpcStatus != nil), ("http2Error", abort.http2Error != nil)])
            if let value = abort.percentage?.value { check(base / "percentage" / "value", Values.percentageProblem(value)) }
            if let status = abort.grpcStatus, !Self.grpcStatusNames.contains(status) {
                var message = "gRPC status \"\(status.truncatedForDisplay)\" is not a gRPC status code name (e.g. UNAVAILABLE, NOT_FOUND)"
                if let guess = Suggestion.closest(to: status, among: Array(Self.grpcStatusNames)) { message += "; did you mean \"\(guess)\"?" }
                error(base / "grpcStatus", message)
            }
            if abort.http2Error != nil { error(base / "http2Error", "HTTP/2 error fault injection is not supported") }
            if let status = abort.httpStatus, !(200...599).contains(status) {
                error(base / "httpStatus", "HTTP status \(status) must be in the range 200..599")
            }
            if abort.httpStatus == nil && abort.grpcStatus == nil && abort.http2Error == nil {
                warning(base, "abort has no httpStatus or grpcStatus, so it does nothing")
            }
        }
        if let delay = fault.delay {
            let base = path / "delay"
            exclusive(base, [("fixedDelay", delay.fixedDelay != nil), ("exponentialDelay", delay.exponentialDelay != nil)])
            if let value = delay.percentage?.value { check(base / "percentage" / "value", Values.percentageProblem(value)) }
            if let percent = delay.percent, !(0...100).contains(percent) {
                error(base / "percent", "percent \(percent) must be between 0 and 100")
            }
            duration(base / "fixedDelay", delay.fixedDelay)
            if delay.exponentialDelay != nil { error(base / "exponentialDelay", "exponentialDelay is not supported; use fixedDelay") }
            if delay.fixedDelay == nil && delay.exponentialDelay == nil { error(base / "fixedDelay", "a delay needs fixedDelay") }
        }
    }

    private mutating func redirect(_ path: FieldPath, _ redirect: HTTPRedirect) {
        exclusive(path, [("port", redirect.port != nil), ("derivePort", redirect.derivePort != nil)])
        if redirect.uri == nil && redirect.authority == nil && redirect.port == nil && redirect.derivePort == nil && redirect.scheme == nil {
            error(path, "a redirect must set uri, authority, scheme or port")
        }
        if let code = redirect.redirectCode, code != 0, !(300...399).contains(code) {
            error(path / "redirectCode", "redirect code \(code) must be a 3xx status")
        }
        if let scheme = redirect.scheme, !["", "http", "https"].contains(scheme) {
            error(path / "scheme", "redirect scheme must be \"http\" or \"https\", not \"\(scheme.truncatedForDisplay)\"")
        }
        if let port = redirect.port { check(path / "port", Values.portProblem(port)) }
    }

    private mutating func directResponse(_ path: FieldPath, _ response: HTTPDirectResponse) {
        if let body = response.body {
            exclusive(path / "body", [("string", body.string != nil), ("bytes", body.bytes != nil)])
            if let bytes = body.bytes, Base64.decodedLength(bytes) == nil {
                error(path / "body" / "bytes", "body bytes must be base64")
            }
            let size = body.string?.utf8.count ?? body.bytes.flatMap(Base64.decodedLength) ?? 0
            if size > 1_048_576 {
                error(path / "body", "direct response body is \(size) bytes; it must be under 1 MiB")
            } else if size > 102_400 {
                warning(path / "body", "direct response body is \(size) bytes; large bodies slow config pushes")
            }
        }
        guard let status = response.status else {
            return error(path / "status", "directResponse needs a status")
        }
        if !(200...599).contains(status) { error(path / "status", "HTTP status \(status) must be in the range 200..599") }
    }

    private mutating func retries(_ path: FieldPath, _ retry: HTTPRetry) {
        let attempts = retry.attempts ?? 0
        if attempts < 0 { error(path / "attempts", "retry attempts must not be negative") }
        if attempts == 0 && (retry.perTryTimeout != nil || retry.retryOn != nil || retry.retryRemoteLocalities != nil) {
            error(path / "attempts", "retry settings are given but attempts is 0, which disables retries")
        }
        duration(path / "perTryTimeout", retry.perTryTimeout)
        duration(path / "backoff", retry.backoff)
        if let retryOn = retry.retryOn {
            for item in retryOn.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
                if Self.retryOnPolicies.contains(item) { continue }
                if let code = Int(item), (100...599).contains(code) { continue }
                var message = "\"\(item.truncatedForDisplay)\" is not a valid retryOn condition"
                if item != item.trimmingCharacters(in: .whitespaces) {
                    message += " (no spaces around commas)"
                } else if let guess = Suggestion.closest(to: item, among: Array(Self.retryOnPolicies)) {
                    message += "; did you mean \"\(guess)\"?"
                }
                error(path / "retryOn", message)
            }
        }
    }

    private mutating func rewrite(_ path: FieldPath, _ rewrite: HTTPRewrite) {
        if rewrite.uri != nil && rewrite.uriRegexRewrite != nil {
            error(path / "uriRegexRewrite", "\"uri\" and \"uriRegexRewrite\" are mutually exclusive")
        }
        if rewrite.uri == nil && rewrite.uriRegexRewrite == nil && rewrite.authority == nil {
            error(path, "a rewrite must set uri, uriRegexRewrite or authority")
        }
        if let regex = rewrite.uriRegexRewrite {
            if (regex.match ?? "").isEmpty || regex.rewrite == nil {
                error(path / "uriRegexRewrite", "uriRegexRewrite needs both match and rewrite")
            }
            if let match = regex.match, !match.isEmpty { check(path / "uriRegexRewrite" / "match", RegexRule.problem(match)) }
        }
    }

    private mutating func tlsRoute(_ path: FieldPath, _ route: TLSRoute, hosts: [String]) {
        if (route.match ?? []).isEmpty { error(path / "match", "a TLS route needs at least one match") }
        for (index, match) in (route.match ?? []).enumerated() {
            let matchPath = path / "match" / index
            let sniHosts = match.sniHosts ?? []
            if sniHosts.isEmpty { error(matchPath / "sniHosts", "a TLS match needs at least one SNI host") }
            for (hostIndex, sni) in sniHosts.enumerated() {
                if IPAddress.parse(sni) != nil {
                    warning(matchPath / "sniHosts" / hostIndex, "SNI host \"\(sni)\" is an IP address; the SNI spec forbids that and most clients never send it")
                    continue
                }
                if let problem = HostNames.validateWildcardDomain(sni) {
                    error(matchPath / "sniHosts" / hostIndex, problem)
                } else if !hosts.isEmpty && !hosts.contains(where: { Self.isSubset(sni, of: $0) }) {
                    error(matchPath / "sniHosts" / hostIndex, "SNI host \"\(sni)\" is not covered by any of the VirtualService hosts (\(hosts.joined(separator: ", ")))")
                }
            }
            for (subnetIndex, subnet) in (match.destinationSubnets ?? []).enumerated() {
                check(matchPath / "destinationSubnets" / subnetIndex, IPAddress.validateAddressOrCIDR(subnet))
            }
            if let port = match.port, port != 0 { check(matchPath / "port", Values.portProblem(port)) }
            labels(matchPath / "sourceLabels", match.sourceLabels)
            gatewayNames(matchPath / "gateways", match.gateways)
        }
        routeDestinations(path / "route", route.route, required: "a TLS route needs at least one destination")
    }

    static func isSubset(_ host: String, of other: String) -> Bool {
        switch (host.hasPrefix("*"), other.hasPrefix("*")) {
        case (true, true): return host.count >= other.count && host.dropFirst().hasSuffix(other.dropFirst())
        case (true, false): return false
        case (false, true): return host.hasSuffix(other.dropFirst())
        case (false, false): return host == other
        }
    }

    /// Rules after a catch-all rule never match; Istio reports them as warnings.
    private mutating func unreachableHTTPRules(_ routes: [HTTPRoute]) {
        var catchAll: Int?
        var seenMatches: Set<HTTPMatchRequest> = []
        for (index, route) in routes.enumerated() {
            let name = route.name.map { "\"\($0)\"" } ?? "#\(index)"
            if let earlier = catchAll {
                warning(spec / "http" / index, "HTTP rule \(name) is never used: rule #\(earlier) before it has no match conditions and catches everything")
                continue
            }
            let matches = route.match ?? []
            if matches.isEmpty {
                catchAll = index
                continue
            }
            for (matchIndex, match) in matches.enumerated() {
                var unnamed = match
                unnamed.name = nil
                if !seenMatches.insert(unnamed).inserted {
                    warning(spec / "http" / index / "match" / matchIndex, "this match repeats an earlier one, so it never matches")
                }
            }
        }
    }
}

enum Base64 {
    /// The decoded size of standard base64 text, or nil if it is not base64.
    static func decodedLength(_ text: String) -> Int? {
        let bytes = Array(text.utf8).filter { $0 != UInt8(ascii: "\n") && $0 != UInt8(ascii: "\r") }
        guard bytes.count % 4 == 0 else { return nil }
        var padding = 0
        for (index, byte) in bytes.enumerated() {
            let isAlphabet = (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122) || (byte >= 48 && byte <= 57) || byte == 43 || byte == 47
            if byte == UInt8(ascii: "=") {
                guard index >= bytes.count - 2 else { return nil }
                padding += 1
            } else if !isAlphabet || padding > 0 {
                return nil
            }
        }
        return bytes.count / 4 * 3 - padding
    }
}
