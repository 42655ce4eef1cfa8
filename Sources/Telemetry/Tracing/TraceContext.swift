// Trace context in request headers: B3 (multi-header and single `b3`) and W3C `traceparent`, read and written.

import NIOHTTP1

/// A 128-bit trace ID; a 64-bit one (B3 allows 16 hex digits) has `high` 0.
public struct TraceID: Hashable, Sendable {
    public var high: UInt64
    public var low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// 32 lowercase hex digits (16 when `high` is 0 and `short` is asked for, as B3 allows).
    public func hex(short: Bool = false) -> String {
        short && high == 0 ? TraceHex.text(low) : TraceHex.text(high) + TraceHex.text(low)
    }
}

/// Which headers carry the trace context a proxy reads and writes: Zipkin's B3 (Envoy's zipkin
/// tracer), B3 plus W3C (its `USE_B3_WITH_W3C_PROPAGATION`), or W3C alone (OpenTelemetry).
public enum TracePropagation: Sendable, Equatable {
    case b3
    case b3AndW3C
    case w3c

    var readsB3: Bool { self != .w3c }
    var readsW3C: Bool { self != .b3 }
}

/// What a request brings of a trace: the caller's span (the parent of the span this hop makes)
/// and the caller's sampling decision. Either may come without the other: `x-b3-sampled: 0`
/// alone asks that nothing be traced.
public struct IncomingTrace: Sendable, Equatable {
    public struct Parent: Sendable, Equatable {
        public var traceID: TraceID
        public var spanID: UInt64
        /// W3C `tracestate`, passed on unchanged.
        public var traceState: String?

        public init(traceID: TraceID, spanID: UInt64, traceState: String? = nil) {
            self.traceID = traceID
            self.spanID = spanID
            self.traceState = traceState
        }
    }

    public var parent: Parent?
    /// nil: the caller made no decision.
    public var sampled: Bool?

    public init(parent: Parent? = nil, sampled: Bool? = nil) {
        self.parent = parent
        self.sampled = sampled
    }

    /// The request's trace context. B3 is read before W3C when both are allowed, as Envoy's
    /// zipkin tracer does; a malformed header counts as absent (Envoy starts a new trace
    /// rather than refuse the request).
    public static func read(_ headers: HTTPHeaders, propagation: TracePropagation) -> IncomingTrace {
        if propagation.readsB3, let b3 = readB3(headers) { return b3 }
        if propagation.readsW3C, let w3c = readW3C(headers) { return w3c }
        return IncomingTrace()
    }

    static func readB3(_ headers: HTTPHeaders) -> IncomingTrace? {
        if let single = headers.first(name: "b3") { return readB3Single(single) }
        let flags = headers.first(name: "x-b3-flags")
        let sampled: Bool? = flags == "1" ? true : headers.first(name: "x-b3-sampled").flatMap(b3Sampled)
        guard let traceText = headers.first(name: "x-b3-traceid"), let spanText = headers.first(name: "x-b3-spanid") else {
            return sampled.map { IncomingTrace(sampled: $0) }
        }
        guard let traceID = TraceHex.traceID(traceText), let spanID = TraceHex.spanID(spanText) else {
            return sampled.map { IncomingTrace(sampled: $0) }
        }
        return IncomingTrace(parent: Parent(traceID: traceID, spanID: spanID), sampled: sampled)
    }

    /// `b3: {TraceId}-{SpanId}[-{SamplingState}[-{ParentSpanId}]]`, or the decision alone (`0`, `1`, `d`).
    static func readB3Single(_ value: String) -> IncomingTrace? {
        let parts = value.split(separator: "-", omittingEmptySubsequences: false)
        if parts.count == 1 { return b3Sampled(value).map { IncomingTrace(sampled: $0) } }
        guard (2...4).contains(parts.count), let traceID = TraceHex.traceID(parts[0]), let spanID = TraceHex.spanID(parts[1]) else { return nil }
        var sampled: Bool?
        if parts.count >= 3 {
            guard let decision = b3Sampled(parts[2]) else { return nil }
            sampled = decision
        }
        if parts.count == 4, TraceHex.spanID(parts[3]) == nil { return nil }
        return IncomingTrace(parent: Parent(traceID: traceID, spanID: spanID), sampled: sampled)
    }

