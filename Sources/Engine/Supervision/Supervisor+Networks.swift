#if canImport(Glibc)
import Glibc
#endif

/// What the supervisor does for its containers' networks: it attaches them when they start, answers
/// DNS on each network's gateway (container and service names on that network; the rest forwarded to
/// the host's resolvers), and forwards published ports from the host to the containers.
final class NetworkServices {
    // Published ports: listeners per container, and the connections and flows they carry.
    struct Listener {
        var fd: Int32
        var binding: PublishedPort
    }

    /// A forwarded TCP connection: what each side sends goes through a pipe of its own to the other
    /// side, moved by splice(2), so that the bytes never enter the supervisor's memory.
    final class Connection {
        let client: Int32
        let backend: Int32
        var connected = false
        /// client → backend, and backend → client.
        var up: Pipe
        var down: Pipe
        var clientDone = false
        var backendDone = false
        var clientShut = false
        var backendShut = false

        init(client: Int32, backend: Int32, up: Pipe, down: Pipe) {
            self.client = client
            self.backend = backend
            self.up = up
            self.down = down
        }
    }

    /// One direction of a connection: a pipe, and how many bytes it holds.
    struct Pipe {
        var read: Int32
        var write: Int32
        var capacity: Int
        var held = 0
        /// The input had more than the pipe took.
        var stalled = false
    }

    /// Emptied pipes of closed connections, for the next ones (a pipe is two descriptors and two
    /// system calls to make).
    var sparePipes: [Pipe] = []

    func takePipe() -> Pipe? {
        if let p = sparePipes.popLast() { return p }
        guard let fds = try? Sys.pipe(nonBlocking: true) else { return nil }
        return Pipe(read: fds.read, write: fds.write, capacity: Sys.setPipeCapacity(fds.write, 256 * 1024))
    }

    func givePipe(_ p: Pipe) {
        if p.held == 0 && sparePipes.count < 32 {
            var p = p
            p.stalled = false
            sparePipes.append(p)
        } else {
            Sys.close(p.read)
            Sys.close(p.write)
        }
    }

    final class Flow {
        let listener: Int32
        let client: SocketAddress
        let backend: Int32
        var lastUsed: Double

        init(listener: Int32, client: SocketAddress, backend: Int32, lastUsed: Double) {
            self.listener = listener
            self.client = client
            self.backend = backend
            self.lastUsed = lastUsed
        }
    }

    struct PendingQuery {
        var resolver: Int32
        var client: SocketAddress
        var originalID: UInt16
        var query: [UInt8]
        var question: DNSMessage.Question
        var deadline: Double
    }

    var listeners: [String: [Listener]] = [:]
    var connections: [Int32: Connection] = [:]   // keyed by both descriptors
    var flows: [Int32: Flow] = [:]               // keyed by backend descriptor
    var flowByClient: [String: Flow] = [:]       // "<listener>|<client>"
    var resolvers: [String: Int32] = [:]         // network name → socket on its gateway:53 (without embedded DNS)
    /// Whether cgroup socket programs can redirect containers' port 53 (nil: not tried yet).
    var canRedirectDNS: Bool?
    var upstream: Int32 = -1
    var pending: [UInt16: PendingQuery] = [:]
    lazy var hostResolvers: [SocketAddress] = NetworkServices.readHostResolvers()

    static func readHostResolvers() -> [SocketAddress] {
        if let configured = getenv("SWCOMPOSE_DNS_UPSTREAMS").map({ String(cString: $0) }) {
            return configured.split(separator: ",").compactMap { parseServer(String($0)) }
        }
        let text = (try? Files.readText("/etc/resolv.conf")) ?? ""
        let servers = text.split(separator: "\n").compactMap { line -> SocketAddress? in
            let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard f.count >= 2, f[0] == "nameserver" else { return nil }
            return SocketAddress(ip: String(f[1]), port: 53)
        }
        return servers
    }

    /// `1.2.3.4`, `1.2.3.4:5353`, `[::1]:53`.
    static func parseServer(_ text: String) -> SocketAddress? {
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            let ip = String(text[text.index(after: text.startIndex)..<close])
            let port = UInt16(text[close...].dropFirst(2)) ?? 53
            return SocketAddress(ip: ip, port: port)
        }
        let parts = text.split(separator: ":")
        if parts.count == 2, let port = UInt16(parts[1]) { return SocketAddress(ip: String(parts[0]), port: port) }
        return SocketAddress(ip: text, port: 53)
    }
}

extension Supervisor {
    static let epollIn: UInt32 = 1, epollOut: UInt32 = 4

    func rewatch(_ fd: Int32, events: UInt32) {
        epoll.modify(fd, events: events)
    }

    // MARK: - Announcing

    /// The gratuitous ARPs of a container's endpoints: sockets in its namespace, and when the next goes.
    final class Announcements {
        struct Endpoint {
            var fd: Int32
            var index: Int32
            var payload: [UInt8]
        }

        var endpoints: [Endpoint]
        let started: Double
        var sent = 0

        init(endpoints: [Endpoint], started: Double) {
            self.endpoints = endpoints
            self.started = started
        }

        deinit { for e in endpoints { Sys.close(e.fd) } }

        var next: Double? { sent < ARP.schedule.count ? started + ARP.schedule[sent] : nil }
    }

