// One worker's Istio standard metrics: recorded on its event loop without a lock, merged when scraped.

/// A worker's series. It is confined to the worker's loop (recording is a dictionary update, no
/// lock shared across loops, as the issue asks); a scrape takes each worker's `snapshot()` on
/// that worker's loop and merges them.
public final class IstioMetricsRecorder {
    private var requests: [IstioRequestSeries: IstioSeries.Requests] = [:]
    private var connections: [IstioConnectionSeries: IstioSeries.Connections] = [:]
    private var peers: [IstioPeerKey: IstioPeerLabels] = [:]
    /// The last peer looked up: a connection's requests mostly repeat it, and comparing is
    /// cheaper than hashing.
    private var lastPeer: (key: IstioPeerKey, labels: IstioPeerLabels)?

    /// More distinct peers than this (only a client inventing announcements gets there) starts
    /// the cache afresh; the series already recorded keep their labels.
    static let peerCacheLimit = 4096

    public init() {}

    /// The peer labels for `key`, built by `build` (which decodes the announcement) only the
    /// first time this worker sees the key.
    public func peerLabels(for key: IstioPeerKey, build: (IstioPeerKey) -> IstioRequestContext) -> IstioPeerLabels {
        if let lastPeer, lastPeer.key == key { return lastPeer.labels }
        let labels: IstioPeerLabels
        if let known = peers[key] {
            labels = known
        } else {
            if peers.count >= Self.peerCacheLimit { peers.removeAll(keepingCapacity: true) }
            labels = build(key).peerLabels()
            peers[key] = labels
        }
        lastPeer = (key, labels)
        return labels
    }

    /// One finished request of `series`.
    public func recordRequest(_ series: IstioRequestSeries, durationMilliseconds: Double, requestBytes: Int, responseBytes: Int) {
        requests[series, default: IstioSeries.Requests()].record(durationMilliseconds: durationMilliseconds,
                                                                  requestBytes: requestBytes, responseBytes: responseBytes)
    }

    public func recordConnectionOpened(_ series: IstioConnectionSeries) {
        connections[series, default: IstioSeries.Connections()].opened += 1
    }

    /// Bytes a TCP connection moved since it was last reported (sent: to the downstream peer).
    public func recordConnectionBytes(_ series: IstioConnectionSeries, sent: Int, received: Int) {
        connections[series, default: IstioSeries.Connections()].sentBytes += UInt64(sent)
        connections[series, default: IstioSeries.Connections()].receivedBytes += UInt64(received)
    }

    public func recordConnectionClosed(_ series: IstioConnectionSeries) {
        connections[series, default: IstioSeries.Connections()].closed += 1
    }

    /// The series by their label values. Two recorded series can have the same values (after
    /// the peer cache started afresh); they are added together here.
    public func snapshot() -> IstioMetricsSnapshot {
        var snapshot = IstioMetricsSnapshot()
        for (series, values) in requests { snapshot.requests[series.key, default: IstioSeries.Requests()].merge(values) }
        for (series, values) in connections { snapshot.connections[series.key, default: IstioSeries.Connections()].merge(values) }
        return snapshot
    }
}

/// What a request's peer labels depend on besides the worker's own workload: the HTTP proxy
/// looks its labels up by these raw values, so the peer's announcement is decoded once.
public struct IstioPeerKey: Hashable, Sendable {
    public var reporter: IstioRequestContext.Reporter
    /// The peer's `x-envoy-peer-metadata` value as received.
    public var announcement: String?
    public var sourcePrincipal: String?
    public var destinationPrincipal: String?
    public var destinationService: String?

    public init(reporter: IstioRequestContext.Reporter, announcement: String? = nil, sourcePrincipal: String? = nil,
                destinationPrincipal: String? = nil, destinationService: String? = nil) {
        self.reporter = reporter
        self.announcement = announcement
        self.sourcePrincipal = sourcePrincipal
        self.destinationPrincipal = destinationPrincipal
        self.destinationService = destinationService
    }
}

extension IstioSeries.Requests {
    mutating func record(durationMilliseconds: Double, requestBytes: Int, responseBytes: Int) {
        total += 1
        self.durationMilliseconds.observe(durationMilliseconds)
        self.requestBytes.observe(Double(requestBytes))
        self.responseBytes.observe(Double(responseBytes))
    }
}

/// Every worker's series, merged: what `/stats/prometheus` renders.
public struct IstioMetricsSnapshot: Sendable, Equatable {
    public var requests: [IstioSeriesKey: IstioSeries.Requests] = [:]
    public var connections: [IstioSeriesKey: IstioSeries.Connections] = [:]

    public init(requests: [IstioSeriesKey: IstioSeries.Requests] = [:], connections: [IstioSeriesKey: IstioSeries.Connections] = [:]) {
        self.requests = requests
        self.connections = connections
    }

    public mutating func merge(_ other: IstioMetricsSnapshot) {
        for (key, series) in other.requests { requests[key, default: IstioSeries.Requests()].merge(series) }
        for (key, series) in other.connections { connections[key, default: IstioSeries.Connections()].merge(series) }
    }
}
