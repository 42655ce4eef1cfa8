// Envoy's access-log command operators (`%RESPONSE_CODE%`, `%REQ(X-REQUEST-ID)%`...) and the value each takes from a record.

#if canImport(Glibc)
import Glibc
#endif

/// One command operator of a format string, parsed once when config arrives.
public enum CommandOperator: Sendable, Equatable {
    case startTime(StartTimeFormat)
    /// `%REQ(name?fallback)%`: a request header, or a pseudo-header (`:path`, `:method`, `:authority`, `:scheme`).
    case requestHeader(String, fallback: String?)
    case responseHeader(String, fallback: String?)
    case responseTrailer(String, fallback: String?)
    case protocolName
    case responseCode
    case responseFlags
    case responseCodeDetails
    case connectionTerminationDetails
    case upstreamTransportFailureReason
    case bytesReceived
    case bytesSent
    case duration
    case requestDuration
    case responseDuration
    case upstreamHost
    case upstreamCluster
    case upstreamLocalAddress
    case upstreamRequestAttemptCount
    case downstreamLocalAddress(withPort: Bool)
    case downstreamRemoteAddress(withPort: Bool)
    case downstreamLocalPort
    case downstreamRemotePort
    case requestedServerName
    case routeName
    case hostname
    case downstreamPeerURISAN
    case downstreamLocalURISAN
    case downstreamTLSVersion
    case connectionID
    case grpcStatusNumber

    /// What an operator yields: text, a number (typed in JSON), or nothing (`-` / `null`). A time
    /// and response flags are text kept unrendered, so they are written straight into the line.
    public enum Value: Equatable {
        case text(String)
        case time(StartTimeFormat, microseconds: Int64)
        case flags(ResponseFlags)
        case number(Int64)
        case missing
    }

    /// Operators that take no argument, by name.
    static let plain: [String: CommandOperator] = [
        "PROTOCOL": .protocolName, "RESPONSE_CODE": .responseCode, "RESPONSE_FLAGS": .responseFlags,
        "RESPONSE_CODE_DETAILS": .responseCodeDetails, "CONNECTION_TERMINATION_DETAILS": .connectionTerminationDetails,
        "UPSTREAM_TRANSPORT_FAILURE_REASON": .upstreamTransportFailureReason,
        "BYTES_RECEIVED": .bytesReceived, "BYTES_SENT": .bytesSent, "DURATION": .duration,
        "REQUEST_DURATION": .requestDuration, "RESPONSE_DURATION": .responseDuration,
        "UPSTREAM_HOST": .upstreamHost, "UPSTREAM_CLUSTER": .upstreamCluster, "UPSTREAM_CLUSTER_RAW": .upstreamCluster,
        "UPSTREAM_LOCAL_ADDRESS": .upstreamLocalAddress, "UPSTREAM_REQUEST_ATTEMPT_COUNT": .upstreamRequestAttemptCount,
        "DOWNSTREAM_LOCAL_ADDRESS": .downstreamLocalAddress(withPort: true),
        "DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT": .downstreamLocalAddress(withPort: false),
        "DOWNSTREAM_REMOTE_ADDRESS": .downstreamRemoteAddress(withPort: true),
        "DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT": .downstreamRemoteAddress(withPort: false),
        // No trusted proxy hops are configured by the mesh, so the direct peer is the remote address.
        "DOWNSTREAM_DIRECT_REMOTE_ADDRESS": .downstreamRemoteAddress(withPort: true),
        "DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT": .downstreamRemoteAddress(withPort: false),
        "DOWNSTREAM_LOCAL_PORT": .downstreamLocalPort, "DOWNSTREAM_REMOTE_PORT": .downstreamRemotePort,
        "REQUESTED_SERVER_NAME": .requestedServerName, "ROUTE_NAME": .routeName, "HOSTNAME": .hostname,
        "DOWNSTREAM_PEER_URI_SAN": .downstreamPeerURISAN, "DOWNSTREAM_LOCAL_URI_SAN": .downstreamLocalURISAN,
        "DOWNSTREAM_TLS_VERSION": .downstreamTLSVersion, "CONNECTION_ID": .connectionID,
        "GRPC_STATUS_NUMBER": .grpcStatusNumber,
    ]

