// The CEL subset access-log filters translate: what each form means, and precedence of && over ||.

import MeshAPI
import Testing

@Suite struct AccessLogConditionTests {
    func parsed(_ expression: String) -> AccessLogCondition? {
        try? AccessLogCondition.parse(expression).get()
    }

    @Test func formsAndPrecedence() {
        #expect(parsed("response.code >= 400") == .responseCode(.atLeast, 400))
        #expect(parsed("500 <= response.code") == .responseCode(.atLeast, 500))
        #expect(parsed("request.duration > duration(\"1.5s\")") == .duration(.greater, milliseconds: 1500))
        #expect(parsed("'x-canary' in request.headers") == .header("x-canary", .present))
        #expect(parsed("request.headers[\"X-Debug\"] != 'on'") == .header("x-debug", .notEquals("on")))
        #expect(parsed("request.method == 'POST'") == .header(":method", .equals("POST")))
        #expect(parsed("response.grpc_status != 0") == .grpcStatus(.notEqual, 0))
        #expect(parsed("response.code == 404 || response.code >= 500 && request.host == 'a' || request.path == '/x'")
            == .any([.responseCode(.equal, 404), .all([.responseCode(.atLeast, 500), .header(":authority", .equals("a"))]),
                     .header(":path", .equals("/x"))]))
        #expect(parsed("(response.code == 404 || response.code == 503) && request.duration < duration('250ms')")
            == .all([.any([.responseCode(.equal, 404), .responseCode(.equal, 503)]), .duration(.less, milliseconds: 250)]))
    }

    @Test func refusals() {
        for expression in ["response.code", "response.code >= 'x'", "response.grpc_status > 2", "a == b", "(response.code == 1",
                           "response.code == 1 response.code == 2", "!('a' in request.headers)"] {
            #expect(parsed(expression) == nil, "\(expression)")
        }
    }
}
