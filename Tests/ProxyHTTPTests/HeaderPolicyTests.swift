// Hop-by-hop removal and request IDs: the per-request text work, done byte-wise.

import NIOHTTP1
@testable import ProxyHTTP
import Testing

@Suite struct HeaderPolicyTests {
    @Test func hopByHopHeadersAndTheOnesConnectionNamesAreRemovedInAnyCase() {
        var headers: HTTPHeaders = ["Host": "web", "CONNECTION": " Keep-Alive , X-Secret ,close,", "x-secret": "1", "X-Kept": "2",
                                    "Keep-Alive": "timeout=5", "TE": "gzip", "Upgrade": "h2c", "Proxy-Connection": "keep-alive",
                                    "content-length": "3"]
        HeaderPolicy.removeHopByHop(&headers)
        #expect(headers.map(\.name) == ["Host", "X-Kept", "content-length"])
        var grpc: HTTPHeaders = ["te": "Trailers", "content-type": "application/grpc"]
        HeaderPolicy.removeHopByHop(&grpc)
        #expect(grpc["te"] == ["trailers"])  // gRPC's one TE value survives
        var untouched: HTTPHeaders = ["host": "web", "x-connection": "close", "tee": "1"]
        HeaderPolicy.removeHopByHop(&untouched)
        #expect(untouched.count == 3)
    }

    @Test func cookiesAreFoundByNameWithSpacesAroundThem() {
        let headers: HTTPHeaders = ["cookie": "a=1;  session = xyz ; b=2", "Cookie": "user=jason"]
        #expect(HeaderPolicy.cookie(named: "b", in: headers) == "2")
        #expect(HeaderPolicy.cookie(named: "user", in: headers) == "jason")
        #expect(HeaderPolicy.cookie(named: "none", in: headers) == nil)
    }

    @Test func requestIDsAreVersion4UUIDsAndDoNotRepeat() {
        var generator = RequestIDGenerator(seed: 42)
        var seen = Set<String>()
        for _ in 0..<10_000 {
            let id = generator.next() as String
            let bytes = Array(id.utf8)
            #expect(bytes.count == 36)
            #expect([8, 13, 18, 23].allSatisfy { bytes[$0] == UInt8(ascii: "-") })
            #expect(bytes[14] == UInt8(ascii: "4"))
            #expect("89ab".utf8.contains(bytes[19]))
            #expect(id.utf8.allSatisfy { "0123456789abcdef-".utf8.contains($0) })
            seen.insert(id)
        }
        #expect(seen.count == 10_000)
    }
}
