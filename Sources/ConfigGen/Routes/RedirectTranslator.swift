// HTTPRedirect → Envoy's RedirectAction: path, authority, port (or derived port), scheme and code.

import EnvoyAPI
import MeshAPI

/// Istio's `redirect`, answered by the proxy itself.
enum RedirectTranslator {
    static func redirect(_ redirect: HTTPRedirect, port: UInt32, field: String, resource: ResourceReference) throws -> Envoy_Config_Route_V3_RedirectAction {
        var action = Envoy_Config_Route_V3_RedirectAction()
        if let uri = redirect.uri, !uri.isEmpty { action.pathRedirect = uri }
        if let authority = redirect.authority, !authority.isEmpty { action.hostRedirect = authority }
        if let scheme = redirect.scheme, !scheme.isEmpty { action.schemeRedirect = scheme }
        if let number = redirect.port, number != 0 {
            action.portRedirect = number
        } else if redirect.derivePort == .FROM_REQUEST_PORT {
            // Envoy cannot copy the request's port, but routes are built per listener port, which
            // is the request's port; FROM_PROTOCOL_DEFAULT needs no port at all.
            action.portRedirect = port
        }
        switch redirect.redirectCode ?? 301 {
        case 301: action.responseCode = .movedPermanently
        case 302: action.responseCode = .found
        case 303: action.responseCode = .seeOther
        case 307: action.responseCode = .temporaryRedirect
        case 308: action.responseCode = .permanentRedirect
        case let code:
            throw TranslationError(resource, field: "\(field).redirect.redirectCode",
                                   reason: "Envoy redirects only with 301, 302, 303, 307 or 308, not \(code)")
        }
        return action
    }
}
