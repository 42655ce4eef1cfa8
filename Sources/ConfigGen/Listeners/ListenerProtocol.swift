// How a listener port is served, from Istio's protocol name: HTTP routing, TLS by SNI, or opaque TCP.

/// The three ways ConfigGen serves a port.
enum ListenerProtocol: Equatable {
    /// HTTP connection manager with routes: HTTP, HTTP2, GRPC, GRPC-Web, HTTP_PROXY.
    case http
    /// Filter chains chosen by SNI, TLS passed through: HTTPS and TLS.
    case tls
    /// tcp_proxy: TCP, protocols Envoy does not route, and an unset protocol (SwiftMesh does not
    /// sniff protocols, so an unnamed port is opaque).
    case tcp

    init(protocolName: String?) {
        switch (protocolName ?? "").uppercased() {
        case "HTTP", "HTTP2", "GRPC", "GRPC-WEB", "HTTP_PROXY": self = .http
        case "HTTPS", "TLS": self = .tls
        default: self = .tcp
        }
    }
}
