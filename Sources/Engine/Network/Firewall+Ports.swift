#if canImport(Glibc)
import Glibc
#endif

/// Published ports in the kernel: a connection to a published host port is rewritten to the
/// container's address (DNAT) before it reaches any socket, so that it costs what a connection
/// straight to the container costs. The supervisor's listener stays bound to the host port: it
/// holds the port (a second binding fails and names its holder) and forwards, with splice(2), what
/// the rules do not rewrite (IPv6, a host without the nat table).
///
///     nat    PREROUTING  (local addresses, never 127.0.0.0/8) -> SWCOMPOSE-PORTS      DNAT
///     nat    OUTPUT      (local addresses)                    -> SWCOMPOSE-PORTS      DNAT
///     nat    POSTROUTING                                      -> SWCOMPOSE-PORTS-MASQ from 127.0.0.0/8
///                                                                and hairpin from the container's own network
///     filter FORWARD     (rewritten connections)              -> SWCOMPOSE-PORTS      to and from the container
///
/// A port bound to 127.0.0.1 is rewritten only for connections made on this host (OUTPUT): a packet
/// for 127.0.0.1 that arrives on another interface is not rewritten, and the kernel drops it as a
/// martian (the exposure of moby#45610 does not exist here). Loopback connections reach the
/// container through its bridge with `route_localnet` set on it, masqueraded to the gateway's address.
extension Firewall {
    /// One published port of a container, as the kernel rewrites it.
    public struct PortRule: Equatable, Sendable {
        /// The host address it is bound to (nil: every address of the host).
        public var hostAddress: IPv4Address?
        public var hostPort: UInt16
        public var proto: String
        public var address: IPv4Address
        public var port: UInt16
        /// The container's networks: connections from them are masqueraded to the gateway, so that the
        /// answer comes back through the host (hairpin) — not straight out of the container's own
        /// interface on the asker's network, past the rewriting.
        public var subnets: [IPv4Network]

        public init(hostAddress: IPv4Address?, hostPort: UInt16, proto: String, address: IPv4Address, port: UInt16, subnets: [IPv4Network]) {
            self.hostAddress = hostAddress
            self.hostPort = hostPort
            self.proto = proto
            self.address = address
            self.port = port
            self.subnets = subnets
        }

        /// What its rewriting rule matches: the host address (if any) and port.
        var hostMatch: String { "\(hostAddress.map { "-d \($0)/32 " } ?? "")-p \(proto) -m \(proto) --dport \(hostPort) -j DNAT " }

        /// Not for the container's own connections to its published port: those would come back to
        /// it through its own bridge port, which a bridge does not do (hairpin mode would reflect its
        /// broadcasts, and IPv6's duplicate address detection with them); the forwarder takes them.
        var rewrite: String { "-A SWCOMPOSE-PORTS ! -s \(address)/32 " + hostMatch + "--to-destination \(address):\(port)" }

        /// Its lines, in `iptables-save`'s own spelling (so that they are found again by text).
        var nat: [String] {
            let match = "-p \(proto) -m \(proto)"
            return [
                rewrite,
                "-A SWCOMPOSE-PORTS-MASQ -s 127.0.0.0/8 -d \(address)/32 \(match) --dport \(port) -j MASQUERADE",
            ] + subnets.map {
                "-A SWCOMPOSE-PORTS-MASQ -s \($0) -d \(address)/32 \(match) --dport \(port) -m conntrack --ctstate DNAT -j MASQUERADE"
            }
        }

        var filter: [String] {
            let match = "-p \(proto) -m \(proto)"
            return [
                "-A SWCOMPOSE-PORTS -d \(address)/32 \(match) --dport \(port) -j ACCEPT",
                "-A SWCOMPOSE-PORTS -s \(address)/32 \(match) --sport \(port) -j ACCEPT",
            ]
        }
    }

    /// The base chains, and the jumps to them from the built-in chains.
    static let portChains = (
        nat: [":SWCOMPOSE-PORTS - [0:0]", ":SWCOMPOSE-PORTS-MASQ - [0:0]"],
        natJumps: [("PREROUTING", "! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j SWCOMPOSE-PORTS"),
                   ("OUTPUT", "-m addrtype --dst-type LOCAL -j SWCOMPOSE-PORTS"),
                   ("POSTROUTING", "-j SWCOMPOSE-PORTS-MASQ")],
        filter: [":SWCOMPOSE-PORTS - [0:0]"],
        filterJumps: [("FORWARD", "-m conntrack --ctstate DNAT -j SWCOMPOSE-PORTS")]
    )

    /// An `iptables-restore` script in the making: lines per table.
    struct Script {
        var filter: [String] = []
        var nat: [String] = []
        var isEmpty: Bool { filter.isEmpty && nat.isEmpty }

