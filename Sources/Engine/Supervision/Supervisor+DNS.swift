#if canImport(Glibc)
import Glibc
#endif

/// Name resolution: a resolver on each network's gateway answering the names of the containers on
/// that network, everything else forwarded to the host's resolvers (or the service's `dns`).
extension Supervisor {
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
            let name = String(q.name.lowercased().trimming(while: { $0 == "." }))
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
        forward(query, q, from: client, resolver: resolver, servers: servers)
    }

    func forward(_ query: [UInt8], _ q: DNSMessage.Question, from client: SocketAddress, resolver: Int32, servers: [SocketAddress]) {
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
}

/// The embedded resolver of each container (`EmbeddedDNS`): a socket on 127.0.0.11 in its network
/// namespace, answering from the container's own view (its networks in order, its link aliases).
extension Supervisor {
    /// Opens the container's resolver, on the port it had when this is an adoption (the redirect on
    /// its cgroup already points there). False when no socket could be made: the caller falls back to
    /// the networks' gateway resolvers.
    @discardableResult
    func startContainerResolver(_ m: Managed, pid: Int32) -> Bool {
        stopContainerResolver(m)
        guard let ns = try? Sys.open("/proc/\(pid)/ns/net", O_RDONLY) else { return false }
        defer { Sys.close(ns) }
        let previous = m.state.resolverPort
        var fd: Int32 = -1
        var port: UInt16 = 0
        if previous != 53, net.canRedirectDNS != false, let dir = Cgroup.unifiedDirectory(ofProcess: pid),
           let address = SocketAddress(ip: EmbeddedDNS.address, port: previous),
           let socket = try? Sockets.udp(inNamespace: ns, address, freeBind: true) {
            let bound = Sockets.localAddress(socket)?.port ?? 0
            do {
                if bound != previous { try EmbeddedDNS.redirect(cgroup: dir, port: bound) }
                net.canRedirectDNS = true
                (fd, port) = (socket, bound)
            } catch {
                if net.canRedirectDNS == nil { Trace.mark("no DNS redirect: \(error)") }
                net.canRedirectDNS = false
                Sys.close(socket)
            }
        }
        if fd < 0, let address = SocketAddress(ip: EmbeddedDNS.address, port: 53),
           let socket = try? Sockets.udp(inNamespace: ns, address, freeBind: true) {
            (fd, port) = (socket, 53)
        }
        guard fd >= 0 else { return false }
        m.resolver = fd
        m.state.resolverPort = port
        watch(fd, .containerResolver(m.spec.id))
        return true
    }

    /// Closes the resolver of a container that stopped (its next start has a new cgroup and namespace).
    func stopContainerResolver(_ m: Managed) {
        guard m.resolver >= 0 else { return }
        unwatch(m.resolver)
        Sys.close(m.resolver)
        m.resolver = -1
        m.state.resolverPort = 0
    }

    /// The container's view of names: its networks' records in the order of its interfaces (dockerd's
    /// sandbox order, as the planner lists them), and its link aliases.
    func nameResolver(for spec: ContainerSpec) -> ContainerNameResolver {
        guard case .bridged(let endpoints) = spec.network else { return ContainerNameResolver(networks: [], links: spec.links) }
        let store = NetworkStore(root: runtime.root)
        return ContainerNameResolver(networks: endpoints.compactMap { try? store.inspect($0.network) }, links: spec.links)
    }

    func containerResolverEvent(_ fd: Int32, id: String) {
        guard let m = managed[id] else { return }
        var view: ContainerNameResolver?
        while let (query, client) = Sockets.receive(fd, maximum: 4096) {
            guard let q = DNSMessage.parseQuery(query) else { continue }
            if view == nil { view = nameResolver(for: m.spec) }
            let names = view!
            let name = q.name.lowercased()
            Trace.mark("dns: \(q.name) type \(q.type) from \(m.spec.name)")
            if q.type == DNSMessage.typePTR, let address = DNSMessage.reverseAddress(name) {
                if let owner = names.name(of: address) {
                    Sockets.send(fd, DNSMessage.answer(query, q, pointer: owner, ttl: 600), to: client)
                    continue
                }
            } else if q.type == DNSMessage.typePTR, let address = IPv6Address.fromReverseName(name) {
                if let owner = names.name(of: address) {
                    Sockets.send(fd, DNSMessage.answer(query, q, pointer: owner, ttl: 600), to: client)
                    continue
                }
            } else if let addresses = names.addresses(of: name) {
                // Known here: A and AAAA records; any other type has no data (NODATA, as dockerd answers
                // AAAA for a container on an IPv4 network).
                let v4 = q.type == DNSMessage.typeA ? addresses : []
                let v6 = q.type == DNSMessage.typeAAAA ? (names.addresses6(of: name) ?? []) : []
                Sockets.send(fd, DNSMessage.answer(query, q, addresses: v4, addresses6: v6, ttl: 600), to: client)
                continue
            }
            let servers = m.spec.dns.servers.compactMap(NetworkServices.parseServer)
            forward(query, q, from: client, resolver: fd, servers: servers.isEmpty ? net.hostResolvers : servers)
        }
    }
}
