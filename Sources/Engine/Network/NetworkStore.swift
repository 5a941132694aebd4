#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials

/// What a network should be (from the compose file's `networks:`).
public struct NetworkSpec: Codable, Sendable, Equatable {
    public var name: String
    public var labels: [String: String] = [:]
    public var `internal` = false
    public var subnet: IPv4Network?
    public var gateway: IPv4Address?
    public var ipRange: IPv4Network?
    public var mtu: UInt32?
    /// The bridge's interface name (`com.docker.network.bridge.name`); nil: `sw-<id>`.
    public var bridgeName: String?
    /// Containers on the network reach each other (`com.docker.network.bridge.enable_icc`).
    public var interContainerTraffic = true
    /// Traffic leaving the host is masqueraded (`com.docker.network.bridge.enable_ip_masquerade`).
    public var masquerade = true
    /// The containers' interface names: `<prefix>0`… (`com.docker.network.container_iface_prefix`).
    public var interfacePrefix: String?
    /// IPv6 as well (`enable_ipv6`): the subnet (nil: a unique local /64 of its own), gateway and range.
    public var enableIPv6 = false
    public var subnet6: IPv6Network?
    public var gateway6: IPv6Address?
    public var ipRange6: IPv6Network?
    /// Addresses never given to a container (`aux_addresses`).
    public var reserved: [String] = []
    /// `bridge` (swcompose's own bridge, NAT and isolation), or `macvlan`/`ipvlan`: each container an
    /// interface of its own on `parent` (a host interface; none: a dummy one made for the network),
    /// its address on that link's network, its default route through `gateway`.
    public var driver = "bridge"
    public var parent: String?
    /// macvlan: bridge, private, vepa, passthru; ipvlan: l2, l3, l3s.
    public var mode: String?
    /// ipvlan: bridge, private, vepa.
    public var ipvlanFlag: String?
    /// IPAM driver options: kept with the network (`network inspect` shows them); dockerd's default
    /// IPAM driver, which is swcompose's, takes none and ignores them.
    public var ipamOptions: [String: String] = [:]

    public init(name: String) { self.name = name }
}

/// A container on a network: its address and the names it answers to there.
public struct Endpoint: Codable, Sendable, Equatable {
    public var containerID: String
    public var address: IPv4Address
    /// Service name, container name, hostname, aliases (DNS answers these on this network).
    public var names: [String]
    public var interface: String
    /// The interface's MAC address (`02:42:ac:12:00:03`).
    public var macAddress: String?
    /// Its IPv6 address on a network with IPv6.
    public var address6: IPv6Address?
    /// Whether it announces itself (gratuitous ARP): where neighbours may have cached another MAC for
    /// its address — a network where MAC addresses were ever set by hand. Elsewhere every MAC is
    /// derived from its address, so a cached one is right already (and 200 endpoints announcing
    /// themselves to every port of their bridge cost the square of the stack).
    public var announces: Bool?

    public init(containerID: String, address: IPv4Address, names: [String], interface: String, macAddress: String? = nil) {
        self.containerID = containerID
        self.address = address
        self.names = names
        self.interface = interface
        self.macAddress = macAddress
    }
}