        /// Deletes a saved port rule from its table (the DNAT and masquerading rules are nat's).
        mutating func delete(_ saved: String) {
            let line = "-D" + saved.dropFirst(2)
            if saved.contains("-j DNAT") || saved.hasPrefix("-A SWCOMPOSE-PORTS-MASQ ") {
                if !nat.contains(line) { nat.append(line) }
            } else if !filter.contains(line) {
                filter.append(line)
            }
        }

        /// A published port's rules (once: two host ports of one container port share the others).
        mutating func add(_ rule: PortRule) {
            for line in rule.nat where !nat.contains(line) { nat.append(line) }
            for line in rule.filter where !filter.contains(line) { filter.append(line) }
        }

        var text: String {
            "*filter\n" + filter.map { $0 + "\n" }.joined() + "COMMIT\n*nat\n" + nat.map { $0 + "\n" }.joined() + "COMMIT\n"
        }
    }

    /// Rewrites the container's published ports to it: what rules an earlier holder of its address
    /// or of its host ports left (a supervisor that was killed) are replaced. Loopback connections
    /// need `route_localnet` on the bridge.
    public static func publish(_ rules: [PortRule], bridge: String) throws(FirewallError) {
        guard let first = rules.first else { return }
        let backend = try selected()
        let existing = save(backend)
        let saved = existing.split(separator: "\n").map(String.init)
        var script = Script()
        // The same host address and port rewritten elsewhere: the kernel gave us the port, so that rule is stale.
        let taken = rules.map { $0.hostAddress == nil ? " " + $0.hostMatch : $0.hostMatch }
        for line in stale(existing, address: first.address) { script.delete(line) }
        for line in saved where line.hasPrefix("-A SWCOMPOSE-PORTS ") && taken.contains(where: line.contains) { script.delete(line) }
        if !saved.contains(portChains.filter[0]) {
            script.filter += portChains.filter + portChains.filterJumps.map { "-I \($0.0) 1 \($0.1)" }
        }
        if !saved.contains(portChains.nat[0]) {
            script.nat += portChains.nat + portChains.natJumps.map { "-I \($0.0) 1 \($0.1)" }
        }
        for rule in rules {
            script.add(rule)
        }
        try? FileHandle(path: "/proc/sys/net/ipv4/conf/\(bridge)/route_localnet", flags: O_WRONLY).write(Array("1".utf8))
        try restore(script.text, backend)
    }

    /// Takes away the rules that rewrite ports to `address` (none: nothing more is run).
    public static func unpublish(address: IPv4Address, backend recorded: Backend? = nil) throws(FirewallError) {
        let backend: Backend
        if let recorded { backend = recorded } else { backend = try selected() }
        var script = Script()
        for line in stale(save(backend), address: address) { script.delete(line) }
        if !script.isEmpty { try restore(script.text, backend) }
    }

    /// Takes away the port rules that lead into `subnet` (a network being removed: what a killed
    /// supervisor left), and the base chains and their jumps when no rule is left in them.
    static func unpublish(subnet: IPv4Network, existing: String, backend: Backend) throws(FirewallError) {
        let saved = existing.split(separator: "\n").map(String.init)
        let ours = saved.filter { $0.hasPrefix("-A SWCOMPOSE-PORTS") }
        let leading = ours.filter { targetAddress($0).map(subnet.contains) ?? false }
        var script = Script()
        for line in leading { script.delete(line) }
        if ours.count == leading.count && saved.contains(portChains.filter[0]) {
            for (chain, jump) in portChains.filterJumps where saved.contains("-A \(chain) \(jump)") { script.filter.append("-D \(chain) \(jump)") }
            for (chain, jump) in portChains.natJumps where saved.contains("-A \(chain) \(jump)") { script.nat.append("-D \(chain) \(jump)") }
            script.filter += portChains.filter.map { "-X " + $0.dropFirst().prefix { $0 != " " } }
            script.nat += portChains.nat.filter(saved.contains).map { "-X " + $0.dropFirst().prefix { $0 != " " } }
        }
        if !script.isEmpty { try restore(script.text, backend) }
    }

    /// The container address a port rule leads to or comes from: its DNAT target, else its first
    /// single address (masquerading rules name subnets as sources, never a /32).
    static func targetAddress(_ line: String) -> IPv4Address? {
        let words = line.split(separator: " ")
        for (i, w) in words.enumerated() where i + 1 < words.count {
            if w == "--to-destination" { return IPv4Address(String(words[i + 1].prefix { $0 != ":" })) }
        }
        for (i, w) in words.enumerated() where i + 1 < words.count && (w == "-d" || w == "-s") {
            let text = words[i + 1]
            if text.hasSuffix("/32"), let a = IPv4Address(String(text.dropLast(3))) { return a }
        }
        return nil
    }

    /// The port rules in `existing` that lead to or come from `address`.
    static func stale(_ existing: String, address: IPv4Address) -> [String] {
        existing.split(separator: "\n").filter { $0.hasPrefix("-A SWCOMPOSE-PORTS") }.map(String.init).filter { targetAddress($0) == address }
    }
}
