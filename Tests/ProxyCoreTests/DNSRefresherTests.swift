// DNS clusters: names resolved with the system resolver, expanded into hosts, refreshed, kept on failure.

import Foundation
@testable import ProxyConfig
@testable import ProxyUpstream
import Synchronization
import Testing

@Suite struct DNSRefresherTests {
    static func assignment(_ hosts: [String], port: Int = 9080) -> LoadAssignment {
        LoadAssignment(clusterName: "external", localities: [
            LocalityEndpoints(locality: Locality(region: "r"), priority: 0, weight: 1, endpoints: hosts.map {
                EndpointConfig(address: SocketAddressConfig(host: $0, port: port), weight: 3, health: .healthy, tlsMode: "istio")
            }),
        ])
    }

    @Test func theSystemResolverReadsTheHostsFile() throws {
        #expect(try DNSLookup.addresses(of: "localhost", family: .v4Only) == ["127.0.0.1"])
        #expect(throws: DNSLookup.Failure.self) { try DNSLookup.addresses(of: "no-such-host.invalid", family: .auto) }
    }

    @Test func eachAddressOfANameIsAHostLikeTheName() {
        let named = Self.assignment(["api.example.com", "10.0.0.9"])
        #expect(DNSEndpoints.names(in: named) == ["api.example.com"])
        let strict = DNSEndpoints.expand(named, addresses: ["api.example.com": ["10.1.0.1", "10.1.0.2"]], logical: false)
        #expect(strict.localities[0].endpoints.map(\.address.description) == ["10.1.0.1:9080", "10.1.0.2:9080", "10.0.0.9:9080"])
        #expect(strict.localities[0].endpoints.allSatisfy { $0.weight == 3 && $0.tlsMode == "istio" })
        #expect(strict.localities[0].locality == Locality(region: "r"))
        let logical = DNSEndpoints.expand(Self.assignment(["api.example.com"]), addresses: ["api.example.com": ["10.1.0.1", "10.1.0.2"]], logical: true)
        #expect(logical.localities[0].endpoints.map(\.address.description) == ["10.1.0.1:9080"])
        // A name that resolved to nothing (yet) gives no host rather than a bogus one.
        #expect(DNSEndpoints.expand(named, addresses: [:], logical: false).localities[0].endpoints.count == 1)
    }

    /// A resolver whose answers the test changes, and the rounds it was asked for.
    final class FakeDNS: Sendable {
        let answers = Mutex<[String: [String]]>([:])
        let lookups = Atomic<Int>(0)

        func lookup(_ host: String, _ family: ClusterConfig.DNSResolution.Family) throws -> [String] {
            lookups.add(1, ordering: .relaxed)
            guard let found = answers.withLock({ $0[host] }) else { throw DNSLookup.Failure(description: "\(host): not found") }
            return found
        }
    }

    @Test func roundsRepeatAndReportOnlyChanges() async throws {
        let fake = FakeDNS()
        fake.answers.withLock { $0["api.example.com"] = ["10.1.0.1"] }
        let delivered = Mutex<[[String]]>([])
        let logged = Mutex<[String]>([])
        let refresher = DNSRefresher(lookup: { try fake.lookup($0, $1) }, log: { line in logged.withLock { $0.append(line) } })
        refresher.deliver { _, assignment in delivered.withLock { $0.append(assignment.localities[0].endpoints.map(\.address.host)) } }
        let resolution = ClusterConfig.DNSResolution(refresh: .milliseconds(20))
        #expect(refresher.track(["external": (Self.assignment(["api.example.com"]), resolution)]) == ["external"])
        // The same cluster again (an unrelated CDS update) does not restart it.
        #expect(refresher.track(["external": (Self.assignment(["api.example.com"]), resolution)]).isEmpty)
        try await Self.until { delivered.withLock { $0 } == [["10.1.0.1"]] && fake.lookups.load(ordering: .relaxed) >= 3 }
        fake.answers.withLock { $0["api.example.com"] = ["10.1.0.2", "10.1.0.3"] }
        try await Self.until { delivered.withLock { $0.last } == ["10.1.0.2", "10.1.0.3"] }
        // The name stops resolving: the last addresses stay, the failure is said once.
        fake.answers.withLock { $0["api.example.com"] = nil }
        let before = fake.lookups.load(ordering: .relaxed)
        try await Self.until { fake.lookups.load(ordering: .relaxed) >= before + 3 }
        #expect(delivered.withLock { $0.count } == 2)
        #expect(logged.withLock { $0 } == ["cluster external: DNS lookup failed, keeping the last addresses: api.example.com: not found"])
        // Untracked: no more rounds.
        refresher.track([:])
        try await Task.sleep(for: .milliseconds(60))
        let stopped = fake.lookups.load(ordering: .relaxed)
        try await Task.sleep(for: .milliseconds(100))
        #expect(fake.lookups.load(ordering: .relaxed) == stopped)
    }

    static func until(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(5)
        while !condition() {
            guard ContinuousClock.now < deadline else {
                Issue.record("condition not met within 5 s")
                return
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}