    /// The operator `name` with its argument (`REQ`'s header, `START_TIME`'s format).
    static func make(name: String, argument: String?) throws(FormatError) -> CommandOperator {
        switch name {
        case "REQ", "RESP", "TRAILER":
            guard let argument, !argument.isEmpty else { throw FormatError("%\(name)% needs a header name: %\(name)(x-request-id)%") }
            let parts = argument.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).map { $0.lowercased() }
            guard parts.allSatisfy({ !$0.isEmpty }) else { throw FormatError("%\(name)(\(argument))%: empty header name") }
            let fallback = parts.count > 1 ? parts[1] : nil
            switch name {
            case "REQ": return .requestHeader(parts[0], fallback: fallback)
            case "RESP": return .responseHeader(parts[0], fallback: fallback)
            default: return .responseTrailer(parts[0], fallback: fallback)
            }
        case "START_TIME":
            return .startTime(try StartTimeFormat(argument ?? ""))
        default:
            guard let known = plain[name] else {
                throw FormatError("command operator %\(name)% is not supported by meshproxy")
            }
            guard argument == nil else { throw FormatError("%\(name)% takes no argument") }
            return known
        }
    }

    /// This operator's value for `record`.
    public func value(_ record: AccessLogRecord) -> Value {
        switch self {
        case .startTime(let format): return .time(format, microseconds: record.startTime)
        case .requestHeader(let name, let fallback):
            return Self.text(Self.requestHeader(name, record) ?? fallback.flatMap { Self.requestHeader($0, record) })
        case .responseHeader(let name, let fallback):
            return Self.text(record.responseHeaders?.first(name: name) ?? fallback.flatMap { record.responseHeaders?.first(name: $0) })
        case .responseTrailer(let name, let fallback):
            return Self.text(record.responseTrailers?.first(name: name) ?? fallback.flatMap { record.responseTrailers?.first(name: $0) })
        case .protocolName: return Self.text(record.protocolName)
        case .responseCode: return .number(Int64(record.responseCode))
        case .responseFlags: return .flags(record.responseFlags)
        case .responseCodeDetails: return Self.text(record.responseCodeDetails)
        case .connectionTerminationDetails: return Self.text(record.connectionTerminationDetails)
        case .upstreamTransportFailureReason: return Self.text(record.upstreamTransportFailureReason)
        case .bytesReceived: return .number(Int64(record.bytesReceived))
        case .bytesSent: return .number(Int64(record.bytesSent))
        case .duration: return Self.milliseconds(record.duration)
        case .requestDuration: return Self.milliseconds(record.requestDuration)
        case .responseDuration: return Self.milliseconds(record.responseDuration)
        case .upstreamHost: return Self.text(record.upstreamHost)
        case .upstreamCluster: return Self.text(record.upstreamCluster)
        case .upstreamLocalAddress: return Self.text(record.upstreamLocalAddress)
        case .upstreamRequestAttemptCount: return .number(Int64(record.upstreamAttempts))
        case .downstreamLocalAddress(let withPort): return Self.address(record.downstreamLocalAddress, withPort: withPort)
        case .downstreamRemoteAddress(let withPort): return Self.address(record.downstreamRemoteAddress, withPort: withPort)
        case .downstreamLocalPort: return Self.port(record.downstreamLocalAddress)
        case .downstreamRemotePort: return Self.port(record.downstreamRemoteAddress)
        case .requestedServerName: return Self.text(record.requestedServerName)
        case .routeName: return Self.text(record.routeName)
        case .hostname: return .text(AccessLogHost.name)
        case .downstreamPeerURISAN: return Self.text(record.downstreamPeerURISAN)
        case .downstreamLocalURISAN: return Self.text(record.downstreamLocalURISAN)
        case .downstreamTLSVersion: return Self.text(record.downstreamTLSVersion)
        case .connectionID: return .number(Int64(bitPattern: record.connectionID))
        case .grpcStatusNumber: return record.grpcStatus.map { .number(Int64($0)) } ?? .missing
        }
    }

    private static func requestHeader(_ name: String, _ record: AccessLogRecord) -> String? {
        switch name {
        case ":path": return record.path
        case ":method": return record.method
        case ":authority": return record.requestHeaders?.first(name: "host")
        case ":scheme": return record.requestHeaders?.first(name: "x-forwarded-proto")
        default: return record.requestHeaders?.first(name: name)
        }
    }

    private static func text(_ value: String?) -> Value {
        guard let value, !value.isEmpty else { return .missing }
        return .text(value)
    }

    private static func milliseconds(_ nanoseconds: Int64?) -> Value {
        nanoseconds.map { .number($0 / 1_000_000) } ?? .missing
    }

    /// `ip:port` → `ip` (IPv6 as `[::1]:80` → `::1`).
    private static func address(_ address: String?, withPort: Bool) -> Value {
        guard let address else { return .missing }
        if withPort { return .text(address) }
        guard let colon = address.lastIndex(of: ":") else { return .text(address) }
        var host = address[..<colon]
        if host.hasPrefix("["), host.hasSuffix("]") { host = host.dropFirst().dropLast() }
        return .text(String(host))
    }

    private static func port(_ address: String?) -> Value {
        guard let address, let colon = address.lastIndex(of: ":"), let port = Int64(address[address.index(after: colon)...]) else {
            return .missing
        }
        return .number(port)
    }
}

/// A format string or JSON format Envoy would refuse, or one with an operator meshproxy lacks.
public struct FormatError: Error, CustomStringConvertible, Equatable {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// `%HOSTNAME%`: read once.
enum AccessLogHost {
    static let name: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "-" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }()
}
