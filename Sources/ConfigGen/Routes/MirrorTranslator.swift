// mirror / mirrors with their percentages → Envoy's request_mirror_policies.

import EnvoyAPI
import MeshAPI
import SwiftProtobuf

/// Istio's traffic mirroring: `mirror` (with `mirrorPercentage`, or the older `mirrorPercent`)
/// and the list form `mirrors`; all of a share unless a percentage says otherwise.
enum MirrorTranslator {
    static func policies(_ route: HTTPRoute, namespace: String, context: RouteContext) -> [Envoy_Config_Route_V3_RouteAction.RequestMirrorPolicy] {
        var policies: [Envoy_Config_Route_V3_RouteAction.RequestMirrorPolicy] = []
        if let mirror = route.mirror {
            let share = route.mirrorPercentage?.value ?? route.mirrorPercent.map(Double.init) ?? 100
            policies.append(policy(mirror, share: share, namespace: namespace, context: context))
        }
        for mirror in route.mirrors ?? [] {
            guard let destination = mirror.destination else { continue }
            policies.append(policy(destination, share: mirror.percentage?.value ?? 100, namespace: namespace, context: context))
        }
        return policies
    }

    private static func policy(_ destination: Destination, share: Double, namespace: String,
                               context: RouteContext) -> Envoy_Config_Route_V3_RouteAction.RequestMirrorPolicy {
        var policy = Envoy_Config_Route_V3_RouteAction.RequestMirrorPolicy()
        policy.cluster = context.clusterName(destination, namespace: namespace)
        policy.runtimeFraction.defaultValue = Envoy_Type_V3_FractionalPercent(percent: share)
        // Istio keeps mirrored requests out of traces.
        policy.traceSampled = Google_Protobuf_BoolValue(false)
        return policy
    }
}
