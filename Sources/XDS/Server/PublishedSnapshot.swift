// A snapshot as the streams receive it, with what their generations share.

import ConfigGen
import MeshModel

/// One published snapshot: ConfigGen's PushContext (indexes and per-namespace clusters built
/// once) and the packed resources shared among proxies. Every stream generating for this
/// snapshot uses the same instance; the next snapshot gets a new one, so nothing leaks between
/// versions.
public final class PublishedSnapshot: Sendable {
    public let context: PushContext
    let packing = ResourcePackCache()
    /// When the snapshot was handed to the streams (push convergence is measured from here).
    public let publishedAt = ContinuousClock.now

    init(_ snapshot: MeshSnapshot) {
        self.context = PushContext(snapshot: snapshot)
    }

    public var snapshot: MeshSnapshot { context.snapshot }
}
