// x-request-id values: random version-4 UUIDs in lowercase text, made without Foundation; and random IDs for tracing.

/// One worker's source of request IDs. IDs must be unique, not secret (Envoy draws them from its
/// ordinary random generator too), so a fast generator seeded once from the system's is enough;
/// Foundation's `UUID().uuidString` asked the kernel for bytes and formatted through `vfprintf`
/// on every request.
struct RequestIDGenerator {
    /// wyrand: 64-bit state, one multiply per draw, passes BigCrush.
    private var state: UInt64

    init() {
        var system = SystemRandomNumberGenerator()
        state = system.next()
    }

    init(seed: UInt64) { state = seed }

    /// 64 random bits (request IDs, and the span and trace IDs of tracing).
    mutating func nextBits() -> UInt64 {
        state &+= 0xa076_1d64_78bd_642f
        let product = state.multipliedFullWidth(by: state ^ 0xe703_7ed1_a0b4_28db)
        return product.high ^ product.low
    }

    /// `xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx` with y in 8...b (RFC 9562 version 4, variant 1).
    mutating func next() -> String {
        let high = (nextBits() & 0xffff_ffff_ffff_0fff) | 0x0000_0000_0000_4000
        let low = (nextBits() & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000
        return String(unsafeUninitializedCapacity: 36) { buffer in
            let digits: StaticString = "0123456789abcdef"
            var position = 0
            func put(_ value: UInt64, nibbles: Int) {
                var shift = (nibbles - 1) * 4
                while shift >= 0 {
                    buffer[position] = digits.utf8Start[Int((value >> UInt64(shift)) & 0xf)]
                    position += 1
                    shift -= 4
                }
            }
            func dash() {
                buffer[position] = UInt8(ascii: "-")
                position += 1
            }
            put(high >> 32, nibbles: 8)
            dash()
            put(high >> 16, nibbles: 4)
            dash()
            put(high, nibbles: 4)
            dash()
            put(low >> 48, nibbles: 4)
            dash()
            put(low, nibbles: 12)
            return position
        }
    }
}