/// A network as created: `networks/<name>.json`.
public struct NetworkRecord: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var created: String
    public var labels: [String: String]
    public var `internal`: Bool
    public var subnet: IPv4Network
    public var gateway: IPv4Address
    public var ipRange: IPv4Network?
    public var bridge: String
    public var endpoints: [String: Endpoint] = [:]
    /// The iptables that holds its rules (nil in records from before there was a choice).
    public var firewall: Firewall.Backend?
    /// The host's rules as `Firewall.fingerprint` read them right after this network's were programmed
    /// (or found in place): while they read the same, nothing has touched them and they are not
    /// programmed again.
    public var firewallFingerprint: String?
    /// A container on it had a MAC address set by hand (see `Endpoint.announces`).
    public var setMACs: Bool?
    /// The MTU of the bridge and of the containers' interfaces (nil: the kernel's default).
    public var mtu: UInt32?
    /// nil is true (records from before these options).
    public var interContainerTraffic: Bool?
    public var masquerade: Bool?
    public var interfacePrefix: String?
    /// Its IPv6 subnet and gateway (a network with `enable_ipv6`).
    public var subnet6: IPv6Network?
    public var gateway6: IPv6Address?
    public var ipRange6: IPv6Network?
    /// Addresses never given to a container (`aux_addresses`).
    public var reserved: [String]?
    /// nil: a bridge; `macvlan` or `ipvlan` on `parent` (and the link made for it, removed with it).
    public var driver: String?
    public var parent: String?
    public var mode: String?
    public var ipvlanFlag: String?
    public var createdParent: String?
    public var ipamOptions: [String: String]?

    /// Containers get interfaces of their own on a host link, not veths on a bridge.
    public var isSubinterfaceNetwork: Bool { driver == "macvlan" || driver == "ipvlan" }
}

public enum NetworkError: Error, CustomStringConvertible, Sendable {
    case notFound(String)
    case inUse(String, containers: [String])
    case invalid(String)
    case exhausted(String)
    /// A system call, netlink or the firewall failed: what was being done, and the failure.
    case system(String, cause: (any Error & Sendable)? = nil)

    public var description: String {
        switch self {
        case .notFound(let n): return "network \(n) not found"
        case .inUse(let n, let c): return "error while removing network: network \(n) has active endpoints (\(c.joined(separator: ", ")))"
        case .invalid(let m): return m
        case .exhausted(let m): return m
        case .system(let m, let cause): return cause.map { "\(m): \($0)" } ?? m
        }
    }
}

/// The networks under `$SWCOMPOSE_ROOT/networks`: a Linux bridge each, with an address pool, firewall
/// rules, and the endpoints of the containers attached to it.
public struct NetworkStore: Sendable {
    public let root: StateRoot

    public init(root: StateRoot) { self.root = root }

    var directory: String { root.networks }
    func path(_ name: String) -> String { directory + "/" + name + ".json" }

    func lock() throws(NetworkError) -> FileLock {
        do {
            try root.ensure(directory)
            return try FileLock(directory + "/.lock")
        } catch {
            throw .system("cannot lock the network records", cause: error)
        }
    }

    /// Bridges, routes and firewall rules are the host's, whatever the state root: creating and removing
    /// networks is serialised host-wide (subnets are chosen from what the host has).
    func hostLock() throws(NetworkError) -> FileLock {
        do {
            try Sys.mkdirAll("/run/swcompose", 0o700)
            return try FileLock("/run/swcompose/networks.lock")
        } catch {
            throw .system("cannot take the host's network lock", cause: error)
        }
    }

    public func inspect(_ name: String) throws(NetworkError) -> NetworkRecord {
        guard let bytes = try? Files.read(path(name)), let record = try? JSON.decode(NetworkRecord.self, bytes) else {
            throw .notFound(name)
        }
        return record
    }

    public func list() -> [NetworkRecord] {
        ((try? Sys.list(directory)) ?? []).filter { $0.hasSuffix(".json") }.sorted()
            .compactMap { try? inspect(String($0.dropLast(5))) }
    }

    func write(_ record: NetworkRecord) throws(NetworkError) {
        do {
            try Files.writeAtomically(path(record.name), try JSON.encode(record), durable: false)
        } catch {
            throw .system("cannot record network \(record.name)", cause: error as? any Error & Sendable)
        }
    }

    // MARK: Creation

    /// docker's default pools: 172.17–31.0.0/16, then 192.168.0.0/16 in /20s.
    static let pools: [IPv4Network] = (17...31).map { IPv4Network("172.\($0).0.0/16")! }
        + stride(from: 0, to: 256, by: 16).map { IPv4Network("192.168.\($0).0/20")! }

