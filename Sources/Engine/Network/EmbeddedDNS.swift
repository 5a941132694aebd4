#if canImport(Glibc)
import Glibc
#endif

/// docker's embedded DNS server, as a container sees it: `nameserver 127.0.0.11` in its resolv.conf,
/// answering the names of the containers on the networks it is attached to, its own link aliases, and
/// forwarding the rest. The supervisor keeps one UDP socket per container on 127.0.0.11, made inside
/// the container's network namespace.
///
/// dockerd listens on a random port and redirects 127.0.0.11:53 to it with iptables rules in the
/// container's namespace, so that the container's own programs can still bind port 53 (a DNS server
/// in a container). swcompose does the same without iptables: cgroup socket-address programs on the
/// container's cgroup rewrite the port of what its processes send to 127.0.0.11:53 (`connect`,
/// `sendmsg`) and of what they receive from the resolver (`recvmsg`, so the reply comes from :53 as
/// resolvers check). Where cgroup BPF is not available, the socket binds 127.0.0.11:53 itself.
public enum EmbeddedDNS {
    public static let address = "127.0.0.11"
    /// 127.0.0.11 as the kernel keeps it in `bpf_sock_addr.user_ip4` (network order, read as a
    /// little-endian word).
    static let addressWord: Int32 = 0x0b00_007f

    /// A port as `bpf_sock_addr.user_port` holds it: network byte order in the low 16 bits.
    static func portWord(_ port: UInt16) -> Int32 { Int32(port.bigEndian) }

    /// A program that turns `from` into `to` for 127.0.0.11: `if user_ip4 == 127.0.0.11 && user_port
    /// == from { user_port = to }`; it always allows the call.
    static func rewrite(from: UInt16, to: UInt16) -> [EBPF.Instruction] {
        [
            EBPF.Instruction(code: EBPF.ldxW, dst: 2, src: 1, offset: 4),                 // r2 = user_ip4
            EBPF.Instruction(code: EBPF.jneImm, dst: 2, offset: 4, immediate: addressWord),
            EBPF.Instruction(code: EBPF.ldxW, dst: 2, src: 1, offset: 24),                // r2 = user_port
            EBPF.Instruction(code: EBPF.jneImm, dst: 2, offset: 2, immediate: portWord(from)),
            EBPF.Instruction(code: EBPF.movImm32, dst: 2, immediate: portWord(to)),
            EBPF.Instruction(code: EBPF.stxW, dst: 1, src: 2, offset: 24),               // user_port = to
            EBPF.Instruction(code: EBPF.movImm64, dst: 0, immediate: 1),
            EBPF.Instruction(code: EBPF.exit),
        ]
    }

    /// Redirects the DNS traffic of the processes in the cgroup2 directory `cgroup` from 127.0.0.11:53
    /// to 127.0.0.11:`port`, and the replies back.
    public static func redirect(cgroup directory: String, port: UInt16) throws(SystemError) {
        let fd = try Sys.open(directory, O_RDONLY | O_DIRECTORY)
        defer { Sys.close(fd) }
        for (attach, program) in [(EBPF.attachUDP4Sendmsg, rewrite(from: 53, to: port)),
                                  (EBPF.attachInet4Connect, rewrite(from: 53, to: port)),
                                  (EBPF.attachUDP4Recvmsg, rewrite(from: port, to: 53))] {
            if let (error, log) = Sys.attachCgroupProgram(cgroup: fd, type: EBPF.progCgroupSockAddr, attachType: attach,
                                                          instructions: program.flatMap(\.bytes)) {
                let verifier = log.split(separator: "\n").suffix(2).joined(separator: "; ")
                throw SystemError("attach DNS redirect" + (verifier.isEmpty ? "" : " (verifier: \(verifier))"), directory, code: error.code)
            }
        }
    }
}

/// The answers docker's embedded resolver gives one container (libnetwork's `Sandbox.ResolveName` and
/// `ResolveIP`): a name is looked up on the container's networks in order, its link aliases first; the
/// first network that knows it answers with every address it has for it. `name.network` asks one
/// network. A name no network knows is not the resolver's: it is forwarded.
public struct ContainerNameResolver: Sendable {
    /// The container's networks in the order of its interfaces (libnetwork's sandbox order: internal
    /// networks last, then by name).
    public var networks: [NetworkRecord]
    /// Link aliases (`links`, `external_links`): alias → the container name it stands for.
    public var links: [String: String]

    public init(networks: [NetworkRecord], links: [String: String]) {
        self.networks = networks
        self.links = links.reduce(into: [:]) { $0[$1.key.lowercased()] = $1.value.lowercased() }
    }

    /// The IPv6 addresses of a name the container's networks know (empty when they have none: the
    /// name is known, without an AAAA record); nil when no network knows it.
    public func addresses6(of query: String) -> [IPv6Address]? {
        guard addresses(of: query) != nil else { return nil }
        var result: [IPv6Address] = []
        var name = query.lowercased()
        while name.hasSuffix(".") { name.removeLast() }
        let target = links[name] ?? name
        for record in networks where record.subnet6 != nil {
            let found = record.endpoints.values.filter { $0.names.contains { $0.lowercased() == target } }.compactMap(\.address6).sorted()
            if !found.isEmpty { result = found; break }
        }
        return result
    }

    /// The name of the container at an IPv6 address: `<container>.<network>`.
    public func name(of address: IPv6Address) -> String? {
        for record in networks where record.subnet6?.contains(address) == true {
            if let e = record.endpoints.values.first(where: { $0.address6 == address }) {
                let container = e.names.count > 1 ? e.names[1] : (e.names.first ?? e.containerID)
                return container + "." + record.name
            }
        }
        return nil
    }

    /// The addresses of `name`, or nil when no network of the container knows it.
    public func addresses(of query: String) -> [IPv4Address]? {
        var name = query.lowercased()
        while name.hasSuffix(".") { name.removeLast() }
        // a.b.c asks for a.b.c anywhere, then a.b on network c, then a on network b.c.
        var candidates: [(name: String, network: String?)] = [(name, nil)]
        var rest = name[...]
        while let dot = rest.lastIndex(of: ".") {
            candidates.append((String(name[..<dot]), String(name[name.index(after: dot)...])))
            rest = rest[..<dot]
        }
        for (n, network) in candidates {
            let scoped = networks.filter { network == nil || $0.name.lowercased() == network }
            if let target = links[n] {
                for record in scoped {
                    let found = Self.lookup(target, in: record)
                    if !found.isEmpty { return found }
                }
            }
            for record in scoped where links[n] == nil {
                let found = Self.lookup(n, in: record)
                if !found.isEmpty { return found }
            }
        }
        return nil
    }

    static func lookup(_ name: String, in record: NetworkRecord) -> [IPv4Address] {
        record.endpoints.values.filter { $0.names.contains { $0.lowercased() == name } }.map(\.address).sorted()
    }

    /// The name of the container at `address` on one of the networks: `<container>.<network>`.
    public func name(of address: IPv4Address) -> String? {
        for record in networks where record.subnet.contains(address) {
            if let e = record.endpoints.values.first(where: { $0.address == address }) {
                // The container name is the endpoint's second name (service, container, id…), else its first.
                let container = e.names.count > 1 ? e.names[1] : (e.names.first ?? e.containerID)
                return container + "." + record.name
            }
        }
        return nil
    }
}
