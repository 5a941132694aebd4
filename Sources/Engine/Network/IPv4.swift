/// An IPv4 address.
public struct IPv4Address: Sendable, Hashable, Comparable, TextCodable {
    public var value: UInt32

    public init(_ value: UInt32) { self.value = value }

    public init(bytes: [UInt8]) {
        value = bytes.prefix(4).reduce(0) { $0 << 8 | UInt32($1) }
    }

    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var v: UInt32 = 0
        for p in parts {
            guard !p.isEmpty, p.count <= 3, p.allSatisfy(\.isNumber), let n = UInt32(p), n <= 255 else { return nil }
            v = v << 8 | n
        }
        value = v
    }

    public var bytes: [UInt8] { [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)] }
    public var description: String { bytes.map(String.init).joined(separator: ".") }
    public static func < (a: IPv4Address, b: IPv4Address) -> Bool { a.value < b.value }

    public static let textKind = "IPv4 address"
}

/// An IPv4 subnet in CIDR form.
public struct IPv4Network: Sendable, Hashable, TextCodable {
    public var address: IPv4Address
    public var prefix: Int

    public init(address: IPv4Address, prefix: Int) {
        self.address = address
        self.prefix = max(0, min(32, prefix))
    }

    /// `172.18.0.0/16` (the address is kept as written; `base` is the network's first address).
    public init?(_ text: String) {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let a = IPv4Address(String(parts[0])), let p = Int(parts[1]), p >= 0, p <= 32 else { return nil }
        self.init(address: a, prefix: p)
    }

    public var mask: UInt32 { prefix == 0 ? 0 : UInt32.max << UInt32(32 - prefix) }
    public var base: IPv4Address { IPv4Address(address.value & mask) }
    public var broadcast: IPv4Address { IPv4Address(base.value | ~mask) }
    public var size: UInt64 { UInt64(1) << UInt64(32 - prefix) }
    public var description: String { "\(base)/\(prefix)" }

    public func contains(_ a: IPv4Address) -> Bool { a.value & mask == base.value }

    public func overlaps(_ other: IPv4Network) -> Bool {
        let m = prefix < other.prefix ? mask : other.mask
        return base.value & m == other.base.value & m
    }

    /// The n-th address of the subnet (1 is the first host).
    public func host(_ n: UInt32) -> IPv4Address { IPv4Address(base.value &+ n) }

    public static let textKind = "subnet"
}
