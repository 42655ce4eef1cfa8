// HTTP route rules of a VirtualService: matches, destinations, and every action a route takes.

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

    mutating func httpRoute(_ path: FieldPath, _ route: HTTPRoute, isDelegateService: Bool, isRoot: Bool, appliesToMesh: Bool) {
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
        authoritySetOnce(path, route)
        if let cors = route.corsPolicy { corsPolicy(path / "corsPolicy", cors) }
        if let fault = route.fault { faultInjection(path / "fault", fault) }
        if let percent = route.mirrorPercent {
            warning(path / "mirrorPercent", "mirrorPercent is deprecated; use mirrorPercentage")
            if percent > 100 { error(path / "mirrorPercent", "mirrorPercent \(percent) must be at most 100") }
        }
        if let value = route.mirrorPercentage?.value, !(0...100).contains(value) {
            error(path / "mirrorPercentage" / "value", "mirrorPercentage \(value.shownInMessage) must be between 0 and 100")
        }
        destination(path / "mirror", route.mirror)
        for (index, mirror) in (route.mirrors ?? []).enumerated() {
            let mirrorPath = path / "mirrors" / index
            if mirror.destination == nil { error(mirrorPath / "destination", "each mirror needs a destination") }
            destination(mirrorPath / "destination", mirror.destination)
            if let value = mirror.percentage?.value, !(0...100).contains(value) {
                error(mirrorPath / "percentage" / "value", "mirror percentage \(value.shownInMessage) must be between 0 and 100")
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

    /// The Host header can be rewritten in three places; Envoy would apply only one of them.
    private mutating func authoritySetOnce(_ path: FieldPath, _ route: HTTPRoute) {
        var places: [(FieldPath, String)] = []
        if route.rewrite?.authority != nil { places.append((path / "rewrite" / "authority", "rewrite.authority")) }
        for (operation, values) in [("set", route.headers?.request?.set), ("add", route.headers?.request?.add)] {
            for name in (values ?? [:]).keys.sorted() where name.lowercased() == "host" || name.lowercased() == ":authority" {
                places.append((path / "headers" / "request" / operation / name, "headers.request.\(operation).\(name)"))
            }
        }
        if places.count > 1 {
            error(places[1].0, "the authority is set more than once (\(places.map(\.1).joined(separator: " and "))); keep one")
        }
    }

    private mutating func httpMatch(_ path: FieldPath, _ match: HTTPMatchRequest, appliesToMesh: Bool) {
        stringMatch(path / "uri", match.uri, allowEmptyPrefix: true)
        stringMatch(path / "scheme", match.scheme)
        stringMatch(path / "method", match.method)
        stringMatch(path / "authority", match.authority)
        for (field, headers) in [("headers", match.headers), ("withoutHeaders", match.withoutHeaders)] {
            for (name, value) in (headers ?? [:]).sorted(by: { $0.key < $1.key }) {
                check(path / field / name, HeaderRule.matchKeyProblem(name))
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
        if let port = match.port, port != 0 { check(path / "port", PortRule.problem(port)) }
        labels(path / "sourceLabels", match.sourceLabels)
        gatewayNames(path / "gateways", match.gateways)
        if let namespace = match.sourceNamespace, !HostNames.isKubernetesLabel(namespace) {
            error(path / "sourceNamespace", "sourceNamespace \"\(namespace.truncatedForDisplay)\" is not a valid namespace name")
        }
    }

    /// Weights are relative proportions (as current Istio treats them): negative weights and an
    /// all-zero split are errors; a total other than 100 is worth a warning.
    mutating func weightedDestinations(_ path: FieldPath, _ destinations: [(Destination?, Int32?)], required: String?) {
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
                check(path / field / index, HeaderRule.nameProblem(header))
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
            if let value = abort.percentage?.value { check(base / "percentage" / "value", PercentRule.faultProblem(value)) }
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
            if let value = delay.percentage?.value { check(base / "percentage" / "value", PercentRule.faultProblem(value)) }
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
        if let port = redirect.port { check(path / "port", PortRule.problem(port)) }
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
        let retryOn = retry.retryOn.flatMap { $0.isEmpty ? nil : $0 }  // Istio reads "" as unset
        if attempts == 0 && (retry.perTryTimeout != nil || retryOn != nil || retry.retryRemoteLocalities != nil) {
            error(path / "attempts", "retry settings are given but attempts is 0, which disables retries")
        }
        duration(path / "perTryTimeout", retry.perTryTimeout)
        duration(path / "backoff", retry.backoff)
        if let retryOn {
            for item in retryOn.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
                if Self.retryOnPolicies.contains(item) { continue }
                if let code = Int(item), HTTPStatus.isKnown(code) { continue }
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

    /// Rules after a catch-all rule never match; Istio reports them as warnings.
    mutating func unreachableHTTPRules(_ routes: [HTTPRoute]) {
        var catchAll: Int?
        var seenMatches: Set<HTTPMatchRequest> = []
        for (index, route) in routes.enumerated() {
            let name = route.name.map { "\"\($0)\"" } ?? "#\(index)"
            if let earlier = catchAll {
                warning(spec / "http" / index, "HTTP rule \(name) is never used: rule #\(earlier) before it has no match conditions and catches everything")
                continue
            }
            let matches = route.match ?? []
            // A rule that does nothing (an error of its own) is no catch-all.
            let acts = route.route != nil || route.redirect != nil || route.directResponse != nil || route.delegate != nil
            if matches.isEmpty && acts {
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
