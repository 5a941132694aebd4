#if canImport(Glibc)
import Glibc
#endif
import Crypto

/// A content digest, `sha256:<64 hex>`.
public struct Digest: Sendable, Hashable, Comparable, TextCodable {
    public let algorithm: String
    public let hex: String

    public init?(_ text: String) {
        guard let colon = text.firstIndex(of: ":") else { return nil }
        let algorithm = String(text[..<colon]), hex = String(text[text.index(after: colon)...])
        guard algorithm == "sha256", hex.count == 64, hex.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) else { return nil }
        self.algorithm = algorithm
        self.hex = hex
    }

    init(sha256 hex: String) {
        algorithm = "sha256"
        self.hex = hex
    }

    public var description: String { "\(algorithm):\(hex)" }
    /// The 12-character form docker shows.
    public var short: String { String(hex.prefix(12)) }

    public static func < (a: Digest, b: Digest) -> Bool { a.hex < b.hex }

    public static let textKind = "digest"

    public static func of(_ bytes: [UInt8]) -> Digest {
        var h = Hasher256()
        h.update(bytes)
        return h.finalize()
    }

    public static func of(_ text: String) -> Digest { of(Array(text.utf8)) }

    /// The digest of a file's content, read in blocks.
    public static func ofFile(_ path: String) throws(SystemError) -> Digest {
        let fd = try Sys.open(path, O_RDONLY | O_CLOEXEC)
        defer { Sys.close(fd) }
        var h = Hasher256()
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = try Sys.read(fd, into: &chunk)
            if n == 0 { break }
            chunk.withUnsafeBytes { h.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
        return h.finalize()
    }
}

/// Streaming SHA-256.
public struct Hasher256 {
    var hasher = SHA256()
    public private(set) var count: Int64 = 0

    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        hasher.update(bufferPointer: bytes)
        count += Int64(bytes.count)
    }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    public func finalize() -> Digest {
        let digest = hasher.finalize()
        var hex = ""
        hex.reserveCapacity(64)
        let digits = Array("0123456789abcdef")
        for byte in digest {
            hex.append(digits[Int(byte >> 4)])
            hex.append(digits[Int(byte & 0xF)])
        }
        return Digest(sha256: hex)
    }
}