    /// Subnets in use on this host: its routes and addresses, and other swcompose networks.
    func taken(excluding name: String) -> [IPv4Network] {
        var used = list().filter { $0.name != name }.map(\.subnet)
        if let nl = try? Netlink() {
            used += ((try? nl.routes()) ?? []).map(\.destination).filter { $0.prefix > 0 }
            used += ((try? nl.addresses()) ?? []).map { IPv4Network(address: $0.address, prefix: $0.prefix) }
        }
        return used
    }

    /// Creates the network (record, bridge, gateway address, rules) unless it exists.
    @discardableResult
    public func create(_ spec: NetworkSpec) throws(NetworkError) -> NetworkRecord {
        let host = try hostLock()
        let held = try lock()
        defer { _ = (held, host) }
        if var existing = try? inspect(spec.name) {
            if existing.isSubinterfaceNetwork {
                try ensureParent(&existing)
                return existing
            }
            // A record whose bridge is gone (a killed command, a reboot): bring it back.
            let before = (existing.firewall, existing.firewallFingerprint)
            try ensureBridge(&existing, mtu: spec.mtu)
            if existing.firewall != before.0 || existing.firewallFingerprint != before.1 { try write(existing) }
            return existing
        }
        guard VolumeStore.isValidName(spec.name) else { throw .invalid("invalid network name \"\(spec.name)\"") }
        let taken = taken(excluding: spec.name)
        let subnet: IPv4Network
        if let wanted = spec.subnet {
            if let clash = taken.first(where: { $0.overlaps(wanted) }) {
                throw .invalid("invalid pool request: Pool overlaps with other one on this address space (\(wanted) overlaps \(clash))")
            }
            subnet = IPv4Network(address: wanted.base, prefix: wanted.prefix)
        } else {
            guard let free = Self.pools.first(where: { pool in !taken.contains { $0.overlaps(pool) } }) else {
                throw .exhausted("all predefined address pools have been fully subnetted")
            }
            subnet = free
        }
        let gateway = spec.gateway ?? subnet.host(1)
        guard subnet.contains(gateway) else { throw .invalid("gateway \(gateway) is not in subnet \(subnet)") }
        if let range = spec.ipRange, !subnet.contains(range.base) || range.prefix < subnet.prefix {
            throw .invalid("ip_range \(range) is not within subnet \(subnet)")
        }
        let id = ContainerStore.newID()
        if let name = spec.bridgeName {
            guard !name.isEmpty, name.utf8.count <= 15, !name.contains("/"), !name.contains(" ") else {
                throw .invalid("invalid bridge name \"\(name)\" (at most 15 characters, no / or spaces)")
            }
            if (try? (try? Netlink())?.link(named: name)) != nil || list().contains(where: { $0.bridge == name }) {
                throw .invalid("bridge name \(name) is already in use on this host")
            }
        }
        var record = NetworkRecord(id: id, name: spec.name, created: Timestamp.rfc3339(), labels: spec.labels,
                                   internal: spec.internal, subnet: subnet, gateway: gateway, ipRange: spec.ipRange,
                                   bridge: spec.bridgeName ?? "sw-" + String(id.prefix(12)))
        record.mtu = spec.mtu
        record.reserved = spec.reserved.isEmpty ? nil : spec.reserved
        record.ipamOptions = spec.ipamOptions.isEmpty ? nil : spec.ipamOptions
        if spec.enableIPv6 {
            let subnet6 = spec.subnet6.map { IPv6Network(address: $0.base, prefix: $0.prefix) } ?? IPv6Network.uniqueLocal(seed: id)
            if let clash = list().compactMap(\.subnet6).first(where: { $0.overlaps(subnet6) }) {
                throw .invalid("invalid pool request: Pool overlaps with other one on this address space (\(subnet6) overlaps \(clash))")
            }
            let gateway6 = spec.gateway6 ?? subnet6.host(1)
            guard subnet6.contains(gateway6) else { throw .invalid("gateway \(gateway6) is not in subnet \(subnet6)") }
            if let range = spec.ipRange6, !subnet6.contains(range.base) || range.prefix < subnet6.prefix {
                throw .invalid("ip_range \(range) is not within subnet \(subnet6)")
            }
            record.subnet6 = subnet6
            record.gateway6 = gateway6
            record.ipRange6 = spec.ipRange6
        }
        if !spec.interContainerTraffic { record.interContainerTraffic = false }
        if !spec.masquerade { record.masquerade = false }
        record.interfacePrefix = spec.interfacePrefix
        if spec.driver == "macvlan" || spec.driver == "ipvlan" {
            record.driver = spec.driver
            record.bridge = ""
            record.parent = spec.parent
            record.mode = spec.mode
            record.ipvlanFlag = spec.ipvlanFlag
        }
        // The record first: a command killed from here on leaves something `down` can find and undo.
        try write(record)
        do {
            if record.isSubinterfaceNetwork { try ensureParent(&record) } else { try ensureBridge(&record, mtu: spec.mtu) }
            try write(record)
        } catch {
            try? removeUnlocked(record)
            throw error
        }
        return record
    }

