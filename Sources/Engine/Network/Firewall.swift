#if canImport(Glibc)
import Glibc
#endif
import Synchronization

public struct FirewallError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}

/// The netfilter rules behind swcompose's networks, in chains of their own so that removing a network
/// removes exactly what it added:
///
///     filter FORWARD     -> SWCOMPOSE-FORWARD -> SWC-F-<net>   (one chain per network)
///     filter INPUT       -> SWCOMPOSE-INPUT   -> SWC-I-<net>   (internal networks only)
///     nat    POSTROUTING -> SWCOMPOSE-POSTROUTING              (masquerading per network)
///
/// When the last network goes, the base chains and their jumps go too.
public enum Firewall {
    /// Which iptables talks to the kernel: the nf_tables one or the legacy x_tables one. Hosts configure
    /// one (`update-alternatives`, or only one is installed); a kernel may lack the other, or lack a
    /// part of it (user-mode Linux has nf_tables without its nat chains).
    public enum Backend: String, Codable, Sendable, CaseIterable {
        case nft, legacy

        /// Where its programs are: `iptables-nft-restore`, `iptables-legacy-restore` (and `-save`).
        var programs: (restore: String, save: String)? { programs(ipv6: false) }

        /// Its programs for IPv4 (`iptables-…`) or IPv6 (`ip6tables-…`).
        func programs(ipv6: Bool) -> (restore: String, save: String)? {
            let tool = ipv6 ? "ip6tables" : "iptables"
            for dir in ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] where Sys.exists("\(dir)/\(tool)-\(rawValue)-restore") {
                return ("\(dir)/\(tool)-\(rawValue)-restore", "\(dir)/\(tool)-\(rawValue)-save")
            }
            // Distributions with one backend may only have the plain names.
            for dir in ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] where Sys.exists("\(dir)/\(tool)-restore") {
                if Firewall.backend(ofVersion: Firewall.version("\(dir)/\(tool)-restore")) == self {
                    return ("\(dir)/\(tool)-restore", "\(dir)/\(tool)-save")
                }
            }
            return nil
        }

        var other: Backend { self == .nft ? .legacy : .nft }
    }

    /// `iptables-restore v1.8.9 (nf_tables)` → nft, `(legacy)` → legacy.
    static func backend(ofVersion text: String) -> Backend? {
        if text.contains("(nf_tables)") { return .nft }
        if text.contains("(legacy)") { return .legacy }
        return nil
    }

    static func version(_ program: String) -> String {
        (try? Subprocess.run(program, ["--version"]))?.output ?? ""
    }

    /// The backend the host's `iptables-restore` is.
    static var configured: Backend? {
        for dir in ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] where Sys.exists("\(dir)/iptables-restore") {
            return backend(ofVersion: version("\(dir)/iptables-restore"))
        }
        return nil
    }

    /// The backend to program: the host's own first, the other when the host's cannot program this
    /// kernel (`works` is asked in that order); nil when neither can. Pure, for the unit tests.
    static func choose(configured: Backend?, installed: [Backend], works: (Backend) -> Bool) -> Backend? {
        let first = configured ?? .nft
        for candidate in [first, first.other] where installed.contains(candidate) && works(candidate) { return candidate }
        return nil
    }

    /// What a backend must manage for swcompose's rules: chains in the filter and nat tables reached
    /// from the built-in hooks (FORWARD, INPUT, POSTROUTING: nf_tables without its filter or nat chain
    /// types cannot make those), the conntrack match and masquerading. Made and removed in one
    /// transaction, so nothing of it is left either way.
    static let probe = """
        *filter
        :SWCOMPOSE-PROBE - [0:0]
        -A SWCOMPOSE-PROBE -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
        -I FORWARD 1 -j SWCOMPOSE-PROBE
        -I INPUT 1 -j SWCOMPOSE-PROBE
        -D FORWARD -j SWCOMPOSE-PROBE
        -D INPUT -j SWCOMPOSE-PROBE
        -F SWCOMPOSE-PROBE
        -X SWCOMPOSE-PROBE
        COMMIT
        *nat
        :SWCOMPOSE-PROBE - [0:0]
        -A SWCOMPOSE-PROBE -s 192.0.2.0/24 ! -o lo -j MASQUERADE
        -I POSTROUTING 1 -j SWCOMPOSE-PROBE
        -D POSTROUTING -j SWCOMPOSE-PROBE
        -F SWCOMPOSE-PROBE
        -X SWCOMPOSE-PROBE
        COMMIT

        """

    static let chosen = Mutex<Backend?>(nil)

    /// Where the choice is remembered for the commands that come after, in this boot and network
    /// namespace (/run is emptied at boot): the probe is a transaction of its own, with a process of
    /// its own, which a command creating a network would otherwise pay each time.
    static let rememberedChoice = "/run/swcompose/firewall-backend"

    /// What the remembered choice is valid for: this boot, this network namespace, the host's own
    /// iptables as it is configured now.
    static func choiceKey(configured: Backend?) -> String? {
        guard let boot = try? Files.readText("/proc/sys/kernel/random/boot_id").trimmingWhitespace(),
              let namespace = try? Sys.readlink("/proc/thread-self/ns/net") else { return nil }
        return "\(boot) \(namespace) \(configured?.rawValue ?? "-")"
    }

    /// The backend this process programs, chosen once (see `choose`) or remembered from an earlier
    /// command of this boot; a clear refusal when neither iptables can program the kernel.
    public static func selected() throws(FirewallError) -> Backend {
        if let b = chosen.withLock({ $0 }) { return b }
        let configured = self.configured
        let key = choiceKey(configured: configured)
        if let key, let text = try? Files.readText(rememberedChoice), text.hasPrefix(key + " "),
           let b = Backend(rawValue: String(text.dropFirst(key.count + 1)).trimmingWhitespace()), b.programs != nil {
            chosen.withLock { $0 = b }
            return b
        }
        var failures: [String] = []
        let installed = Backend.allCases.filter { $0.programs != nil }
        let pick = choose(configured: configured, installed: installed) { b in
            guard let restore = b.programs?.restore else { return false }
            do {
                let r = try Subprocess.run(restore, ["-w", "--noflush"], input: probe)
                if r.status == 0 { return true }
                failures.append("iptables-\(b.rawValue): \(r.output.trimmingWhitespace())")
            } catch {
                failures.append("iptables-\(b.rawValue): \(error)")
            }
            return false
        }
        guard let pick else {
            if installed.isEmpty {
                throw FirewallError(message: "iptables is not installed: swcompose programs its networks' rules with iptables-restore (install the iptables package)")
            }
            throw FirewallError(message: "neither iptables backend can program this kernel's firewall (\(failures.joined(separator: "; "))); load the netfilter modules (nf_tables with nft_chain_nat, or ip_tables with iptable_filter and iptable_nat)")
        }
        chosen.withLock { $0 = pick }
        if let key, (try? Sys.makeDirectory("/run/swcompose", 0o700)) != nil {
            try? Files.writeAtomically(rememberedChoice, key + " " + pick.rawValue + "\n", mode: 0o600, durable: false)
        }
        return pick
    }

    static func restore(_ script: String, _ backend: Backend, ipv6: Bool = false) throws(FirewallError) {
        guard let program = backend.programs(ipv6: ipv6)?.restore else {
            throw FirewallError(message: "\(ipv6 ? "ip6tables" : "iptables")-\(backend.rawValue)-restore is not installed")
        }
        let result: Subprocess.Result
        do {
            result = try Subprocess.run(program, ["-w", "--noflush"], input: script)
        } catch {
            throw FirewallError(message: "\(program): \(error) (is the iptables package installed?)")
        }
        if result.status != 0 {
            throw FirewallError(message: "\(program) failed: \(result.output.trimmingWhitespace())")
        }
    }

    /// The current rules (`iptables-save`) of a backend (the selected one by default), for checks and tests.
    public static func save(_ backend: Backend? = nil, ipv6: Bool = false) -> String {
        guard let b = backend ?? (try? selected()), let program = b.programs(ipv6: ipv6)?.save else { return "" }
        return (try? Subprocess.run(program, []))?.output ?? ""
    }

    static func chainID(_ networkID: String) -> String { String(networkID.prefix(12)) }

    /// The host's rules now, as one string to compare with a later reading, without running iptables:
    /// nf_tables' ruleset generation (the kernel counts every change to any of its tables: one netlink
    /// request) or, for the legacy backend, the filter and nat tables (IPv6's too where the kernel has
    /// them) read with getsockopt, without their counters. With the boot and the network namespace,
    /// since generations start again with each. nil when they cannot be read.
    public static func fingerprint(_ backend: Backend) -> String? {
        guard let boot = try? Files.readText("/proc/sys/kernel/random/boot_id").trimmingWhitespace(),
              let namespace = try? Sys.readlink("/proc/thread-self/ns/net") else { return nil }
        var parts = [backend.rawValue, boot, namespace]
        switch backend {
        case .nft:
            guard let generation = nftablesGeneration() else { return nil }
            parts.append(String(generation))
        case .legacy:
            for table in ["filter", "nat"] {
                guard let value = try? Sys.xtablesFingerprint(table: table, ipv6: false) else { return nil }
                parts.append(String(value, radix: 16))
            }
            for table in ["filter", "nat"] {
                parts.append((try? Sys.xtablesFingerprint(table: table, ipv6: true)).map { String($0, radix: 16) } ?? "-")
            }
        }
        return parts.joined(separator: " ")
    }

    /// nf_tables' ruleset generation in this network namespace (`NFT_MSG_GETGEN`).
    static func nftablesGeneration() -> UInt32? {
        let NETLINK_NETFILTER: Int32 = 12, NFNL_SUBSYS_NFTABLES: UInt16 = 10, NFT_MSG_GETGEN: UInt16 = 16, NFTA_GEN_ID: UInt16 = 1
        guard let nl = try? Netlink(protocol: NETLINK_NETFILTER) else { return nil }
        var m = NetlinkMessage(type: NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_GETGEN, flags: NetlinkMessage.request)
        m.payload = [0, 0, 0, 0]   // struct nfgenmsg: AF_UNSPEC, NFNETLINK_V0, res_id 0
        guard let reply = (try? nl.request(m, "NFT_MSG_GETGEN"))?.first,
              let id = NetlinkReply.u32(reply.attributes(after: 4)[NFTA_GEN_ID]) else { return nil }
        return id.byteSwapped   // big-endian on the wire
    }

    /// The start of a network's `iptables-restore` input, for IPv4 and IPv6 alike: the engine's base
    /// chains where `existing` (the table as saved) lacks them, and the network's forward chain —
    /// traffic within the bridge (`enable_icc: false` drops it), none to other networks' bridges,
    /// out of the bridge unless internal, back in only as replies.
    static func forwardRules(existing rules: String, chain f: String, bridge: String, internal isInternal: Bool,
                             interContainerTraffic: Bool) -> (filter: String, nat: String) {
        var filter = "*filter\n"
        var nat = "*nat\n"
        for (chain, table, parent) in [("SWCOMPOSE-FORWARD", "filter", "FORWARD"), ("SWCOMPOSE-INPUT", "filter", "INPUT"),
                                       ("SWCOMPOSE-POSTROUTING", "nat", "POSTROUTING")] where !rules.contains(":\(chain) ") {
            let lines = ":\(chain) - [0:0]\n-I \(parent) 1 -j \(chain)\n"
            if table == "filter" { filter += lines } else { nat += lines }
        }
        filter += ":\(f) - [0:0]\n"
        filter += "-A \(f) -i \(bridge) -o \(bridge) -j \(interContainerTraffic ? "ACCEPT" : "DROP")\n"
        filter += "-A \(f) -i \(bridge) -o sw-+ -j DROP\n"
        filter += isInternal ? "-A \(f) -i \(bridge) -j DROP\n" : "-A \(f) -i \(bridge) -j ACCEPT\n"
        filter += "-A \(f) -o \(bridge) -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
        filter += "-A \(f) -o \(bridge) -j DROP\n"
        if !rules.contains("-A SWCOMPOSE-FORWARD -j \(f)") { filter += "-A SWCOMPOSE-FORWARD -j \(f)\n" }
        return (filter, nat)
    }

    /// The rules for one network. `internal` networks reach nothing beyond their bridge (only the
    /// resolver on their gateway); the others are masqueraded on their way out.
    @discardableResult
    public static func addNetwork(id: String, bridge: String, subnet: IPv4Network, gateway: IPv4Address, internal isInternal: Bool,
                                  interContainerTraffic: Bool = true, masquerade: Bool = true) throws(FirewallError) -> Backend {
        let backend = try selected()
        let rules = save(backend)
        let f = "SWC-F-" + chainID(id), i = "SWC-I-" + chainID(id)
        var (filter, nat) = forwardRules(existing: rules, chain: f, bridge: bridge, internal: isInternal,
                                         interContainerTraffic: interContainerTraffic)
        if isInternal {
            filter += ":\(i) - [0:0]\n"
            filter += "-A \(i) -i \(bridge) -d \(gateway)/32 -p udp -m udp --dport 53 -j ACCEPT\n"
            filter += "-A \(i) -i \(bridge) -d \(gateway)/32 -p tcp -m tcp --dport 53 -j ACCEPT\n"
            filter += "-A \(i) -i \(bridge) -j DROP\n"
            if !rules.contains("-A SWCOMPOSE-INPUT -j \(i)") { filter += "-A SWCOMPOSE-INPUT -j \(i)\n" }
        } else if masquerade {
            let rule = "-A SWCOMPOSE-POSTROUTING -s \(subnet) ! -o \(bridge) -j MASQUERADE"
            if !rules.contains(rule) { nat += rule + "\n" }
        }
        try restore(filter + "COMMIT\n" + nat + "COMMIT\n", backend)
        if !isInternal { enableForwarding() }
        return backend
    }

    /// The IPv6 rules of a network with IPv6 (ip6tables, the same backend as its IPv4 rules), as its
    /// IPv4 ones: isolation from other networks, internal networks kept in, egress masqueraded (as
    /// dockerd's ip6tables does).
    public static func addNetwork6(id: String, bridge: String, subnet: IPv6Network, internal isInternal: Bool,
                                   interContainerTraffic: Bool, masquerade: Bool, backend: Backend) throws(FirewallError) {
        let rules = save(backend, ipv6: true)
        let f = "SWC-F-" + chainID(id), i = "SWC-I-" + chainID(id)
        var (filter, nat) = forwardRules(existing: rules, chain: f, bridge: bridge, internal: isInternal,
                                         interContainerTraffic: interContainerTraffic)
        if isInternal {
            filter += ":\(i) - [0:0]\n-A \(i) -i \(bridge) -j DROP\n"
            if !rules.contains("-A SWCOMPOSE-INPUT -j \(i)") { filter += "-A SWCOMPOSE-INPUT -j \(i)\n" }
        } else if masquerade {
            let rule = "-A SWCOMPOSE-POSTROUTING -s \(subnet) ! -o \(bridge) -j MASQUERADE"
            if !rules.contains(rule) { nat += rule + "\n" }
        }
        try restore(filter + "COMMIT\n" + nat + "COMMIT\n", backend, ipv6: true)
    }

    public static func removeNetwork6(id: String, bridge: String, subnet: IPv6Network, backend recorded: Backend?) throws(FirewallError) {
        let backend: Backend
        if let recorded { backend = recorded } else { backend = try selected() }
        let rules = save(backend, ipv6: true)
        let f = "SWC-F-" + chainID(id), i = "SWC-I-" + chainID(id)
        var filter = "*filter\n"
        var nat = "*nat\n"
        if rules.contains("-A SWCOMPOSE-FORWARD -j \(f)") { filter += "-D SWCOMPOSE-FORWARD -j \(f)\n" }
        if rules.contains(":\(f) ") { filter += "-F \(f)\n-X \(f)\n" }
        if rules.contains("-A SWCOMPOSE-INPUT -j \(i)") { filter += "-D SWCOMPOSE-INPUT -j \(i)\n" }
        if rules.contains(":\(i) ") { filter += "-F \(i)\n-X \(i)\n" }
        let masquerade = "-A SWCOMPOSE-POSTROUTING -s \(subnet) ! -o \(bridge) -j MASQUERADE"
        if rules.contains(masquerade) { nat += "-D" + masquerade.dropFirst(2) + "\n" }
        try restore(filter + "COMMIT\n" + nat + "COMMIT\n", backend, ipv6: true)
        try removeBaseIfUnused(backend, ipv6: true)
    }

    /// Removes one network's rules (missing ones are fine), and the base chains when none is left,
    /// with the backend that made them (the selected one for records that do not say).
    public static func removeNetwork(id: String, bridge: String, subnet: IPv4Network, backend recorded: Backend?) throws(FirewallError) {
        let backend: Backend
        if let recorded { backend = recorded } else { backend = try selected() }
        let rules = save(backend)
        let f = "SWC-F-" + chainID(id), i = "SWC-I-" + chainID(id)
        let masquerade = "-A SWCOMPOSE-POSTROUTING -s \(subnet) ! -o \(bridge) -j MASQUERADE"
        // The last network's rules and the base chains go in one transaction: the base chains
        // flushed (their jumps to this network's chains with them), this network's chains removed,
        // then the base chains.
        let base = baseRemoval(rules, without: [f, i], masquerade: masquerade)
        var filter = "*filter\n" + base.unhook
        var nat = "*nat\n"
        if base.unhook.isEmpty {
            if rules.contains("-A SWCOMPOSE-FORWARD -j \(f)") { filter += "-D SWCOMPOSE-FORWARD -j \(f)\n" }
            if rules.contains("-A SWCOMPOSE-INPUT -j \(i)") { filter += "-D SWCOMPOSE-INPUT -j \(i)\n" }
            if rules.contains(masquerade) { nat += "-D" + masquerade.dropFirst(2) + "\n" }
        }
        if rules.contains(":\(f) ") { filter += "-F \(f)\n-X \(f)\n" }
        if rules.contains(":\(i) ") { filter += "-F \(i)\n-X \(i)\n" }
        try unpublish(subnet: subnet, existing: rules, backend: backend)
        try restore(filter + base.remove + "COMMIT\n" + nat + base.nat + "COMMIT\n", backend)
    }

    /// What removes the base chains (SWCOMPOSE-FORWARD, -INPUT, -POSTROUTING and their jumps) from
    /// `rules` once no network's chain (but those `without`) nor masquerade (but `masquerade`) is left
    /// in them; empty while one is. In the filter table, `unhook` (the jumps to them deleted, they
    /// flushed) comes before the network chains `without` are removed, `remove` after; `nat` whole.
    /// (iptables-nft refuses a rule deleted by hand and again by its chain's flush in one transaction.)
    static func baseRemoval(_ rules: String, without chains: [String] = [], masquerade: String? = nil) -> (unhook: String, remove: String, nat: String) {
        let lines = rules.split(separator: "\n")
        let networkChains = lines.contains { line in
            (line.hasPrefix(":SWC-F-") || line.hasPrefix(":SWC-I-")) && !chains.contains { line.hasPrefix(":\($0) ") }
        }
        let masquerades = lines.contains { $0.hasPrefix("-A SWCOMPOSE-POSTROUTING ") && String($0) != masquerade }
        guard !networkChains && !masquerades else { return ("", "", "") }
        var unhook = "", remove = "", nat = ""
        for (chain, parent) in [("SWCOMPOSE-FORWARD", "FORWARD"), ("SWCOMPOSE-INPUT", "INPUT")] where rules.contains(":\(chain) ") {
            if rules.contains("-A \(parent) -j \(chain)") { unhook += "-D \(parent) -j \(chain)\n" }
            unhook += "-F \(chain)\n"
            remove += "-X \(chain)\n"
        }
        if rules.contains(":SWCOMPOSE-POSTROUTING ") {
            if rules.contains("-A POSTROUTING -j SWCOMPOSE-POSTROUTING") { nat += "-D POSTROUTING -j SWCOMPOSE-POSTROUTING\n" }
            nat += "-F SWCOMPOSE-POSTROUTING\n-X SWCOMPOSE-POSTROUTING\n"
        }
        return (unhook, remove, nat)
    }

    static func removeBaseIfUnused(_ backend: Backend, ipv6: Bool = false) throws(FirewallError) {
        let base = baseRemoval(save(backend, ipv6: ipv6))
        guard !base.unhook.isEmpty || !base.nat.isEmpty else { return }
        try restore("*filter\n" + base.unhook + base.remove + "COMMIT\n*nat\n" + base.nat + "COMMIT\n", backend, ipv6: ipv6)
    }

    /// Routing between the bridges and the host's interfaces (docker enables it too).
    static func enableForwarding() {
        if (try? Files.readText("/proc/sys/net/ipv4/ip_forward"))?.hasPrefix("1") != true {
            try? FileHandle(path: "/proc/sys/net/ipv4/ip_forward", flags: O_WRONLY).write(Array("1".utf8))
        }
    }
}
