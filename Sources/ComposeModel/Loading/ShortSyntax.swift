/// The short (string) forms of ports and volumes, parsed as docker compose parses them.

public struct PortSpecError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

public enum PortSpec {
    public struct Mapping: Sendable, Equatable {
        public var hostIP: String
        public var published: String
        public var target: Int64
        public var `protocol`: String
    }

    /// `[[HOST_IP:]HOST_PORT[-END]:]CONTAINER_PORT[-END][/PROTOCOL]`, expanded to one mapping per
    /// container port, in the order docker compose lists them.
    public static func parse(_ raw: String) throws(PortSpecError) -> [Mapping] {
        let parts = raw.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        var ip = "", hostPort = "", containerPart = parts[parts.count - 1]
        switch parts.count {
        case 1: break
        case 2: hostPort = parts[0]
        case 3: ip = parts[0]; hostPort = parts[1]
        default:
            ip = parts[..<(parts.count - 2)].joined(separator: ":")
            hostPort = parts[parts.count - 2]
        }
        var proto = ""
        let protoParts = containerPart.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        if containerPart.isEmpty || protoParts[0].isEmpty {
            containerPart = ""
        } else if protoParts.count == 1 {
            proto = "tcp"
        } else {
            proto = protoParts[1].isEmpty ? "tcp" : protoParts[1]
            containerPart = protoParts[0]
        }
        if ip.hasPrefix("[") {
            guard ip.hasSuffix("]") else { throw PortSpecError(message: "invalid IP address \(ip)") }
            ip = String(ip.dropFirst().dropLast())
        }
        if !ip.isEmpty && !IPAddress.isValid(ip) {
            throw PortSpecError(message: "invalid IP address: \(ip)")
        }
        guard !containerPart.isEmpty else { throw PortSpecError(message: "no port specified: \(raw)<empty>") }
        guard let (start, end) = range(containerPart) else {
            throw PortSpecError(message: "invalid containerPort: \(containerPart)")
        }
        var hostStart = 0, hostEnd = 0
        if !hostPort.isEmpty {
            guard let r = range(hostPort) else { throw PortSpecError(message: "invalid hostPort: \(hostPort)") }
            (hostStart, hostEnd) = r
        }
        if !hostPort.isEmpty && end - start != hostEnd - hostStart && end != start {
            throw PortSpecError(message: "invalid ranges specified for container and host Ports: \(containerPart) and \(hostPort)")
        }
        let lowered = proto.lowercased()
        guard ["tcp", "udp", "sctp"].contains(lowered) else { throw PortSpecError(message: "invalid proto: \(proto)") }
        var mappings: [Mapping] = []
        for i in 0...(end - start) {
            var published = hostPort
            if !hostPort.isEmpty { published = String(hostStart + i) }
            if start == end && hostStart != hostEnd { published = "\(published)-\(hostEnd)" }
            mappings.append(Mapping(hostIP: ip, published: published, target: Int64(start + i), protocol: lowered))
        }
        // docker/go-connections keys its result by "port/proto" and compose walks the keys sorted as
        // strings.
        return mappings.sorted { "\($0.target)/\($0.protocol)".utf8.lexicographicallyPrecedes("\($1.target)/\($1.protocol)".utf8) }
    }

    static func range(_ s: String) -> (Int, Int)? {
        guard !s.isEmpty else { return nil }
        guard s.contains("-") else {
            guard let v = UInt16(s) else { return nil }
            return (Int(v), Int(v))
        }
        let parts = s.split(separator: "-", omittingEmptySubsequences: false)
        guard let a = UInt16(parts[0]), parts.count > 1, let b = UInt16(parts[1]), b >= a else { return nil }
        return (Int(a), Int(b))
    }
}

public enum IPAddress {
    public static func isValid(_ s: String) -> Bool { isIPv4(s) || isIPv6(s) }

