// Errors in proxy configuration: a path into the xDS resource and what is wrong there. They are the NACK text.

import EnvoyAPI
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import SwiftProtobuf

/// Something in an xDS resource this proxy cannot honour. `path` points into the resource as
/// Envoy's field names spell it (`listeners[127.0.0.1_9080].filter_chains[0].filters[0]`), so the
/// control plane's operator sees exactly which field to look at.
public struct ProxyConfigError: Error, CustomStringConvertible, Equatable, Sendable {
    public var path: String
    public var message: String

    public init(_ path: String, _ message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { "\(path): \(message)" }
}

/// Refuses a message that still has fields set after the decoder cleared every field it
/// understood. This is how the proxy never silently ignores configuration that would change its
/// behaviour: whatever it does not implement is named in the NACK instead of being dropped.
func requireNothingElse<M: SwiftProtobuf.Message>(_ rest: M, at path: String) throws {
    guard !rest.isEqualTo(message: M()) else { return }
    throw ProxyConfigError(path, "not supported by meshproxy: \(setFieldNames(rest).joined(separator: ", "))")
}

/// `message` as protobuf bytes with map entries in key order, so equal config gives equal bytes.
func configFingerprint<M: SwiftProtobuf.Message>(_ message: M, at path: String) throws -> [UInt8] {
    var options = BinaryEncodingOptions()
    options.useDeterministicOrdering = true
    do {
        return try message.serializedBytes(partial: true, options: options)
    } catch {
        throw ProxyConfigError(path, "cannot be encoded again: \(error)")
    }
}

/// The names (proto spelling) of the fields set in `message`, for error text.
func setFieldNames<M: SwiftProtobuf.Message>(_ message: M) -> [String] {
    ProxyTypeRegistry.registerUnderstood()
    var options = JSONEncodingOptions()
    options.preserveProtoFieldNames = true
    do {
        let json: Data
        do {
            json = try message.jsonUTF8Data(options: options)
        } catch {
            // An `Any` of a type meshproxy never reads: worth the full registry on this error path.
            EnvoyTypeRegistry.registerAll()
            json = try message.jsonUTF8Data(options: options)
        }
        let object = try Google_Protobuf_Struct(jsonUTF8Bytes: json)
        guard !object.fields.isEmpty else { return ["fields unknown to this version of the API"] }
        return object.fields.keys.sorted()
    } catch {
        return ["fields that could not be named (\(error))"]
    }
}

extension Google_Protobuf_Duration {
    /// The duration as Swift's, nil when unset or zero-length where "0 means disabled".
    var swiftDuration: Duration {
        .seconds(seconds) + .nanoseconds(Int64(nanos))
    }
}

/// True for an IPv4 or IPv6 literal (what EDS and STATIC endpoints and bind addresses must be).
public func isIPAddress(_ text: String) -> Bool {
    var v4 = in_addr()
    var v6 = in6_addr()
    return inet_pton(AF_INET, text, &v4) == 1 || inet_pton(AF_INET6, text, &v6) == 1
}

/// Unpacks `any` as `M`, naming the path and the type found when it is something else.
func unpack<M: SwiftProtobuf.Message>(_ any: Google_Protobuf_Any, as type: M.Type, at path: String) throws -> M {
    do {
        return try M(unpackingAny: any)
    } catch {
        throw ProxyConfigError(path, "expected \(M.protoMessageName), got \(any.typeURL.isEmpty ? "nothing" : any.typeURL)")
    }
}