    /// Opens an ARP socket on each of the container's interfaces and sends the first announcements.
    /// Announcing is best effort: a container without them is reached once neighbours' entries expire.
    func startAnnouncing(_ m: Managed, pid: Int32) {
        guard let nsfd = try? Sys.open("/proc/\(pid)/ns/net", O_RDONLY) else { return }
        defer { Sys.close(nsfd) }
        var endpoints: [Announcements.Endpoint] = []
        for e in m.state.networks.values where e.announces == true {
            guard let text = e.macAddress, let mac = Netlink.parseMAC(text), let socket = try? Sys.arpSocket(namespace: nsfd, interface: e.interface) else { continue }
            endpoints.append(.init(fd: socket.fd, index: socket.index, payload: ARP.announcement(mac: mac, address: e.address)))
        }
        guard !endpoints.isEmpty else { return }
        m.announcements = Announcements(endpoints: endpoints, started: Self.now())
        announce(m)
    }

    func announce(_ m: Managed) {
        guard let a = m.announcements else { return }
        for e in a.endpoints { try? Sys.broadcastARP(e.fd, index: e.index, e.payload) }
        a.sent += 1
        if a.next == nil { m.announcements = nil }
    }

    // MARK: - Attaching

    /// Connects a starting container to its networks (its namespace exists, it waits for `go`), writes
    /// its /etc/hosts and /etc/resolv.conf, and makes sure the networks' resolvers listen.
    func attachNetworks(_ m: Managed, pid: Int32) throws {
        if case .container(let other) = m.spec.network {
            // It shares the other's namespace, so its resolver; its own cgroup needs the same redirect.
            let port = managed[other]?.state.resolverPort ?? store.state(other).resolverPort
            if port != 0 && port != 53, let dir = Cgroup.unifiedDirectory(ofProcess: pid) {
                try? EmbeddedDNS.redirect(cgroup: dir, port: port)
            }
            return
        }
        guard case .bridged(let endpoints) = m.spec.network else { return }
        let store = NetworkStore(root: runtime.root)
        let attachments = endpoints.map { e in
            var a = NetworkStore.Attachment(network: e.network, names: e.names, address: e.ipv4Address.flatMap(IPv4Address.init),
                                            macAddress: e.macAddress.flatMap(Netlink.parseMAC))
            a.address6 = e.ipv6Address.flatMap(IPv6Address.init)
            a.interface = e.interfaceName
            a.linkLocal = e.linkLocalAddresses ?? []
            a.gatewayPriority = e.gatewayPriority ?? 0
            a.sysctls = e.sysctls ?? [:]
            return a
        }
        let made = try store.attach(containerID: m.spec.id, pid: pid, attachments) { [runtime] id in
            Sys.exists(runtime.containerDirectory(id) + "/config.json")
        }
        m.state.networks = made
        publishInKernel(m)
        startAnnouncing(m, pid: pid)
        var resolverAddress: String?
        if startContainerResolver(m, pid: pid) {
            resolverAddress = EmbeddedDNS.address
        } else {
            for e in endpoints {
                guard let record = try? store.inspect(e.network) else { continue }
                ensureResolver(record)
                if resolverAddress == nil { resolverAddress = record.gateway.description }
            }
        }
        // /etc/hosts gets the container's own address; /etc/resolv.conf points at the network's resolver.
        let dir = runtime.containerDirectory(m.spec.id)
        if let first = endpoints.first.flatMap({ made[$0.network] }) {
            var hosts = (try? Files.readText(dir + "/hosts")) ?? ""
            hosts += EtcHosts.ownRecord(address: first.address.description, hostname: m.spec.hostname, domainname: m.spec.domainname)
            if let v6 = first.address6 {
                hosts += EtcHosts.ownRecord(address: v6.description, hostname: m.spec.hostname, domainname: m.spec.domainname)
            }
            try? Files.writeAtomically(dir + "/hosts", hosts, mode: 0o644, durable: false)
        }
        if let resolverAddress {
            var dns = m.spec.dns
            dns.servers = [resolverAddress]
            if dns.options.isEmpty { dns.options = ["ndots:0"] }
            try? Files.writeAtomically(dir + "/resolv.conf", ResolvConf.forContainer(dns), mode: 0o644, durable: false)
        }
    }

    func detachNetworks(_ m: Managed) {
        unpublishInKernel(m)
        m.announcements = nil
        stopContainerResolver(m)
        guard case .bridged = m.spec.network else { return }
        NetworkStore(root: runtime.root).detach(containerID: m.spec.id)
        m.state.networks = [:]
        // Resolvers of networks none of our running containers use any more go.
        let used = Set(managed.values.filter(\.isRunning).flatMap { $0.state.networks.keys })
        Trace.mark("detach \(m.spec.name): networks in use \(used.sorted())")
        for (name, fd) in net.resolvers where !used.contains(name) {
            unwatch(fd)
            Sys.close(fd)
            net.resolvers[name] = nil
        }
    }

    /// Closes every listener, connection and resolver (the supervisor is exiting).
    func closeNetworkServices() {
        for id in Array(net.listeners.keys) { releasePorts(id) }
        for c in Set(net.connections.values.map { ObjectIdentifier($0) }) {
            if let conn = net.connections.values.first(where: { ObjectIdentifier($0) == c }) { closeConnection(conn) }
        }
        for fd in net.resolvers.values { Sys.close(fd) }
        net.resolvers = [:]
        if net.upstream >= 0 { Sys.close(net.upstream) }
    }
}