    /// The host link a macvlan or ipvlan network's containers hang from: the one named (an absent
    /// `name.<vlan>` is made as a VLAN of `name`), or a dummy link of the network's own when none is
    /// named (its containers then reach only each other), as dockerd makes them.
    func ensureParent(_ record: inout NetworkRecord) throws(NetworkError) {
        do {
            let nl = try Netlink()
            let name = record.parent.flatMap { $0.isEmpty ? nil : $0 } ?? record.createdParent ?? "swd-" + String(record.id.prefix(11))
            if try nl.link(named: name) == nil {
                if record.parent.map({ !$0.isEmpty }) != true {
                    try nl.addLink(name, kind: "dummy")
                } else if let dot = name.lastIndex(of: "."), let vlan = UInt16(name[name.index(after: dot)...]),
                          let base = try nl.link(named: String(name[..<dot])) {
                    try nl.addLink(name, kind: "vlan", parent: base.index, vlan: vlan)
                } else {
                    throw NetworkError.invalid("network \(record.name): parent interface \(name) does not exist on this host")
                }
                record.createdParent = name
            }
            guard let link = try nl.link(named: name) else { throw NetworkError.system("link \(name) vanished") }
            if !link.up { try nl.setLink(link.index, up: true) }
            if record.parent.map({ !$0.isEmpty }) != true { record.parent = name }
        } catch let error as NetworkError {
            throw error
        } catch {
            throw .system("network \(record.name): cannot set up its parent link", cause: error as? any Error & Sendable)
        }
    }

