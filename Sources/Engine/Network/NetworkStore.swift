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
    /// The MTU of the bridge and of the containers' interfaces (nil: the kernel's default).
    public var mtu: UInt32?
    /// nil is true (records from before these options).
    public var interContainerTraffic: Bool?
    public var masquerade: Bool?
    public var interfacePrefix: String?
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
            // A record whose bridge is gone (a killed command, a reboot): bring it back.
            let before = existing.firewall
            try ensureBridge(&existing, mtu: spec.mtu)
            if existing.firewall != before { try write(existing) }
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
        if !spec.interContainerTraffic { record.interContainerTraffic = false }
        if !spec.masquerade { record.masquerade = false }
        record.interfacePrefix = spec.interfacePrefix
        // The record first: a command killed from here on leaves something `down` can find and undo.
        try write(record)
        do {
            try ensureBridge(&record, mtu: spec.mtu)
            try write(record)
        } catch {
            try? removeUnlocked(record)
            throw error
        }
        return record
    }

    func ensureBridge(_ record: inout NetworkRecord, mtu: UInt32?) throws(NetworkError) {
        do {
            let nl = try Netlink()
            var bridge = try nl.link(named: record.bridge)
            if bridge == nil {
                try nl.addBridge(record.bridge)
                bridge = try nl.link(named: record.bridge)
            }
            guard let bridge else { throw NetworkError.system("bridge \(record.bridge) vanished") }
            if let mtu { try nl.setLink(bridge.index, mtu: mtu) }
            if !(try nl.addresses()).contains(where: { $0.index == bridge.index && $0.address == record.gateway }) {
                try nl.addAddress(bridge.index, record.gateway, prefix: record.subnet.prefix)
            }
            if !bridge.up { try nl.setLink(bridge.index, up: true) }
        } catch let error as NetworkError {
            throw error
        } catch {
            throw .system("network \(record.name): cannot set up bridge \(record.bridge)", cause: error as? any Error & Sendable)
        }
        do {
            record.firewall = try Firewall.addNetwork(id: record.id, bridge: record.bridge, subnet: record.subnet, gateway: record.gateway,
                                                      internal: record.internal, interContainerTraffic: record.interContainerTraffic ?? true,
                                                      masquerade: record.masquerade ?? true)
        } catch {
            throw .system("network \(record.name): cannot add its firewall rules", cause: error)
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
        do {
            try Firewall.removeNetwork(id: record.id, bridge: record.bridge, subnet: record.subnet, backend: record.firewall)
        } catch {
            throw .system("network \(record.name): cannot remove its firewall rules", cause: error)
        }
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
            if let lo = try inside.link(named: "lo") { try inside.setLink(lo.index, up: true) }
            var defaultRouteSet = false
            for (n, attachment) in attachments.enumerated() {
                var record = try inspect(attachment.network)
                // Endpoints of containers that are gone free their addresses.
                record.endpoints = record.endpoints.filter { $0.key != containerID && exists($0.key) }
                let address = try allocate(in: record, wanted: attachment.address)
                let interface = (record.interfacePrefix ?? "eth") + "\(n)"
                let hostName = "veth" + String(ContainerStore.newID().prefix(7))
                let mac = attachment.macAddress ?? Netlink.macAddress(for: address)
                try host.addVeth(hostName, peer: interface, peerNamespaceFD: nsfd, peerMAC: mac)
                guard let hostLink = try host.link(named: hostName), let bridge = try host.link(named: record.bridge) else {
                    throw NetworkError.system("network \(record.name): bridge \(record.bridge) is missing (run `swcompose up` again)")
                }
                // The network's MTU on both ends, as on its bridge.
                if let mtu = record.mtu { try host.setLink(hostLink.index, mtu: mtu) }
                try host.setLink(hostLink.index, up: true, master: bridge.index)
                guard let inner = try inside.link(named: interface) else { throw NetworkError.system("\(interface) did not appear") }
                if let mtu = record.mtu { try inside.setLink(inner.index, mtu: mtu) }
                try inside.addAddress(inner.index, address, prefix: record.subnet.prefix)
                // Announced as it comes up (and again by the supervisor, `ARP.schedule`): caches that
                // knew another MAC for the address (a user-set one) are corrected at once.
                try inside.enableARPNotify(inner.index)
                try inside.setLink(inner.index, up: true)
                // The gateway's address known in advance: the container's first reply to the host (a
                // published port's first connection) need not wait for an ARP round trip. The
                // bridge's MAC is fixed for its life (addBridge).
                if bridge.mac.count == 6 { try inside.addNeighbour(inner.index, record.gateway, mac: bridge.mac) }
                // Through the first network's gateway, an internal one's too (dockerd 20.10 sets it; the
                // firewall keeps internal networks' traffic in).
                if !defaultRouteSet {
                    try inside.addDefaultRoute(via: record.gateway, index: inner.index)
                    defaultRouteSet = true
                }
                let endpoint = Endpoint(containerID: containerID, address: address, names: attachment.names, interface: interface,
                                        macAddress: Netlink.formatMAC(mac))
                record.endpoints[containerID] = endpoint
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

    func allocate(in record: NetworkRecord, wanted: IPv4Address?) throws(NetworkError) -> IPv4Address {
        let used = Set(record.endpoints.values.map(\.address) + [record.gateway])
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
