#if canImport(Glibc)
import Glibc
#endif

/// Published ports: listeners on the host's addresses, and the TCP connections and UDP flows they
/// carry to the containers (a userland proxy, reachable from the host and from other containers).
extension Supervisor {
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

    /// The container's IPv4 published ports as rules of the kernel (`Firewall.publish`), made
    /// before its process runs: the listeners stay, holding the ports and forwarding what the rules
    /// do not rewrite (IPv6, or every port where the host's firewall cannot take the rules).
    func publishInKernel(_ m: Managed) {
        guard !m.state.ports.isEmpty, case .bridged(let endpoints) = m.spec.network, let first = endpoints.first,
              let address = Self.portAddress(m) else { return }
        let store = NetworkStore(root: runtime.root)
        guard let record = try? store.inspect(first.network), !record.internal, record.driver == nil else { return }
        let subnets = endpoints.compactMap { e in (e.network == first.network ? record : try? store.inspect(e.network)).map(\.subnet) }
        let rules = m.state.ports.compactMap { p -> Firewall.PortRule? in
            let host: IPv4Address?
            if p.hostIP.isEmpty || p.hostIP == "0.0.0.0" {
                host = nil
            } else if let a = IPv4Address(p.hostIP) {
                host = a
            } else {
                return nil   // IPv6: the forwarder
            }
            return .init(hostAddress: host, hostPort: p.hostPort, proto: p.proto, address: address,
                         port: p.containerPort, subnets: subnets)
        }
        guard !rules.isEmpty else { return }
        do {
            try store.changeFirewall { try Firewall.publish(rules, bridge: record.bridge) }
            m.publishedAddress = address
        } catch {
            Self.writeError("\(m.spec.name): published ports are forwarded in user space: \(error)\n")
        }
    }

    /// A container a previous supervisor started with published ports: the rules it made for them
    /// (whether the container still runs or not) are this supervisor's to take away.
    func adoptKernelPorts(_ m: Managed) {
        guard !m.state.ports.isEmpty else { return }
        m.publishedAddress = Self.portAddress(m)
    }

    /// Takes the container's port rules away (see `publishInKernel`).
    func unpublishInKernel(_ m: Managed) {
        guard let address = m.publishedAddress else { return }
        m.publishedAddress = nil
        do {
            try NetworkStore(root: runtime.root).changeFirewall { try Firewall.unpublish(address: address) }
        } catch {
            Self.writeError("\(m.spec.name): cannot take its published ports' rules away: \(error)\n")
        }
    }

    func releasePorts(_ id: String) {
        for l in net.listeners[id] ?? [] {
            unwatch(l.fd)
            Sys.close(l.fd)
            for flow in net.flows.values where flow.listener == l.fd { closeFlow(flow) }
        }
        net.listeners[id] = nil
    }

    /// Where the container's published ports lead, in the kernel's rules and the forwarder alike: its
    /// address on its first network.
    static func portAddress(_ m: Managed) -> IPv4Address? {
        guard case .bridged(let endpoints) = m.spec.network, let first = endpoints.first else { return nil }
        return m.state.networks[first.network]?.address
    }

    /// Where the forwarder sends a connection to a published port of the (running) container.
    func target(_ id: String, port: UInt16) -> SocketAddress? {
        guard let m = managed[id], m.isRunning, let address = Self.portAddress(m) else { return nil }
        return SocketAddress(ip: address.description, port: port)
    }

    func acceptConnection(_ fd: Int32, container id: String) {
        guard let listener = net.listeners[id]?.first(where: { $0.fd == fd }) else { return }
        while true {
            guard let client = Sys.accept(fd) else { return }
            guard let to = target(id, port: listener.binding.containerPort), let backend = try? Sockets.connect(to) else {
                Sys.close(client)
                continue
            }
            guard let up = net.takePipe() else {
                Sys.close(client)
                Sys.close(backend)
                continue
            }
            guard let down = net.takePipe() else {
                net.givePipe(up)
                Sys.close(client)
                Sys.close(backend)
                continue
            }
            let c = NetworkServices.Connection(client: client, backend: backend, up: up, down: down)
            net.connections[client] = c
            net.connections[backend] = c
            watch(client, .proxy, events: 0)
            watch(backend, .proxy, events: Self.epollOut)
        }
    }

