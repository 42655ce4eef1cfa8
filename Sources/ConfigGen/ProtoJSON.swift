// Proto messages as stable, readable JSON: for golden files, debug dumps and printed bootstraps.

import EnvoyAPI
import Foundation
import SwiftProtobuf

public enum ProtoJSON {
    /// Proto JSON, indented, keys sorted, so the same message always prints the same text.
    public static func pretty(_ message: some SwiftProtobuf.Message) throws -> String {
        EnvoyTypeRegistry.registerAll()
        return try pretty(object: JSONSerialization.jsonObject(with: try message.jsonUTF8Data()))
    }

    /// A list of messages as one JSON array.
    public static func pretty(list messages: [any SwiftProtobuf.Message]) throws -> String {
        EnvoyTypeRegistry.registerAll()
        return try pretty(object: messages.map { try JSONSerialization.jsonObject(with: try $0.jsonUTF8Data()) })
    }

    private static func pretty(object: Any) throws -> String {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        // Foundation prints an empty object over three lines; `{}` reads better.
        let text = String(decoding: data, as: UTF8.self)
            .replacingOccurrences(of: #"\{\s*\n\s*\}"#, with: "{}", options: .regularExpression)
        return text + "\n"
    }
}