    private static func b3Sampled<S: StringProtocol>(_ text: S) -> Bool? {
        switch text {
        case "1", "true", "d": true
        case "0", "false": false
        default: nil
        }
    }

    /// `traceparent: 00-{32 hex trace}-{16 hex parent}-{2 hex flags}`. A later version may add
    /// fields after the flags; version `ff` and all-zero IDs are invalid (W3C Trace Context).
    static func readW3C(_ headers: HTTPHeaders) -> IncomingTrace? {
        guard let value = headers.first(name: "traceparent") else { return nil }
        let parts = value.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 4, parts[0].utf8.count == 2, parts[0] != "ff", let version = TraceHex.value(parts[0]),
              version == 0 ? parts.count == 4 : true,
              parts[1].utf8.count == 32, let traceID = TraceHex.traceID(parts[1]),
              let spanID = TraceHex.spanID(parts[2]), parts[3].utf8.count == 2, let flags = TraceHex.value(parts[3]) else { return nil }
        let state = headers.first(name: "tracestate")
        return IncomingTrace(parent: Parent(traceID: traceID, spanID: spanID, traceState: state), sampled: flags & 1 == 1)
    }
}

/// The context a hop passes on: its own span as the next hop's parent.
public struct OutgoingTrace: Sendable, Equatable {
    public var traceID: TraceID
    public var spanID: UInt64
    public var parentSpanID: UInt64?
    public var sampled: Bool
    public var traceState: String?

    public init(traceID: TraceID, spanID: UInt64, parentSpanID: UInt64?, sampled: Bool, traceState: String? = nil) {
        self.traceID = traceID
        self.spanID = spanID
        self.parentSpanID = parentSpanID
        self.sampled = sampled
        self.traceState = traceState
    }

    /// Replaces the request's trace headers with this context in the propagation's formats.
    /// A single `b3` header is replaced by the multi-header form, as Envoy writes it.
    public func write(to headers: inout HTTPHeaders, propagation: TracePropagation) {
        if propagation.readsB3 {
            headers.remove(name: "b3")
            headers.replaceOrAdd(name: "x-b3-traceid", value: traceID.hex(short: false))
            headers.replaceOrAdd(name: "x-b3-spanid", value: TraceHex.text(spanID))
            if let parentSpanID {
                headers.replaceOrAdd(name: "x-b3-parentspanid", value: TraceHex.text(parentSpanID))
            } else {
                headers.remove(name: "x-b3-parentspanid")
            }
            headers.replaceOrAdd(name: "x-b3-sampled", value: sampled ? "1" : "0")
            headers.remove(name: "x-b3-flags")
        }
        if propagation.readsW3C {
            headers.replaceOrAdd(name: "traceparent", value: "00-\(traceID.hex())-\(TraceHex.text(spanID))-\(sampled ? "01" : "00")")
            if let traceState, !traceState.isEmpty {
                headers.replaceOrAdd(name: "tracestate", value: traceState)
            }
        }
    }
}

/// Fixed-width lowercase hex for IDs, and strict parsing (only hex digits, exact lengths).
public enum TraceHex {
    public static func text(_ value: UInt64) -> String {
        String(unsafeUninitializedCapacity: 16) { buffer in
            let digits: StaticString = "0123456789abcdef"
            for index in 0..<16 {
                buffer[index] = digits.utf8Start[Int((value >> UInt64((15 - index) * 4)) & 0xf)]
            }
            return 16
        }
    }

    public static func value<S: StringProtocol>(_ text: S) -> UInt64? {
        guard !text.isEmpty, text.utf8.count <= 16 else { return nil }
        var value: UInt64 = 0
        for byte in text.utf8 {
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | UInt64(digit)
        }
        return value
    }

    /// 16 or 32 hex digits, not all zero.
    static func traceID<S: StringProtocol>(_ text: S) -> TraceID? {
        let count = text.utf8.count
        guard count == 16 || count == 32 else { return nil }
        let split = text.index(text.startIndex, offsetBy: count - 16)
        guard let low = value(text[split...]) else { return nil }
        let high = count == 32 ? value(text[..<split]) : 0
        guard let high, high != 0 || low != 0 else { return nil }
        return TraceID(high: high, low: low)
    }

    /// 16 hex digits, not all zero.
    static func spanID<S: StringProtocol>(_ text: S) -> UInt64? {
        guard text.utf8.count == 16, let id = value(text), id != 0 else { return nil }
        return id
    }
}
