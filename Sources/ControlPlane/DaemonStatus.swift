// meshd's own state that the debug API shows: readiness and config-source problems.

import Synchronization

/// Written by the config loop, read by the debug API.
public final class DaemonStatus: Sendable {
    private struct State {
        var ready = false
        var problems: [String] = []
    }

    private let state = Mutex(State())

    public init() {}

    public var isReady: Bool { state.withLock { $0.ready } }
    public var problems: [String] { state.withLock { $0.problems } }

    func loaded(problems: [String]) {
        state.withLock {
            $0.ready = true
            $0.problems = problems
        }
    }
}
