#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// What the supervisor does for its containers' networks: it attaches them when they start, answers
/// DNS on each network's gateway (container and service names on that network; the rest forwarded to
/// the host's resolvers), and forwards published ports from the host to the containers.
final class NetworkServices {
    // Published ports: listeners per container, and the connections and flows they carry.
    struct Listener {
        var fd: Int32
        var binding: PublishedPort
    }

    final class Connection {
        let client: Int32
        let backend: Int32
        var connected = false
        var toBackend: [UInt8] = []
        var toClient: [UInt8] = []
        var clientDone = false
        var backendDone = false

        init(client: Int32, backend: Int32) {
            self.client = client
            self.backend = backend
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
    var resolvers: [String: Int32] = [:]         // network name → socket on its gateway:53
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
        _ = cl_epoll_ctl(epoll, 3 /* EPOLL_CTL_MOD */, fd, events)
    }

    // MARK: - Attaching

    /// Connects a starting container to its networks (its namespace exists, it waits for `go`), writes
    /// its /etc/hosts and /etc/resolv.conf, and makes sure the networks' resolvers listen.
    func attachNetworks(_ m: Managed, pid: Int32) throws {
        guard case .bridged(let endpoints) = m.spec.network else { return }
        let store = NetworkStore(root: runtime.root)
        let attachments = endpoints.map { e in
            NetworkStore.Attachment(network: e.network, names: e.names, address: e.ipv4Address.flatMap(IPv4Address.init),
                                    macAddress: e.macAddress.flatMap(Netlink.parseMAC))
        }
        let made = try store.attach(containerID: m.spec.id, pid: pid, attachments) { [runtime] id in
            Sys.exists(runtime.containerDirectory(id) + "/config.json")
        }
        m.state.networks = made
        var resolverAddress: IPv4Address?
        for e in endpoints {
            guard let record = try? store.inspect(e.network) else { continue }
            ensureResolver(record)
            if resolverAddress == nil { resolverAddress = record.gateway }
        }
        // /etc/hosts gets the container's own address; /etc/resolv.conf points at the network's resolver.
        let dir = runtime.containerDirectory(m.spec.id)
        if let first = endpoints.first.flatMap({ made[$0.network] }) {
            var hosts = (try? Files.readText(dir + "/hosts")) ?? ""
            hosts += "\(first.address)\t\(m.spec.hostname)\n"
            try? Files.writeAtomically(dir + "/hosts", hosts, mode: 0o644, durable: false)
        }
        if let resolverAddress {
            var dns = m.spec.dns
            dns.servers = [resolverAddress.description]
            if dns.options.isEmpty { dns.options = ["ndots:0"] }
            try? Files.writeAtomically(dir + "/resolv.conf", ResolvConf.forContainer(dns), mode: 0o644, durable: false)
        }
    }

