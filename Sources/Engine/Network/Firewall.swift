#if canImport(Glibc)
import Glibc
#endif

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
    static let iptablesRestore = "/usr/sbin/iptables-restore"
    static let iptablesSave = "/usr/sbin/iptables-save"

    static func restore(_ script: String) throws(FirewallError) {
        let result: Subprocess.Result
        do {
            result = try Subprocess.run(iptablesRestore, ["-w", "--noflush"], input: script)
        } catch {
            throw FirewallError(message: "iptables-restore: \(error) (is the iptables package installed?)")
        }
        if result.status != 0 {
            throw FirewallError(message: "iptables-restore failed: \(result.output.trimmingWhitespace())")
        }
    }

    /// The current rules (`iptables-save`), for checks and tests.
    public static func save() -> String {
        (try? Subprocess.run(iptablesSave, []))?.output ?? ""
    }

    static func chainID(_ networkID: String) -> String { String(networkID.prefix(12)) }

    /// The rules for one network. `internal` networks reach nothing beyond their bridge (only the
    /// resolver on their gateway); the others are masqueraded on their way out.
    public static func addNetwork(id: String, bridge: String, subnet: IPv4Network, gateway: IPv4Address, internal isInternal: Bool) throws(FirewallError) {
        let rules = save()
        let f = "SWC-F-" + chainID(id), i = "SWC-I-" + chainID(id)
        var filter = "*filter\n"
        var nat = "*nat\n"
        for (chain, table, parent) in [("SWCOMPOSE-FORWARD", "filter", "FORWARD"), ("SWCOMPOSE-INPUT", "filter", "INPUT"),
                                       ("SWCOMPOSE-POSTROUTING", "nat", "POSTROUTING")] where !rules.contains(":\(chain) ") {
            let lines = ":\(chain) - [0:0]\n-I \(parent) 1 -j \(chain)\n"
            if table == "filter" { filter += lines } else { nat += lines }
        }
        filter += ":\(f) - [0:0]\n"
        filter += "-A \(f) -i \(bridge) -o \(bridge) -j ACCEPT\n"
        // Containers on different networks cannot reach each other.
        filter += "-A \(f) -i \(bridge) -o sw-+ -j DROP\n"
        filter += isInternal ? "-A \(f) -i \(bridge) -j DROP\n" : "-A \(f) -i \(bridge) -j ACCEPT\n"
        filter += "-A \(f) -o \(bridge) -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
        filter += "-A \(f) -o \(bridge) -j DROP\n"
        if !rules.contains("-A SWCOMPOSE-FORWARD -j \(f)") { filter += "-A SWCOMPOSE-FORWARD -j \(f)\n" }
        if isInternal {
            filter += ":\(i) - [0:0]\n"
            filter += "-A \(i) -i \(bridge) -d \(gateway)/32 -p udp -m udp --dport 53 -j ACCEPT\n"
            filter += "-A \(i) -i \(bridge) -d \(gateway)/32 -p tcp -m tcp --dport 53 -j ACCEPT\n"
            filter += "-A \(i) -i \(bridge) -j DROP\n"
            if !rules.contains("-A SWCOMPOSE-INPUT -j \(i)") { filter += "-A SWCOMPOSE-INPUT -j \(i)\n" }
        } else {
            let masquerade = "-A SWCOMPOSE-POSTROUTING -s \(subnet) ! -o \(bridge) -j MASQUERADE"
            if !rules.contains(masquerade) { nat += masquerade + "\n" }
        }
        try restore(filter + "COMMIT\n" + nat + "COMMIT\n")
        if !isInternal { enableForwarding() }
    }

    /// Removes one network's rules (missing ones are fine), and the base chains when none is left.
    public static func removeNetwork(id: String, bridge: String, subnet: IPv4Network) throws(FirewallError) {
        let rules = save()
        let f = "SWC-F-" + chainID(id), i = "SWC-I-" + chainID(id)
        var filter = "*filter\n"
        var nat = "*nat\n"
        if rules.contains("-A SWCOMPOSE-FORWARD -j \(f)") { filter += "-D SWCOMPOSE-FORWARD -j \(f)\n" }
        if rules.contains(":\(f) ") { filter += "-F \(f)\n-X \(f)\n" }
        if rules.contains("-A SWCOMPOSE-INPUT -j \(i)") { filter += "-D SWCOMPOSE-INPUT -j \(i)\n" }
        if rules.contains(":\(i) ") { filter += "-F \(i)\n-X \(i)\n" }
        let masquerade = "-A SWCOMPOSE-POSTROUTING -s \(subnet) ! -o \(bridge) -j MASQUERADE"
        if rules.contains(masquerade) { nat += "-D" + masquerade.dropFirst(2) + "\n" }
        try restore(filter + "COMMIT\n" + nat + "COMMIT\n")
        try removeBaseIfUnused()
    }

    static func removeBaseIfUnused() throws(FirewallError) {
        let rules = save()
        let networkChains = rules.split(separator: "\n").contains { $0.hasPrefix(":SWC-F-") || $0.hasPrefix(":SWC-I-") }
        let masquerades = rules.split(separator: "\n").contains { $0.hasPrefix("-A SWCOMPOSE-POSTROUTING ") }
        guard !networkChains && !masquerades else { return }
        var filter = "*filter\n"
        var nat = "*nat\n"
        for (chain, parent) in [("SWCOMPOSE-FORWARD", "FORWARD"), ("SWCOMPOSE-INPUT", "INPUT")] where rules.contains(":\(chain) ") {
            if rules.contains("-A \(parent) -j \(chain)") { filter += "-D \(parent) -j \(chain)\n" }
            filter += "-F \(chain)\n-X \(chain)\n"
        }
        if rules.contains(":SWCOMPOSE-POSTROUTING ") {
            if rules.contains("-A POSTROUTING -j SWCOMPOSE-POSTROUTING") { nat += "-D POSTROUTING -j SWCOMPOSE-POSTROUTING\n" }
            nat += "-F SWCOMPOSE-POSTROUTING\n-X SWCOMPOSE-POSTROUTING\n"
        }
        try restore(filter + "COMMIT\n" + nat + "COMMIT\n")
    }

    /// Routing between the bridges and the host's interfaces (docker enables it too).
    static func enableForwarding() {
        if (try? Files.readText("/proc/sys/net/ipv4/ip_forward"))?.hasPrefix("1") != true {
            try? FileHandle(path: "/proc/sys/net/ipv4/ip_forward", flags: O_WRONLY).write(Array("1".utf8))
        }
    }
}
