// Connection pool limits toward a service or into a workload.

extension ValidationContext {
    mutating func connectionPool(_ path: FieldPath, _ pool: ConnectionPoolSettings?) {
        guard let pool else { return }
        if pool.http == nil && pool.tcp == nil { error(path, "connectionPool must set tcp or http settings") }
        if let http = pool.http {
            let base = path / "http"
            for (field, value) in [("http1MaxPendingRequests", http.http1MaxPendingRequests), ("http2MaxRequests", http.http2MaxRequests),
                                   ("maxRequestsPerConnection", http.maxRequestsPerConnection), ("maxRetries", http.maxRetries),
                                   ("maxConcurrentStreams", http.maxConcurrentStreams)] {
                if let value, value < 0 { error(base / field, "\(field) must not be negative") }
            }
            duration(base / "idleTimeout", http.idleTimeout)
            duration(base / "http2KeepAlive" / "interval", http.http2KeepAlive?.interval)
            duration(base / "http2KeepAlive" / "timeout", http.http2KeepAlive?.timeout)
            if http.h2UpgradePolicy == .UPGRADE && http.useClientProtocol == true {
                error(base / "useClientProtocol", "useClientProtocol must not be true when h2UpgradePolicy is UPGRADE")
            }
        }
        if let tcp = pool.tcp {
            let base = path / "tcp"
            if let value = tcp.maxConnections, value < 0 { error(base / "maxConnections", "maxConnections must not be negative") }
            duration(base / "connectTimeout", tcp.connectTimeout)
            duration(base / "maxConnectionDuration", tcp.maxConnectionDuration)
            duration(base / "idleTimeout", tcp.idleTimeout, allowZero: true)
            duration(base / "tcpKeepalive" / "time", tcp.tcpKeepalive?.time)
            duration(base / "tcpKeepalive" / "interval", tcp.tcpKeepalive?.interval)
        }
    }
}
