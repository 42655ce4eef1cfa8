// One worker's Istio standard metrics: recorded on its event loop without a lock, merged when scraped.

/// A worker's series. It is confined to the worker's loop (recording is a dictionary update, no
/// lock shared across loops, as the issue asks); a scrape takes each worker's `snapshot()` on
/// that worker's loop and merges them.
public final class IstioMetricsRecorder {
    private var requests: [IstioSeriesKey: IstioSeries.Requests] = [:]
    private var connections: [IstioSeriesKey: IstioSeries.Connections] = [:]

    public init() {}

    /// One finished request of the series `key` (`IstioSeries.requestLabels`).
    public func recordRequest(_ key: IstioSeriesKey, durationMilliseconds: Double, requestBytes: Int, responseBytes: Int) {
        requests[key, default: IstioSeries.Requests()].record(durationMilliseconds: durationMilliseconds,
                                                               requestBytes: requestBytes, responseBytes: responseBytes)
    }

    public func recordConnectionOpened(_ key: IstioSeriesKey) {
        connections[key, default: IstioSeries.Connections()].opened += 1
    }

    /// Bytes a TCP connection moved since it was last reported (sent: to the downstream peer).
    public func recordConnectionBytes(_ key: IstioSeriesKey, sent: Int, received: Int) {
        connections[key, default: IstioSeries.Connections()].sentBytes += UInt64(sent)
        connections[key, default: IstioSeries.Connections()].receivedBytes += UInt64(received)
    }

    public func recordConnectionClosed(_ key: IstioSeriesKey) {
        connections[key, default: IstioSeries.Connections()].closed += 1
    }

    public func snapshot() -> IstioMetricsSnapshot {
        IstioMetricsSnapshot(requests: requests, connections: connections)
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
