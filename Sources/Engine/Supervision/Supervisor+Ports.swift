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
            guard let client = Sys.accept(fd) else { return }
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
            switch Sys.readAvailable(from, into: &buffer) {
            case .data(let n): pending = Array(buffer[0..<n])
            case .end: done = true
            case .wouldBlock: break
            }
            return true
        }
        func flush(_ to: Int32, _ pending: inout [UInt8]) -> Bool {
            guard !pending.isEmpty else { return true }
            guard let n = Sys.sendAvailable(to, pending) else { return false }
            pending.removeFirst(n)
            return true
        }
        if fd == c.client {
            guard pump(c.client, into: &c.toBackend, done: &c.clientDone) else { return closeConnection(c) }
        } else if c.connected {
            guard pump(c.backend, into: &c.toClient, done: &c.backendDone) else { return closeConnection(c) }
        }
        guard !c.connected || flush(c.backend, &c.toBackend), flush(c.client, &c.toClient) else { return closeConnection(c) }
        if c.clientDone && c.toBackend.isEmpty { Sys.shutdownWrite(c.backend) }
        if c.backendDone && c.toClient.isEmpty { Sys.shutdownWrite(c.client) }
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