    /// Either side of a forwarded connection is ready: each direction moves what it can in the
    /// kernel, each side is shut for writing once its peer has finished and everything is through.
    func proxyEvent(_ fd: Int32) {
        guard let c = net.connections[fd] else { return }
        if !c.connected {
            guard fd == c.backend else { return }
            if Sockets.pendingError(c.backend) != 0 { return closeConnection(c) }
            c.connected = true
        }
        guard Self.pump(from: c.client, through: &c.up, to: c.backend, done: &c.clientDone),
              Self.pump(from: c.backend, through: &c.down, to: c.client, done: &c.backendDone) else { return closeConnection(c) }
        if c.clientDone && c.up.held == 0 && !c.backendShut {
            Sys.shutdownWrite(c.backend)
            c.backendShut = true
        }
        if c.backendDone && c.down.held == 0 && !c.clientShut {
            Sys.shutdownWrite(c.client)
            c.clientShut = true
        }
        if c.clientShut && c.backendShut { return closeConnection(c) }
        var clientEvents: UInt32 = 0, backendEvents: UInt32 = 0
        if !c.clientDone && c.up.held < c.up.capacity && !c.up.stalled { clientEvents |= Self.epollIn }
        if !c.backendDone && c.down.held < c.down.capacity && !c.down.stalled { backendEvents |= Self.epollIn }
        if c.up.held > 0 { backendEvents |= Self.epollOut }
        if c.down.held > 0 { clientEvents |= Self.epollOut }
        rewatch(c.client, events: clientEvents)
        rewatch(c.backend, events: backendEvents)
    }

    /// Moves what `from` has into the pipe and what the pipe holds on into `to`, until neither moves:
    /// false when the connection is gone.
    static func pump(from: Int32, through pipe: inout NetworkServices.Pipe, to: Int32, done: inout Bool) -> Bool {
        while true {
            var drained = true
            if !done && pipe.held < pipe.capacity {
                let room = pipe.capacity - pipe.held
                switch Sys.splice(from: from, to: pipe.write, length: room) {
                case .moved(let n):
                    pipe.held += n
                    drained = n < room
                case .end: done = true
                // Nothing to read, or a pipe whose slots are full of partial pages: wait for the
                // output before reading again.
                case .wouldBlock: pipe.stalled = pipe.held > 0
                case .failed: return false
                }
            }
            var flushed = true
            if pipe.held > 0 {
                switch Sys.splice(from: pipe.read, to: to, length: pipe.held) {
                case .moved(let n):
                    pipe.held -= n
                    pipe.stalled = false
                    flushed = pipe.held == 0
                case .wouldBlock: flushed = false
                case .end, .failed: return false
                }
            }
            // Another round only while the input may have more and the output takes everything.
            if drained || !flushed { return true }
        }
    }

    func closeConnection(_ c: NetworkServices.Connection) {
        for fd in [c.client, c.backend] {
            unwatch(fd)
            Sys.close(fd)
            net.connections[fd] = nil
        }
        net.givePipe(c.up)
        net.givePipe(c.down)
    }

    func udpListenerEvent(_ fd: Int32, container id: String) {
        guard let listener = net.listeners[id]?.first(where: { $0.fd == fd }) else { return }
        while let (datagram, client) = Sockets.receive(fd) {
            let key = "\(fd)|\(client)"
            var flow = net.flowByClient[key]
            if flow == nil {
                guard let to = target(id, port: listener.binding.containerPort),
                      let backend = try? Sockets.connect(to, type: Sockets.datagram) else { continue }
                let f = NetworkServices.Flow(listener: fd, client: client, backend: backend, lastUsed: Self.now())
                net.flows[backend] = f
                net.flowByClient[key] = f
                watch(backend, .udpFlow)
                flow = f
            }
            flow!.lastUsed = Self.now()
            _ = Sys.sendAvailable(flow!.backend, datagram)
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
}
