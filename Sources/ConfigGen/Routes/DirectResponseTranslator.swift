// HTTPDirectResponse → Envoy's DirectResponseAction: a fixed status and body.

import EnvoyAPI
import Foundation
import MeshAPI

/// Istio's `directResponse`: the body is a string, or bytes written in base64.
enum DirectResponseTranslator {
    static func directResponse(_ response: HTTPDirectResponse, field: String, resource: ResourceReference) throws -> Envoy_Config_Route_V3_DirectResponseAction {
        var action = Envoy_Config_Route_V3_DirectResponseAction()
        action.status = response.status ?? 200
        if let string = response.body?.string {
            action.body.inlineString = string
        } else if let bytes = response.body?.bytes {
            guard let data = Data(base64Encoded: bytes) else {
                throw TranslationError(resource, field: "\(field).directResponse.body.bytes", reason: "is not base64")
            }
            action.body.inlineBytes = data
        }
        return action
    }
}
