// `meshctl proxy-bootstrap` end to end: the printed bootstrap and the usage errors.

import Foundation
import Testing

@Suite struct ProxyBootstrapCommandTests {
    @Test func printsABootstrapForTheNode() throws {
        let result = try Meshctl.run(["proxy-bootstrap", "--node-id", "sidecar~127.0.1.4~ratings-v1.default~default.svc.cluster.local",
                                      "--xds-address", "127.0.0.1:15010", "--xds-protocol", "delta_grpc", "--label", "app=ratings"])
        #expect(result.status == 0, "\(result.error)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
        let node = try #require(object["node"] as? [String: Any])
        #expect(node["id"] as? String == "sidecar~127.0.1.4~ratings-v1.default~default.svc.cluster.local")
        let metadata = try #require(node["metadata"] as? [String: Any])
        #expect(metadata["INTERCEPTION_MODE"] as? String == "NONE")
        #expect((metadata["LABELS"] as? [String: Any])?["app"] as? String == "ratings")
        let ads = (object["dynamicResources"] as? [String: Any])?["adsConfig"] as? [String: Any]
        #expect(ads?["apiType"] as? String == "DELTA_GRPC")
        let admin = ((object["admin"] as? [String: Any])?["address"] as? [String: Any])?["socketAddress"] as? [String: Any]
        #expect(admin?["address"] as? String == "127.0.1.4", "admin binds the proxy's own address")
    }

    @Test func badArgumentsExitTwo() throws {
        for arguments in [
            ["proxy-bootstrap", "--node-id", "sidecar~1.2.3.4~noname~x", "--xds-address", "127.0.0.1:15010"],
            ["proxy-bootstrap", "--node-id", "sidecar~1.2.3.4~a.b~b.svc.cluster.local", "--xds-address", "127.0.0.1"],
            ["proxy-bootstrap", "--node-id", "sidecar~1.2.3.4~a.b~b.svc.cluster.local", "--xds-address", "127.0.0.1:1", "--interception", "tproxy"],
        ] {
            let result = try Meshctl.run(arguments)
            #expect(result.status == 2, "\(arguments): \(result.output)")
            #expect(!result.error.isEmpty)
        }
    }
}