    func ensureBridge(_ record: inout NetworkRecord, mtu: UInt32?) throws(NetworkError) {
        var madeAnew = false
        do {
            let nl = try Netlink()
            var bridge = try nl.link(named: record.bridge)
            if bridge == nil {
                try nl.addBridge(record.bridge)
                bridge = try nl.link(named: record.bridge)
                madeAnew = true
            }
            guard let bridge else { throw NetworkError.system("bridge \(record.bridge) vanished") }
            if let mtu { try nl.setLink(bridge.index, mtu: mtu) }
            if !(try nl.addresses()).contains(where: { $0.index == bridge.index && $0.address == record.gateway }) {
                try nl.addAddress(bridge.index, record.gateway, prefix: record.subnet.prefix)
                madeAnew = true
            }
            if let subnet6 = record.subnet6, let gateway6 = record.gateway6 {
                // IPv6 on the bridge (a host may leave new links without it), its gateway, and routing.
                try? Sys.writeNetworkSysctl(path: "/proc/sys/net/ipv6/conf/\(record.bridge)/disable_ipv6", "0")
                do { try nl.addAddress(bridge.index, gateway6, prefix: subnet6.prefix) } catch { if error.code != EEXIST { throw error } }
                try? Sys.writeNetworkSysctl(path: "/proc/sys/net/ipv6/conf/all/forwarding", "1")
            }
            if !bridge.up { try nl.setLink(bridge.index, up: true) }
        } catch let error as NetworkError {
            throw error
        } catch {
            throw .system("network \(record.name): cannot set up bridge \(record.bridge)", cause: error as? any Error & Sendable)
        }
        // The rules: unless the bridge was just made, and the host's rules read as they did when this
        // network's were last programmed — then nothing took them away, and no iptables runs.
        // (A new network's backend is chosen first: choosing probes the firewall, a change of its own.)
        let before = (record.firewall ?? (try? Firewall.selected())).flatMap(Firewall.fingerprint)
        if !madeAnew, let known = record.firewallFingerprint, known == before {
            return
        }
        do {
            record.firewall = try Firewall.addNetwork(id: record.id, bridge: record.bridge, subnet: record.subnet, gateway: record.gateway,
                                                      internal: record.internal, interContainerTraffic: record.interContainerTraffic ?? true,
                                                      masquerade: record.masquerade ?? true)
            if let subnet6 = record.subnet6 {
                try Firewall.addNetwork6(id: record.id, bridge: record.bridge, subnet: subnet6, internal: record.internal,
                                         interContainerTraffic: record.interContainerTraffic ?? true, masquerade: record.masquerade ?? true,
                                         backend: record.firewall!)
            }
        } catch {
            throw .system("network \(record.name): cannot add its firewall rules", cause: error)
        }
        record.firewallFingerprint = record.firewall.flatMap(Firewall.fingerprint)
        carryFingerprint(from: before, to: record.firewallFingerprint, except: record.id)
    }

    /// The other networks whose rules were in place when the host's rules read `before`: a change of
    /// ours alone (one network's chains added or removed) leaves them in place, so they are known
    /// to be in place at `after` too, and are not programmed again because of it.
    func carryFingerprint(from before: String?, to after: String?, except id: String) {
        guard let before, let after, before != after else { return }
        for var other in list() where other.id != id && other.firewallFingerprint == before {
            other.firewallFingerprint = after
            try? write(other)
        }
    }

    // MARK: Removal

    /// Removes the network: refused while running containers are attached to it.
    public func remove(_ name: String, isAlive: (String) -> Bool) throws(NetworkError) {
        let host = try hostLock()
        let held = try lock()
        defer { _ = (held, host) }
        let record = try inspect(name)
        let active = record.endpoints.values.filter { isAlive($0.containerID) }
        if !active.isEmpty {
            throw .inUse(name, containers: active.flatMap { $0.names.prefix(1) }.sorted())
        }
        try removeUnlocked(record)
    }

    func removeUnlocked(_ record: NetworkRecord) throws(NetworkError) {
        if record.isSubinterfaceNetwork {
            if let made = record.createdParent, let nl = try? Netlink(), let link = try? nl.link(named: made) {
                do { try nl.deleteLink(link.index) } catch { throw .system("network \(record.name): cannot delete link \(made)", cause: error) }
            }
            try? Sys.unlink(path(record.name))
            return
        }
        let before = record.firewall.flatMap(Firewall.fingerprint)
        do {
            try Firewall.removeNetwork(id: record.id, bridge: record.bridge, subnet: record.subnet, backend: record.firewall)
            if let subnet6 = record.subnet6 {
                try Firewall.removeNetwork6(id: record.id, bridge: record.bridge, subnet: subnet6, backend: record.firewall)
            }
        } catch {
            throw .system("network \(record.name): cannot remove its firewall rules", cause: error)
        }
        carryFingerprint(from: before, to: record.firewall.flatMap(Firewall.fingerprint), except: record.id)
        if let nl = try? Netlink(), let link = try? nl.link(named: record.bridge) {
            do { try nl.deleteLink(link.index) } catch { throw .system("network \(record.name): cannot delete bridge \(record.bridge)", cause: error) }
        }
        try? Sys.unlink(path(record.name))
    }

