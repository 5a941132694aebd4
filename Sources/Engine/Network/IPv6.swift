#if canImport(Glibc)
import Glibc
#endif

/// An IPv6 address, kept as its 16 bytes (as two 64-bit halves for arithmetic).
public struct IPv6Address: Sendable, Hashable, Comparable, TextCodable {
    public var high: UInt64
    public var low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    public init(bytes: [UInt8]) {
        high = bytes.prefix(8).reduce(0) { $0 << 8 | UInt64($1) }
        low = bytes.dropFirst(8).prefix(8).reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// Any form `inet_pton` takes (`fd00::1`, `fd00:0:0::1`, `::ffff:1.2.3.4`).
    public init?(_ text: String) {
        var a = in6_addr()
        guard !text.contains("%"), inet_pton(AF_INET6, text, &a) == 1 else { return nil }
        self.init(bytes: withUnsafeBytes(of: &a) { Array($0) })
    }

    public var bytes: [UInt8] {
        (0..<8).map { UInt8(high >> (56 - 8 * UInt64($0)) & 0xff) } + (0..<8).map { UInt8(low >> (56 - 8 * UInt64($0)) & 0xff) }
    }

    /// The canonical form (RFC 5952: lower case, the longest run of zeros as `::`).
    public var description: String {
        var a = in6_addr()
        withUnsafeMutableBytes(of: &a) { raw in for (i, b) in bytes.enumerated() { raw[i] = b } }
        var buffer = [CChar](repeating: 0, count: 64)
        _ = inet_ntop(AF_INET6, &a, &buffer, socklen_t(buffer.count))
        return String(cString: buffer)
    }

    public static func < (a: IPv6Address, b: IPv6Address) -> Bool { (a.high, a.low) < (b.high, b.low) }

    /// The name a reverse lookup asks for: the 32 nibbles backwards under `ip6.arpa`.
    public var reverseName: String {
        bytes.reversed().flatMap { [String($0 & 0x0f, radix: 16), String($0 >> 4, radix: 16)] }.joined(separator: ".") + ".ip6.arpa"
    }

    /// The address a reverse name (`…ip6.arpa`) asks about.
    public static func fromReverseName(_ name: String) -> IPv6Address? {
        let lower = name.lowercased()
        guard lower.hasSuffix(".ip6.arpa") else { return nil }
        let nibbles = lower.dropLast(".ip6.arpa".count).split(separator: ".")
        guard nibbles.count == 32 else { return nil }
        var bytes: [UInt8] = []
        let values = nibbles.reversed().compactMap { UInt8($0, radix: 16) }
        guard values.count == 32 else { return nil }
        for i in stride(from: 0, to: 32, by: 2) { bytes.append(values[i] << 4 | values[i + 1]) }
        return IPv6Address(bytes: bytes)
    }

    public static let textKind = "IPv6 address"
}

/// An IPv6 subnet in CIDR form.
public struct IPv6Network: Sendable, Hashable, TextCodable {
    public var address: IPv6Address
    public var prefix: Int

    public init(address: IPv6Address, prefix: Int) {
        self.address = address
        self.prefix = max(0, min(128, prefix))
    }

    /// `fd00:1234::/64`.
    public init?(_ text: String) {
        guard let slash = text.lastIndex(of: "/"), let a = IPv6Address(String(text[..<slash])),
              let p = Int(text[text.index(after: slash)...]), p >= 0, p <= 128 else { return nil }
        self.init(address: a, prefix: p)
    }

    var masks: (UInt64, UInt64) {
        let highBits = min(prefix, 64), lowBits = max(0, prefix - 64)
        return (highBits == 0 ? 0 : UInt64.max << UInt64(64 - highBits), lowBits == 0 ? 0 : UInt64.max << UInt64(64 - lowBits))
    }

    public var base: IPv6Address {
        let (mh, ml) = masks
        return IPv6Address(high: address.high & mh, low: address.low & ml)
    }

    public var description: String { "\(base)/\(prefix)" }

    public func contains(_ a: IPv6Address) -> Bool {
        let (mh, ml) = masks
        return a.high & mh == base.high && a.low & ml == base.low
    }

    public func overlaps(_ other: IPv6Network) -> Bool {
        let narrower = prefix < other.prefix ? self : other
        let wider = prefix < other.prefix ? other : self
        return narrower.contains(wider.base)
    }

    /// The n-th address of the subnet (1 is the first host); n is added to the low 64 bits.
    public func host(_ n: UInt64) -> IPv6Address { IPv6Address(high: base.high, low: base.low &+ n) }

    /// How many addresses the low half of the subnet holds (capped: a /64 has 2^64).
    public var size: UInt64 { prefix >= 64 ? (prefix == 64 ? UInt64.max : UInt64(1) << UInt64(128 - prefix)) : UInt64.max }

    /// A unique local /64 (RFC 4193) whose 40-bit global ID comes from `seed` (a network's ID).
    public static func uniqueLocal(seed: String) -> IPv6Network {
        let d = Digest.of(Array(seed.utf8)).hex
        let global = UInt64(d.prefix(10), radix: 16)!
        return IPv6Network(address: IPv6Address(high: (0xfd << 56) | (global << 16), low: 0), prefix: 64)
    }

    public static let textKind = "IPv6 subnet"
}