    public static func isIPv4(_ s: String) -> Bool {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return false }
        return parts.allSatisfy { p in
            !p.isEmpty && p.count <= 3 && p.allSatisfy(\.isASCII) && p.allSatisfy(\.isNumber) && (Int(p) ?? 256) <= 255
                && !(p.count > 1 && p.hasPrefix("0"))
        }
    }

    public static func isIPv6(_ s: String) -> Bool {
        let text = Substring(s)
        guard text.contains(":") else { return false }
        let halves = String(text).components(separatedBy: "::")
        guard halves.count <= 2 else { return false }
        func groups(_ part: String, allowIPv4Tail: Bool) -> Int? {
            if part.isEmpty { return 0 }
            let items = part.split(separator: ":", omittingEmptySubsequences: false)
            var count = 0
            for (i, g) in items.enumerated() {
                if allowIPv4Tail && i == items.count - 1 && g.contains(".") {
                    guard isIPv4(String(g)) else { return nil }
                    count += 2
                    continue
                }
                guard !g.isEmpty, g.count <= 4, g.allSatisfy(\.isHexDigit) else { return nil }
                count += 1
            }
            return count
        }
        if halves.count == 1 {
            return groups(halves[0], allowIPv4Tail: true) == 8
        }
        guard let left = groups(halves[0], allowIPv4Tail: false), let right = groups(halves[1], allowIPv4Tail: true) else { return false }
        return left + right <= 7
    }
}

extension StringProtocol {
    func components(separatedBy separator: String) -> [String] {
        var result: [String] = []
        var rest = Substring(self)
        while let r = rest.firstRange(of: separator) {
            result.append(String(rest[..<r.lowerBound]))
            rest = rest[r.upperBound...]
        }
        result.append(String(rest))
        return result
    }
}

public struct VolumeSpecError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// The short syntax of a service volume: `[SOURCE:]TARGET[:OPTIONS]`.
public enum VolumeSpec {
    public struct Parsed: Sendable {
        public var type: String = ""
        public var source: String = ""
        public var target: String = ""
        public var readOnly = false
        public var noCopy = false
        public var selinux: String = ""
        public var propagation: String = ""
        public var hasBindOptions = false
    }

    static let propagations: Set<String> = ["rprivate", "private", "rshared", "shared", "rslave", "slave"]

    public static func parse(_ spec: String) throws(VolumeSpecError) -> Parsed {
        var v = Parsed()
        let chars = Array(spec)
        switch chars.count {
        case 0: throw VolumeSpecError(message: "invalid empty volume spec")
        case 1, 2:
            v.target = spec
            v.type = "volume"
            return v
        default: break
        }
        var buffer: [Character] = []
        var depth = 0
        func populate(_ atEnd: Bool) throws(VolumeSpecError) {
            let s = String(buffer)
            if buffer.isEmpty { throw VolumeSpecError(message: "invalid spec: \(spec): empty section between colons") }
            if v.source.isEmpty && atEnd { v.target = s; return }
            if v.source.isEmpty { v.source = s; return }
            if v.target.isEmpty { v.target = s; return }
            if !atEnd { throw VolumeSpecError(message: "invalid spec: \(spec): too many colons") }
            for option in s.split(separator: ",", omittingEmptySubsequences: false) {
                switch option {
                case "ro": v.readOnly = true
                case "rw": v.readOnly = false
                case "nocopy": v.noCopy = true
                case "z", "Z": v.selinux = String(option); v.hasBindOptions = true
                default:
                    if propagations.contains(String(option)) { v.propagation = String(option); v.hasBindOptions = true }
                }
            }
        }
        var i = 0
        while i <= chars.count {
            let c: Character? = i < chars.count ? chars[i] : nil
            if c == "$", i + 1 < chars.count, chars[i + 1] == "{" {
                depth += 1
                buffer.append("$")
                i += 1
                continue
            }
            if c == "}", depth > 0 {
                depth -= 1
                buffer.append("}")
                i += 1
                continue
            }
            if c == ":", buffer.count == 1, buffer[0].isLetter {
                // A Windows drive letter ("C:").
                buffer.append(":")
            } else if (c == ":" || c == nil) && depth == 0 {
                try populate(c == nil)
                buffer = []
            } else if let c {
                buffer.append(c)
            }
            i += 1
        }
        v.type = isFilePath(v.source) ? "bind" : "volume"
        return v
    }

    static func isFilePath(_ source: String) -> Bool {
        guard let first = source.first else { return false }
        if first == "." || first == "/" || first == "~" { return true }
        if source.hasPrefix("\\\\") { return true }
        let chars = Array(source)
        return chars.count >= 2 && chars[0].isLetter && chars[1] == ":"
    }
}