    // MARK: Endpoints

    public struct Attachment: Sendable {
        public var network: String
        public var names: [String]
        public var address: IPv4Address?
        public var macAddress: [UInt8]?
        public var priority: Int = 0
        public var address6: IPv6Address?
        /// Its name in the container (else `<prefix><n>`).
        public var interface: String?
        /// More addresses on the interface (`link_local_ips`).
        public var linkLocal: [String] = []
        /// The highest gives the default route (`gw_priority`).
        public var gatewayPriority = 0
        /// Sysctls of the interface (`IFNAME` standing for its name in the keys).
        public var sysctls: [String: String] = [:]

        public init(network: String, names: [String], address: IPv4Address? = nil, macAddress: [UInt8]? = nil) {
            self.network = network
            self.names = names
            self.address = address
            self.macAddress = macAddress
        }
    }

    /// Connects a starting container (its network namespace is `/proc/<pid>/ns/net`) to its networks,
    /// in order: `eth0`, `eth1`…, addresses, loopback, and the default route through the first network's
    /// gateway (unless that network is internal). Returns the endpoints made.
    /// `exists` tells whether a container still has a record: endpoints of removed containers free their
    /// addresses (those of running or starting ones are left alone; exits detach themselves).
    public func attach(containerID: String, pid: Int32, _ attachments: [Attachment], exists: (String) -> Bool) throws(NetworkError) -> [String: Endpoint] {
        let held = try lock()
        defer { _ = held }
        var made: [String: Endpoint] = [:]
        do {
            let host = try Netlink()
            let nsfd = try Sys.open("/proc/\(pid)/ns/net", O_RDONLY)
            defer { Sys.close(nsfd) }
            let inside = try Netlink(namespaceFD: nsfd)
            var records = try attachments.map { (a) throws(NetworkError) in try inspect(a.network) }
            // IPv6 as dockerd leaves it: off in the namespace (`all`), back on for its loopback and for
            // the interfaces of networks that have it (an IPv4-only container's sysctl turns it off
            // after the fact: see the planner's defaults).
            let anyIPv6 = records.contains { $0.subnet6 != nil }
            if anyIPv6 {
                try Sys.writeNetworkSysctl(path: "/proc/sys/net/ipv6/conf/all/disable_ipv6", "1", namespace: nsfd)
                try Sys.writeNetworkSysctl(path: "/proc/sys/net/ipv6/conf/lo/disable_ipv6", "0", namespace: nsfd)
            }
            if let lo = try inside.link(named: "lo") { try inside.setLink(lo.index, up: true) }
            // The default routes: through the network with the highest gw_priority, the first on ties.
            let gateway4 = attachments.indices.max { attachments[$0].gatewayPriority < attachments[$1].gatewayPriority || ($0 > $1 && attachments[$0].gatewayPriority == attachments[$1].gatewayPriority) }
            let v6 = attachments.indices.filter { records[$0].subnet6 != nil }
            let gateway6 = v6.max { attachments[$0].gatewayPriority < attachments[$1].gatewayPriority || ($0 > $1 && attachments[$0].gatewayPriority == attachments[$1].gatewayPriority) }
            for (n, attachment) in attachments.enumerated() {
                var record = records[n]
                // Endpoints of containers that are gone free their addresses.
                record.endpoints = record.endpoints.filter { $0.key != containerID && exists($0.key) }
                let address = try allocate(in: record, wanted: attachment.address)
                let address6 = try record.subnet6.map { (_) throws(NetworkError) in try allocate6(in: record, wanted: attachment.address6) }
                let interface = attachment.interface ?? (record.interfacePrefix ?? "eth") + "\(n)"
                var mac = attachment.macAddress ?? Netlink.macAddress(for: address)
                var bridgeMAC: [UInt8] = []
                if record.isSubinterfaceNetwork {
                    guard let parentName = record.parent, let parent = try host.link(named: parentName) else {
                        throw NetworkError.system("network \(record.name): parent interface \(record.parent ?? "") is missing (run `swcompose up` again)")
                    }
                    if record.driver == "ipvlan" {
                        // ipvlan interfaces share their parent's MAC address.
                        let modes: [String: UInt32] = ["l2": 0, "l3": 1, "l3s": 2], flags: [String: UInt16] = ["bridge": 0, "private": 1, "vepa": 2]
                        try host.addSubinterface("ipvlan", name: interface, parent: parent.index, namespaceFD: nsfd,
                                                 mode: modes[record.mode ?? "l2"] ?? 0, flags: flags[record.ipvlanFlag ?? "bridge"] ?? 0)
                        mac = parent.mac
                    } else {
                        let modes: [String: UInt32] = ["private": 1, "vepa": 2, "bridge": 4, "passthru": 8]
                        try host.addSubinterface("macvlan", name: interface, parent: parent.index, namespaceFD: nsfd,
                                                 mode: modes[record.mode ?? "bridge"] ?? 4, mac: mac)
                    }
                } else {
                    let hostName = "veth" + String(ContainerStore.newID().prefix(7))
                    try host.addVeth(hostName, peer: interface, peerNamespaceFD: nsfd, peerMAC: mac)
                    guard let hostLink = try host.link(named: hostName), let bridge = try host.link(named: record.bridge) else {
                        throw NetworkError.system("network \(record.name): bridge \(record.bridge) is missing (run `swcompose up` again)")
                    }
                    // The network's MTU on both ends, as on its bridge.
                    if let mtu = record.mtu { try host.setLink(hostLink.index, mtu: mtu) }
                    try host.setLink(hostLink.index, up: true, master: bridge.index)
                    bridgeMAC = bridge.mac
                }
                guard let inner = try inside.link(named: interface) else { throw NetworkError.system("\(interface) did not appear") }
                if let mtu = record.mtu { try inside.setLink(inner.index, mtu: mtu) }
                if anyIPv6 {
                    try Sys.writeNetworkSysctl(path: "/proc/sys/net/ipv6/conf/\(interface)/disable_ipv6", address6 == nil ? "1" : "0", namespace: nsfd)
                }
                for (key, value) in attachment.sysctls.sorted(by: { $0.key < $1.key }) {
                    let path = "/proc/sys/" + key.split(separator: ".").map { $0 == "IFNAME" ? interface : String($0) }.joined(separator: "/")
                    try Sys.writeNetworkSysctl(path: path, value, namespace: nsfd)
                }
                try inside.addAddress(inner.index, address, prefix: record.subnet.prefix)
                if let address6, let subnet6 = record.subnet6 { try inside.addAddress(inner.index, address6, prefix: subnet6.prefix) }
                for text in attachment.linkLocal {
                    if let a = IPv4Address(text) { try inside.addAddress(inner.index, a, prefix: 16) }
                    else if let a = IPv6Address(text) { try inside.addAddress(inner.index, a, prefix: 64) }
                }
                // Announced as it comes up (and again by the supervisor, `ARP.schedule`): caches that
                // knew another MAC for the address (a user-set one) are corrected at once.
                try inside.enableARPNotify(inner.index)
                try inside.setLink(inner.index, up: true)
                // The gateway's address known in advance: the container's first reply to the host (a
                // published port's first connection) need not wait for an ARP round trip. The
                // bridge's MAC is fixed for its life (addBridge).
                if bridgeMAC.count == 6 { try inside.addNeighbour(inner.index, record.gateway, mac: bridgeMAC) }
                // Through the chosen network's gateway, an internal one's too (dockerd 20.10 sets it; the
                // firewall keeps internal networks' traffic in). ipvlan in layer 3 has no gateway to ask
                // for: everything leaves by the interface.
                if n == gateway4 {
                    if record.driver == "ipvlan" && (record.mode == "l3" || record.mode == "l3s") {
                        try inside.addDefaultRoute(device: inner.index)
                    } else {
                        try inside.addDefaultRoute(via: record.gateway, index: inner.index)
                    }
                }
                if n == gateway6, let g = record.gateway6 { try inside.addDefaultRoute(via: g, index: inner.index) }
                var endpoint = Endpoint(containerID: containerID, address: address, names: attachment.names, interface: interface,
                                        macAddress: Netlink.formatMAC(mac))
                endpoint.address6 = address6
                if attachment.macAddress != nil { record.setMACs = true }
                if record.setMACs == true { endpoint.announces = true }
                record.endpoints[containerID] = endpoint
                records[n] = record
                try write(record)
                made[record.name] = endpoint
            }
        } catch let error as NetworkError {
            throw error
        } catch {
            throw .system("cannot connect container \(containerID.prefix(12)) to its networks", cause: error as? any Error & Sendable)
        }
        return made
    }

