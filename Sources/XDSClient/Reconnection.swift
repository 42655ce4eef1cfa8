// How the proxy's xDS streams come back after a break: a jittered, growing delay, reset by a stream that worked.

/// Opens a stream again and again until the task is cancelled. Between streams it waits a
/// random time up to a bound (full jitter: a fleet of proxies does not reconnect in lockstep)
/// that starts at 100 ms, doubles after every stream that delivered nothing, stops at 10 s, and
/// starts over after one that delivered something.
enum Reconnection {
    /// `stream` runs one stream to its end and says whether it delivered a response; `ended`
    /// describes the break for the log, given the wait.
    static func run(ended: (Duration) -> String, log: @Sendable (String) -> Void, _ stream: () async -> Bool) async {
        var delay: Duration = .milliseconds(100)
        while !Task.isCancelled {
            let received = await stream()
            if Task.isCancelled { return }
            if received { delay = .milliseconds(100) }
            let wait = Duration.milliseconds(Int64.random(in: 0...max(1, delay.milliseconds)))
            log(ended(wait))
            do {
                try await Task.sleep(for: wait)
            } catch {
                return  // cancelled: the proxy is stopping
            }
            delay = min(delay * 2, .seconds(10))
        }
    }
}

extension Duration {
    var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}