    func detachNetworks(_ m: Managed) {
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

    // MARK: - Published ports

    /// Binds the container's published ports (all of them, or none): failures name the port and who
    /// holds it.
    func bindPorts(_ m: Managed) throws(StartError) {
        releasePorts(m.spec.id)
        switch m.spec.network {
        case .bridged: break
        default: return // docker discards published ports outside a bridge network
        }
        var made: [NetworkServices.Listener] = []
        func fail(_ message: String) -> StartError {
            for l in made { Sys.close(l.fd) }
            return StartError(step: "publish ports", message: message)
        }
        let ipv6 = ((try? Files.readText("/proc/net/if_inet6")) ?? "").contains("00000000000000000000000000000001")
        for binding in m.spec.ports {
            let udp = binding.proto == "udp"
            let ips = binding.hostIP.isEmpty ? (ipv6 ? ["0.0.0.0", "::"] : ["0.0.0.0"]) : [binding.hostIP]
            var bound: [NetworkServices.Listener] = []
            var lastError: SystemError?
            for candidate in binding.hostPort...max(binding.hostPort, binding.hostPortEnd) {
                bound = []
                var port = candidate
                lastError = nil
                for ip in ips {
                    guard let address = SocketAddress(ip: ip, port: port) else { throw fail("invalid host IP \(ip)") }
                    do {
                        let fd = udp ? try Sockets.udp(address) : try Sockets.tcpListener(address)
                        if port == 0 { port = Sockets.localAddress(fd)?.port ?? 0 }
                        bound.append(.init(fd: fd, binding: PublishedPort(hostIP: ip, hostPort: port, containerPort: binding.containerPort, proto: binding.proto)))
                    } catch {
                        lastError = error
                        break
                    }
                }
                if lastError == nil { break }
                for l in bound { Sys.close(l.fd) }
                bound = []
            }
            if let lastError {
                let ip = ips.first ?? "0.0.0.0"
                let port = binding.hostPort
                var message = "Bind for \(ip.contains(":") ? "[\(ip)]" : ip):\(port) failed: "
                if lastError.code == EADDRINUSE {
                    message += "port is already allocated"
                    if port != 0, let holder = PortHolder.describe(port: port, udp: udp) { message += " (held by \(holder))" }
                } else {
                    message += lastError.message
                }
                throw fail(message)
            }
            made += bound
        }
        net.listeners[m.spec.id] = made
        m.state.ports = made.map(\.binding)
        for l in made { watch(l.fd, l.binding.proto == "udp" ? .udpListener(m.spec.id) : .portListener(m.spec.id)) }
    }

    func releasePorts(_ id: String) {
        for l in net.listeners[id] ?? [] {
            unwatch(l.fd)
            Sys.close(l.fd)
            for flow in net.flows.values where flow.listener == l.fd { closeFlow(flow) }
        }
        net.listeners[id] = nil
    }

    /// Where a published port of the container leads: its address on its first network.
    func target(_ id: String, port: UInt16) -> SocketAddress? {
        guard let m = managed[id], m.isRunning, case .bridged(let endpoints) = m.spec.network,
              let first = endpoints.first, let endpoint = m.state.networks[first.network] else { return nil }
        return SocketAddress(ip: endpoint.address.description, port: port)
    }

    func acceptConnection(_ fd: Int32, container id: String) {
        guard let listener = net.listeners[id]?.first(where: { $0.fd == fd }) else { return }
        while true {
            let client = cl_accept(fd)
            if client < 0 { return }
            guard let to = target(id, port: listener.binding.containerPort), let backend = try? Sockets.connect(to) else {
                Sys.close(client)
                continue
            }
            let c = NetworkServices.Connection(client: client, backend: backend)
            net.connections[client] = c
            net.connections[backend] = c
            watch(client, .proxy, events: 0)
            watch(backend, .proxy, events: Self.epollOut)
        }
    }

    func proxyEvent(_ fd: Int32) {
        guard let c = net.connections[fd] else { return }
        if fd == c.backend && !c.connected {
            if Sockets.pendingError(c.backend) != 0 { return closeConnection(c) }
            c.connected = true
        }
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        func pump(_ from: Int32, into pending: inout [UInt8], done: inout Bool) -> Bool {
            guard pending.isEmpty, !done else { return true }
            let n = buffer.withUnsafeMutableBytes { read(from, $0.baseAddress, $0.count) }
            if n > 0 { pending = Array(buffer[0..<n]); return true }
            if n == 0 { done = true; return true }
            return errno == EAGAIN || errno == EINTR
        }
        func flush(_ to: Int32, _ pending: inout [UInt8]) -> Bool {
            guard !pending.isEmpty else { return true }
            let n = pending.withUnsafeBytes { send(to, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n > 0 { pending.removeFirst(n); return true }
            return errno == EAGAIN || errno == EINTR
        }
        if fd == c.client {
            guard pump(c.client, into: &c.toBackend, done: &c.clientDone) else { return closeConnection(c) }
        } else if c.connected {
            guard pump(c.backend, into: &c.toClient, done: &c.backendDone) else { return closeConnection(c) }
        }
        guard !c.connected || flush(c.backend, &c.toBackend), flush(c.client, &c.toClient) else { return closeConnection(c) }
        if c.clientDone && c.toBackend.isEmpty { _ = shutdown(c.backend, Int32(SHUT_WR)) }
        if c.backendDone && c.toClient.isEmpty { _ = shutdown(c.client, Int32(SHUT_WR)) }
        if c.clientDone && c.backendDone && c.toBackend.isEmpty && c.toClient.isEmpty { return closeConnection(c) }
        var clientEvents: UInt32 = 0, backendEvents: UInt32 = 0
        if c.connected {
            if c.toBackend.isEmpty && !c.clientDone { clientEvents |= Self.epollIn }
            if c.toClient.isEmpty && !c.backendDone { backendEvents |= Self.epollIn }
            if !c.toBackend.isEmpty { backendEvents |= Self.epollOut }
            if !c.toClient.isEmpty { clientEvents |= Self.epollOut }
        } else {
            backendEvents = Self.epollOut
        }
        rewatch(c.client, events: clientEvents)
        rewatch(c.backend, events: backendEvents)
    }

    func closeConnection(_ c: NetworkServices.Connection) {
        for fd in [c.client, c.backend] {
            unwatch(fd)
            Sys.close(fd)
            net.connections[fd] = nil
        }
    }

    func udpListenerEvent(_ fd: Int32, container id: String) {
        guard let listener = net.listeners[id]?.first(where: { $0.fd == fd }) else { return }
        while let (datagram, client) = Sockets.receive(fd) {
            let key = "\(fd)|\(client)"
            var flow = net.flowByClient[key]
            if flow == nil {
                guard let to = target(id, port: listener.binding.containerPort),
                      let backend = try? Sockets.connect(to, type: Int32(SOCK_DGRAM.rawValue)) else { continue }
                let f = NetworkServices.Flow(listener: fd, client: client, backend: backend, lastUsed: Self.now())
                net.flows[backend] = f
                net.flowByClient[key] = f
                watch(backend, .udpFlow)
                flow = f
            }
            flow!.lastUsed = Self.now()
            _ = datagram.withUnsafeBytes { send(flow!.backend, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }
    }

    func udpFlowEvent(_ fd: Int32) {
        guard let flow = net.flows[fd] else { return }
        while let (datagram, _) = Sockets.receive(fd) {
            flow.lastUsed = Self.now()
            Sockets.send(flow.listener, datagram, to: flow.client)
        }
    }

    func closeFlow(_ flow: NetworkServices.Flow) {
        unwatch(flow.backend)
        Sys.close(flow.backend)
        net.flows[flow.backend] = nil
        net.flowByClient["\(flow.listener)|\(flow.client)"] = nil
    }

    /// Expires idle UDP flows and unanswered DNS queries.
    func networkTimers() {
        let now = Self.now()
        for flow in net.flows.values where now - flow.lastUsed > 60 { closeFlow(flow) }
        for (id, q) in net.pending where q.deadline <= now {
            Sockets.send(q.resolver, DNSMessage.serverFailure(q.query, q.question), to: q.client)
            net.pending[id] = nil
        }
    }

    // MARK: - Name resolution

    func ensureResolver(_ record: NetworkRecord) {
        guard net.resolvers[record.name] == nil, let address = SocketAddress(ip: record.gateway.description, port: 53) else { return }
        do {
            // Every supervisor with containers on this network listens here (SO_REUSEPORT): each answers
            // from the same records on disk.
            let fd = try Sockets.udp(address, reusePort: true)
            Trace.mark("resolver for \(record.name) on \(address) (fd \(fd))")
            net.resolvers[record.name] = fd
            watch(fd, .resolver(record.name))
        } catch {
            Self.writeError("resolver for network \(record.name): \(error)\n")
        }
    }

    func resolverEvent(_ fd: Int32, network: String) {
        while let (query, client) = Sockets.receive(fd, maximum: 4096) {
            guard let q = DNSMessage.parseQuery(query) else { continue }
            let record = try? NetworkStore(root: runtime.root).inspect(network)
            Trace.mark("dns: \(q.name) type \(q.type) on \(network) from \(client) (record: \(record != nil))")
            guard let record, let bound = Sockets.localAddress(fd), bound.ip == record.gateway.description else {
                // The network went away (or its address now belongs to another network) while this socket
                // stayed: stop competing for the address with the resolver that knows it. SERVFAIL makes
                // the client ask again, and the kernel now hands the query to the other socket.
                Sockets.send(fd, DNSMessage.serverFailure(query, q), to: client)
                unwatch(fd)
                Sys.close(fd)
                net.resolvers[network] = nil
                return
            }
            let name = q.name.lowercased().trimming(".")
            do {
                if let reverse = DNSMessage.reverseAddress(name), record.subnet.contains(reverse) {
                    let owner = record.endpoints.values.first { $0.address == reverse }
                    Sockets.send(fd, DNSMessage.answer(query, q, pointer: owner?.names.first, nameError: owner == nil), to: client)
                    continue
                }
                let matches = record.endpoints.values.filter { $0.names.contains { $0.lowercased() == name } }
                if !matches.isEmpty {
                    let addresses = q.type == DNSMessage.typeA ? matches.map(\.address).sorted() : []
                    Sockets.send(fd, DNSMessage.answer(query, q, addresses: addresses), to: client)
                    continue
                }
            }
            forward(query, q, from: client, resolver: fd, network: record)
        }
    }

    /// Sends a name that is not on the network to the container's own DNS servers (`dns:`) or the host's.
    func forward(_ query: [UInt8], _ q: DNSMessage.Question, from client: SocketAddress, resolver: Int32, network: NetworkRecord?) {
        var servers = net.hostResolvers
        if let ip = client.ipv4, let endpoint = network?.endpoints.values.first(where: { $0.address == ip }),
           let own = managed[endpoint.containerID]?.spec.dns.servers, !own.isEmpty {
            servers = own.compactMap(NetworkServices.parseServer)
        }
        guard let server = servers.first else {
            Sockets.send(resolver, DNSMessage.serverFailure(query, q), to: client)
            return
        }
        if net.upstream < 0 {
            guard let any = SocketAddress(ip: server.isIPv6 ? "::" : "0.0.0.0", port: 0), let fd = try? Sockets.udp(any) else {
                Sockets.send(resolver, DNSMessage.serverFailure(query, q), to: client)
                return
            }
            net.upstream = fd
            watch(fd, .dnsUpstream)
        }
        var id = UInt16.random(in: 1...UInt16.max)
        while net.pending[id] != nil { id = UInt16.random(in: 1...UInt16.max) }
        var forwarded = query
        DNSMessage.setID(&forwarded, id)
        net.pending[id] = NetworkServices.PendingQuery(resolver: resolver, client: client, originalID: q.id, query: query,
                                                       question: q, deadline: Self.now() + 5)
        Sockets.send(net.upstream, forwarded, to: server)
    }

    func upstreamEvent(_ fd: Int32) {
        while let (reply, _) = Sockets.receive(fd) {
            guard let id = DNSMessage.id(reply), let p = net.pending.removeValue(forKey: id) else { continue }
            var answer = reply
            DNSMessage.setID(&answer, p.originalID)
            Sockets.send(p.resolver, answer, to: p.client)
        }
    }

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