    /// The IPv6 address a container gets: the one asked for, or the next free one from ::2 (the
    /// gateway, reserved and used addresses skipped).
    func allocate6(in record: NetworkRecord, wanted: IPv6Address?) throws(NetworkError) -> IPv6Address {
        guard let subnet6 = record.subnet6 else { throw .invalid("network \(record.name) has no IPv6") }
        var used = Set(record.endpoints.values.compactMap(\.address6))
        if let g = record.gateway6 { used.insert(g) }
        for r in record.reserved ?? [] { if let a = IPv6Address(r) { used.insert(a) } }
        if let wanted {
            guard subnet6.contains(wanted) else {
                throw .invalid("address \(wanted) is not in the subnet \(subnet6) of network \(record.name)")
            }
            if used.contains(wanted) { throw .invalid("address \(wanted) is already in use on network \(record.name)") }
            return wanted
        }
        let range = record.ipRange6 ?? subnet6
        for n in UInt64(1)..<UInt64(1 << 20) {
            let candidate = range.host(n)
            guard subnet6.contains(candidate) else { break }
            if !used.contains(candidate) { return candidate }
        }
        throw .exhausted("no available IPv6 addresses on network \(record.name)")
    }

    func allocate(in record: NetworkRecord, wanted: IPv4Address?) throws(NetworkError) -> IPv4Address {
        let used = Set(record.endpoints.values.map(\.address) + [record.gateway] + (record.reserved ?? []).compactMap(IPv4Address.init))
        if let wanted {
            guard record.subnet.contains(wanted) else {
                throw .invalid("address \(wanted) is not in the subnet \(record.subnet) of network \(record.name)")
            }
            if used.contains(wanted) { throw .invalid("address \(wanted) is already in use on network \(record.name)") }
            return wanted
        }
        let range = record.ipRange ?? record.subnet
        for n in UInt32(1)..<UInt32(min(range.size, 1 << 20) - 1) {
            let candidate = range.host(n)
            if candidate == record.subnet.base || candidate == record.subnet.broadcast { continue }
            if !used.contains(candidate) { return candidate }
        }
        throw .exhausted("no available IPv4 addresses on network \(record.name)")
    }

    /// Runs a change of the host's firewall that is not a network's own (a container's published
    /// ports), serialised host-wide as the networks' changes are; the networks whose rules were in
    /// place before it are known to be in place after it.
    public func changeFirewall(_ change: () throws -> Void) throws {
        let host = try hostLock()
        let held = try lock()
        defer { _ = (held, host) }
        let backend = try? Firewall.selected()
        let before = backend.flatMap(Firewall.fingerprint)
        try change()
        carryFingerprint(from: before, to: backend.flatMap(Firewall.fingerprint), except: "")
    }

    /// Forgets a container's endpoints (its veths went with its network namespace).
    public func detach(containerID: String) {
        guard let held = try? lock() else { return }
        defer { _ = held }
        for var record in list() where record.endpoints[containerID] != nil {
            record.endpoints[containerID] = nil
            try? write(record)
        }
    }
}
