// Decoding Istio YAML and JSON into typed resources: positions, documents, Lists, versions.

import Foundation
@testable import MeshAPI
import Testing

func load(_ text: String, file: String = "test.yaml") -> LoadResult {
    ConfigLoader().load([ConfigInput(file: file, data: Data(text.utf8))])
}

@Suite struct DecodingTests {
    @Test func nestedFieldErrorsPointAtTheirLineAndColumn() throws {
        let result = load("""
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata:
              name: reviews
            spec:
              hosts: [reviews]
              http:
              - route:
                - destination: {host: reviews}
                  weight: heavy
            """)
        let problem = try #require(result.diagnostics.first)
        #expect(problem.location == SourceLocation(file: "test.yaml", line: 10, column: 15))
        #expect(problem.path?.description == "spec.http[0].route[0].weight")
        #expect(problem.resource?.description == "VirtualService default/reviews")
        #expect(problem.message == "expected an integer, found the string \"heavy\"")
    }

    @Test func multiDocumentFilesSkipEmptyDocuments() {
        let result = load("""
            # leading comment
            ---
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata: {name: a}
            spec: {host: a}
            ---
            ---
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata: {name: b, namespace: team}
            spec: {host: b}
            """)
        #expect(result.diagnostics.isEmpty)
        #expect(result.resources.map(\.resource.name) == ["a", "b"])
        #expect(result.resources.map(\.resource.namespace) == ["default", "team"])
    }

    @Test func jsonKeepsPositions() throws {
        let result = load("""
            {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
             "metadata": {"name": "r"},
             "spec": {"host": "r", "trafficPolicy": {"tls": {"mode": "MUTUALLY"}}}}
            """, file: "r.json")
        let problem = try #require(result.diagnostics.first)
        #expect(problem.location?.line == 3)
        #expect(problem.path?.description == "spec.trafficPolicy.tls.mode")
    }

    @Test func kubernetesListsAndTypedListsExpand() {
        for (apiVersion, listKind) in [("v1", "List"), ("networking.istio.io/v1", "DestinationRuleList")] {
            let result = load("""
                apiVersion: \(apiVersion)
                kind: \(listKind)
                items:
                - {apiVersion: networking.istio.io/v1, kind: DestinationRule, metadata: {name: a}, spec: {host: a}}
                - {apiVersion: networking.istio.io/v1, kind: DestinationRule, metadata: {name: b}, spec: {host: b}}
                """)
            #expect(result.resources.count == 2)
            #expect(result.diagnostics.isEmpty)
        }
    }

    @Test(arguments: ResourceKind.allCases)
    func everyServedVersionOfEveryKindLoads(kind: ResourceKind) {
        for version in kind.versions {
            let result = load("""
                apiVersion: \(kind.group)/\(version)
                kind: \(kind.rawValue)
                metadata: {name: x}
                """)
            #expect(result.resources.first?.resource.kind == kind, "\(kind.group)/\(version)")
            #expect(result.diagnostics.isEmpty)
        }
    }

    @Test func unknownKindsAreReportedOnceWithACount() {
        let result = load("""
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: a}
            ---
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: b}
            ---
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: c}
            """)
        #expect(result.diagnostics.map(\.message) == [
            "ConfigMap (v1) is not a SwiftMesh resource, ignored (2 documents)",
            "Deployment (apps/v1) is not a SwiftMesh resource, ignored",
        ])
        #expect(result.diagnostics.allSatisfy { $0.severity == .info })
    }

    @Test func protoJSONLeniencies() throws {
        // proto field names (snake_case) and integers written as strings are accepted, as Istio does.
        let result = load("""
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata: {name: r}
            spec:
              host: r
              traffic_policy:
                connection_pool:
                  tcp: {max_connections: "100"}
            """)
        #expect(result.diagnostics.isEmpty)
        guard case .destinationRule(let rule) = try #require(result.resources.first).resource.spec else {
            Issue.record("not a DestinationRule")
            return
        }
        #expect(rule.trafficPolicy?.connectionPool?.tcp?.maxConnections == 100)
    }

    @Test func unquotedNumbersAndBooleansAreNotStrings() {
        let result = load("""
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata: {name: r}
            spec:
              host: r
              subsets:
              - name: v1
                labels: {version: 1, canary: yes, tier: "2"}
            """)
        // Each bad entry of a map is reported; the good ones are kept.
        #expect(result.diagnostics.map(\.message) == [
            "expected a string, found the number 1; quote it (\"1\") to make it a string",
            "expected a string, found the boolean yes; quote it (\"yes\") to make it a string",
        ])
        guard case .destinationRule(let rule) = result.resources.first?.resource.spec else {
            Issue.record("not a DestinationRule")
            return
        }
        #expect(rule.subsets?.first?.labels == ["tier": "2"])
    }

    @Test func resourcesKnowWhereTheirFieldsWereWritten() throws {
        let result = load("""
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata: {name: reviews}
            spec:
              hosts: [reviews]
              http:
              - route:
                - destination: {host: reviews, subset: v2}
            """)
        let resource = try #require(result.resources.first?.resource)
        #expect(resource.location(of: FieldPath.spec / "http" / 0 / "route" / 0 / "destination" / "subset")
                == SourceLocation(file: "test.yaml", line: 8, column: 36))
        #expect(resource.location(of: FieldPath.spec / "http" / 0 / "timeout")?.line == 7, "a missing field points at its parent")
    }

    @Test func everyProblemInADocumentIsReportedInOnePass() {
        let result = load("""
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata: {name: r}
            spec:
              hots: r
              trafficPolicy:
                loadBalancer: {simple: FASTEST}
                outlierDetection: {interval: soon}
            """)
        #expect(result.diagnostics.count == 3)
        #expect(result.resources.count == 1, "the resource is still returned, with the bad fields absent")
    }

    @Test func durationsUseGoSyntax() throws {
        #expect(ProtoDuration.parse("1.5s") == 1_500_000_000)
        #expect(ProtoDuration.parse("100ms") == 100_000_000)
        #expect(ProtoDuration.parse("1h2m3s") == 3_723_000_000_000)
        #expect(ProtoDuration.parse("250us") == 250_000)
        #expect(ProtoDuration.parse("0") == 0)
        #expect(ProtoDuration.parse("-2s") == -2_000_000_000)
        for bad in ["", "1", "s", "1.2.3s", "5 s", "1d", "--1s", "1e3s"] {
            #expect(ProtoDuration.parse(bad) == nil, "\(bad)")
        }
    }

    @Test func plainScalarsResolveAsKubernetesDoes() {
        #expect(PlainScalar.kind(of: "9080") == .integer)
        #expect(PlainScalar.kind(of: "0x1F") == .integer)
        #expect(PlainScalar.kind(of: "1.5") == .float)
        #expect(PlainScalar.kind(of: "on") == .boolean)
        #expect(PlainScalar.kind(of: "~") == .null)
        #expect(PlainScalar.kind(of: "v1") == .string)
        #expect(PlainScalar.kind(of: "1.2.3") == .string)
        #expect(PlainScalar.kind(of: "2026-11-21") == .string)
    }

    @Test func suggestionsFindCloseNamesOnly() {
        #expect(Suggestion.closest(to: "timout", among: ["timeout", "retries"]) == "timeout")
        #expect(Suggestion.closest(to: "hsots", among: ["hosts", "http"]) == "hosts")
        #expect(Suggestion.closest(to: "colour", among: ["loadBalancer", "tls"]) == nil)
    }
}
