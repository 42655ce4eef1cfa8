// Istio's header edits (set, add, remove on requests and responses) → Envoy's headers_to_add/remove.

import EnvoyAPI
import MeshAPI

/// `headers.request/response.{set,add,remove}`: `set` overwrites, `add` appends, `remove` drops;
/// each list ordered by header name so the output is stable.
enum HeaderOperationsTranslator {
    static func apply(_ headers: Headers?, to route: inout Envoy_Config_Route_V3_Route) {
        guard let headers else { return }
        route.requestHeadersToAdd += options(headers.request)
        route.requestHeadersToRemove += headers.request?.remove ?? []
        route.responseHeadersToAdd += options(headers.response)
        route.responseHeadersToRemove += headers.response?.remove ?? []
    }

    static func apply(_ headers: Headers?, to cluster: inout Envoy_Config_Route_V3_WeightedCluster.ClusterWeight) {
        guard let headers else { return }
        cluster.requestHeadersToAdd += options(headers.request)
        cluster.requestHeadersToRemove += headers.request?.remove ?? []
        cluster.responseHeadersToAdd += options(headers.response)
        cluster.responseHeadersToRemove += headers.response?.remove ?? []
    }

    static func options(_ operations: Headers.HeaderOperations?) -> [Envoy_Config_Core_V3_HeaderValueOption] {
        guard let operations else { return [] }
        var options: [Envoy_Config_Core_V3_HeaderValueOption] = []
        for (name, value) in (operations.set ?? [:]).sorted(by: { $0.key < $1.key }) {
            options.append(option(name, value, .overwriteIfExistsOrAdd))
        }
        for (name, value) in (operations.add ?? [:]).sorted(by: { $0.key < $1.key }) {
            options.append(option(name, value, .appendIfExistsOrAdd))
        }
        return options
    }

    private static func option(_ name: String, _ value: String,
                               _ action: Envoy_Config_Core_V3_HeaderValueOption.HeaderAppendAction) -> Envoy_Config_Core_V3_HeaderValueOption {
        var option = Envoy_Config_Core_V3_HeaderValueOption()
        option.header.key = name
        option.header.value = value
        option.appendAction = action
        return option
    }
}
