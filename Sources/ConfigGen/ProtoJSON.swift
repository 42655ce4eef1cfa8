// Proto messages as stable, readable JSON: for golden files, debug dumps and printed bootstraps.

import EnvoyAPI
import Foundation
import SwiftProtobuf

public enum ProtoJSON {
    /// Proto JSON, indented, keys sorted, so the same message always prints the same text.
    public static func pretty(_ message: some SwiftProtobuf.Message) throws -> String {
        EnvoyTypeRegistry.registerAll()
        let compact = try message.jsonUTF8Data()
        let object = try JSONSerialization.jsonObject(with: compact)
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        // Foundation prints an empty object over three lines; `{}` reads better.
        let text = String(decoding: data, as: UTF8.self)
            .replacingOccurrences(of: #"\{\s*\n\s*\}"#, with: "{}", options: .regularExpression)
        return text + "\n"
    }
}
