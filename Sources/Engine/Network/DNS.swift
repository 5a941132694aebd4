/// The DNS wire format, as much as a container network's resolver needs: one question in, A/PTR
/// answers (or NXDOMAIN/NODATA) out, and the ID rewriting for forwarded queries.
public enum DNSMessage {
    public struct Question: Equatable, Sendable {
        public var id: UInt16
        public var flags: UInt16
        public var name: String
        public var type: UInt16
        public var qclass: UInt16
        /// Where the question section ends (the answer section starts).
        public var end: Int
    }

    public static let typeA: UInt16 = 1, typePTR: UInt16 = 12, typeAAAA: UInt16 = 28

    /// Parses a query's header and first question.
    public static func parseQuery(_ b: [UInt8]) -> Question? {
        guard b.count >= 12 else { return nil }
        let id = UInt16(b[0]) << 8 | UInt16(b[1])
        let flags = UInt16(b[2]) << 8 | UInt16(b[3])
        let qdcount = UInt16(b[4]) << 8 | UInt16(b[5])
        guard flags & 0x8000 == 0, qdcount >= 1 else { return nil }
        var i = 12
        var labels: [String] = []
        while i < b.count {
            let n = Int(b[i])
            if n == 0 { i += 1; break }
            guard n < 64, i + 1 + n <= b.count else { return nil }
            labels.append(String(decoding: b[(i + 1)...(i + n)], as: UTF8.self))
            i += 1 + n
        }
        guard i + 4 <= b.count else { return nil }
        let type = UInt16(b[i]) << 8 | UInt16(b[i + 1])
        let qclass = UInt16(b[i + 2]) << 8 | UInt16(b[i + 3])
        return Question(id: id, flags: flags, name: labels.joined(separator: "."), type: type, qclass: qclass, end: i + 4)
    }

    static func encodeName(_ name: String) -> [UInt8] {
        var out: [UInt8] = []
        for label in name.split(separator: ".") where !label.isEmpty {
            let bytes = Array(label.utf8.prefix(63))
            out.append(UInt8(bytes.count))
            out += bytes
        }
        out.append(0)
        return out
    }

    /// A response to `query` (the original bytes): `addresses` as A records, or `pointer` as a PTR
    /// record, or none (NODATA), or NXDOMAIN.
    public static func answer(_ query: [UInt8], _ q: Question, addresses: [IPv4Address] = [], addresses6: [IPv6Address] = [],
                              pointer: String? = nil, nameError: Bool = false, ttl: UInt32 = 0) -> [UInt8] {
        var out = Array(query[0..<q.end])
        // Header: QR, AA, RD as asked, RA; rcode 3 (NXDOMAIN) or 0. One question, N answers, no others.
        let rd = q.flags & 0x0100
        let flags: UInt16 = 0x8000 | 0x0400 | rd | 0x0080 | (nameError ? 3 : 0)
        out[2] = UInt8(flags >> 8)
        out[3] = UInt8(flags & 0xff)
        out[4] = 0; out[5] = 1
        var answers: [[UInt8]] = []
        func record(_ type: UInt16, _ data: [UInt8]) -> [UInt8] {
            var r: [UInt8] = [0xc0, 0x0c, UInt8(type >> 8), UInt8(type & 0xff), 0, 1]
            r += [UInt8(ttl >> 24), UInt8(ttl >> 16 & 0xff), UInt8(ttl >> 8 & 0xff), UInt8(ttl & 0xff)]
            r += [UInt8(data.count >> 8), UInt8(data.count & 0xff)] + data
            return r
        }
        for a in addresses { answers.append(record(typeA, a.bytes)) }
        for a in addresses6 { answers.append(record(typeAAAA, a.bytes)) }
        if let pointer { answers.append(record(typePTR, encodeName(pointer))) }
        out[6] = UInt8(answers.count >> 8); out[7] = UInt8(answers.count & 0xff)
        out[8] = 0; out[9] = 0; out[10] = 0; out[11] = 0
        for a in answers { out += a }
        return out
    }

    /// A SERVFAIL for a query that could not be forwarded.
    public static func serverFailure(_ query: [UInt8], _ q: Question) -> [UInt8] {
        var out = Array(query[0..<q.end])
        let flags: UInt16 = 0x8000 | (q.flags & 0x0100) | 0x0080 | 2
        out[2] = UInt8(flags >> 8); out[3] = UInt8(flags & 0xff)
        out[6] = 0; out[7] = 0; out[8] = 0; out[9] = 0; out[10] = 0; out[11] = 0
        return out
    }

    /// The address a reverse name (`4.0.18.172.in-addr.arpa`) asks about.
    public static func reverseAddress(_ name: String) -> IPv4Address? {
        let lower = name.lowercased()
        guard lower.hasSuffix(".in-addr.arpa") else { return nil }
        let parts = lower.dropLast(".in-addr.arpa".count).split(separator: ".")
        guard parts.count == 4 else { return nil }
        return IPv4Address(parts.reversed().joined(separator: "."))
    }

    static func setID(_ message: inout [UInt8], _ id: UInt16) {
        guard message.count >= 2 else { return }
        message[0] = UInt8(id >> 8)
        message[1] = UInt8(id & 0xff)
    }

    static func id(_ message: [UInt8]) -> UInt16? {
        message.count >= 2 ? UInt16(message[0]) << 8 | UInt16(message[1]) : nil
    }
}
