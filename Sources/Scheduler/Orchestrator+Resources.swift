#if canImport(Glibc)
import Glibc
#endif
import ComposeModel
import Engine

/// What containers use besides their image: named and anonymous volumes, secrets and configs, the
/// project's networks, network modes, published ports.
extension Orchestrator {
    func createVolumes(for spec: inout ContainerSpec, service: ServiceConfig) throws(SwcomposeError) {
        let volumes = VolumeStore(root: runtime.root)
        for i in spec.mounts.indices where spec.mounts[i].kind == .volume {
            if spec.mounts[i].source.isEmpty {
                spec.mounts[i].source = ContainerStore.newID()
                // A volume the engine makes for the mount takes the mount's `volume.labels` (a named one,
                // made by compose beforehand, has its top-level labels).
                var labels = service.volumes.first { $0.target == spec.mounts[i].destination }?.volume?.labels ?? [:]
                labels[ComposeLabels.project] = project.name
                labels[ComposeLabels.volume] = ""
                labels[ComposeLabels.anonymous] = "true"
                do {
                    try volumes.create(spec.mounts[i].source, labels: labels, anonymous: true)
                } catch {
                    throw SwcomposeError(.failed, "cannot create an anonymous volume for container \(spec.name)", cause: error)
                }
                continue
            }
            let name = spec.mounts[i].source
            let key = project.volumes.first { planner.volumeName($0.key) == name }?.key
            if let key, project.volumes[key]?.external == true {
                guard volumes.exists(name) else {
                    throw SwcomposeError(.notFound, "external volume \"\(name)\" not found",
                                             at: project.volumes[key]?.location)
                }
                continue
            }
            if !volumes.exists(name) {
                progress.event("Volume", name, "Creating")
                var labels = project.volumes[key ?? ""]?.labels ?? [:]
                labels[ComposeLabels.project] = project.name
                labels[ComposeLabels.volume] = key ?? name
                labels[ComposeLabels.version] = planner.composeVersion
                let options = project.volumes[key ?? ""]?.driverOpts ?? [:]
                do { try volumes.create(name, labels: labels, options: options) } catch {
                    throw SwcomposeError(.failed, "cannot create volume \(name)", cause: error, at: project.volumes[key ?? ""]?.location)
                }
                progress.event("Volume", name, "Created")
            }
        }
        for (i, v) in service.volumes.enumerated() where v.type == "volume" && v.volume?.noCopy == true {
            if let j = spec.mounts.firstIndex(where: { $0.destination == v.target }) { _ = i; spec.mounts[j].noCopy = true }
        }
    }

    /// Starts containers in parallel (one supervisor connection each) and waits for every start.

    /// Secrets (at /run/secrets/<name> or their target) and configs (at /<name> or their target), as
    /// docker compose gives them: a `file` source is the host file bind-mounted read-only as it is
    /// (its own mode and owner; `uid`, `gid` and `mode` are not applied, with docker compose's
    /// warning); an `environment` or `content` source is written into the container's own filesystem
    /// with `mode` (0444) and `uid`/`gid` (root), which a read-only container cannot take.
    func secretsAndConfigs(_ spec: inout ContainerSpec, service: ServiceConfig) throws(SwcomposeError) {
        for (kind, refs, definitions) in [("secret", service.secrets, project.secrets), ("config", service.configs, project.configs)] {
            for ref in refs {
                let loc = ref.location ?? service.locations[kind + "s"]
                guard let def = definitions[ref.source] else {
                    let message = "service \"\(service.name)\" refers to undefined \(kind) \(ref.source)"
                    throw SwcomposeError(.notFound, message, at: loc)
                }
                var target = ref.target.isEmpty ? ref.source : ref.target
                if kind == "secret" && !target.hasPrefix("/") { target = "/run/secrets/" + target }
                if kind == "config" && !target.hasPrefix("/") { target = "/" + target }
                if !def.file.isEmpty {
                    guard Sys.exists(def.file) else {
                        throw SwcomposeError(.notFound, "\(kind) \(ref.source): \(def.file) does not exist", at: def.location ?? loc)
                    }
                    if !ref.uid.isEmpty || !ref.gid.isEmpty || ref.mode != nil {
                        progress.warning("\(kind)s `uid`, `gid` and `mode` are not supported, they will be ignored")
                    }
                    spec.mounts.append(MountSpec(kind: .bind, source: def.file, destination: target, readOnly: true))
                    continue
                }
                let content: String
                if !def.environment.isEmpty {
                    guard let value = environment[def.environment] else {
                        let message = "environment variable \"\(def.environment)\" required by \(kind) \"\(ref.source)\" is not set"
                        throw SwcomposeError(.notFound, message, at: def.location ?? loc)
                    }
                    content = value
                } else {
                    content = def.content
                }
                if content.isEmpty { continue }
                if service.readOnly {
                    let message = "cannot create \(kind) \"\(ref.source)\" in read-only service \(service.name): `file` is the sole supported option"
                    throw SwcomposeError(.invalidArgument, message, at: loc)
                }
                guard let uid = UInt32(ref.uid.isEmpty ? "0" : ref.uid), let gid = UInt32(ref.gid.isEmpty ? "0" : ref.gid) else {
                    throw SwcomposeError(.invalidArgument, "\(kind) \(ref.source): uid and gid must be numbers", at: loc)
                }
                spec.files.append(InjectedFile(path: target, content: content, mode: UInt32(ref.mode ?? 0o444), uid: uid, gid: gid))
            }
        }
    }

    /// The compose networks the services use (their keys), bridged ones only.
    func networkKeys(for services: [String]) -> [String] {
        var keys: Set<String> = []
        for name in services {
            guard let s = project.services[name] else { continue }
            let mode = s.networkMode
            if mode == "host" || mode == "none" || mode.hasPrefix("service:") || mode.hasPrefix("container:") { continue }
            if !mode.isEmpty && mode != "bridge" && mode != "default" { keys.insert(mode); continue }
            keys.formUnion(planner.networkKeys(s))
        }
        return keys.sorted()
    }

    /// A compose network as the engine makes it: one IPv4 pool and, with `enable_ipv6`, one IPv6 pool
    /// (`ipam.config` entries of each family, or chosen), their reserved `aux_addresses`, the bridge's
    /// driver options.
    func networkSpec(_ key: String) throws(SwcomposeError) -> NetworkSpec {
        let config = project.networks[key]
        let at = config?.location
        var spec = NetworkSpec(name: planner.networkName(key))
        spec.labels = config?.labels ?? [:]
        spec.labels[ComposeLabels.network] = key
        spec.labels[ComposeLabels.project] = project.name
        spec.labels[ComposeLabels.version] = planner.composeVersion
        spec.internal = config?.internal ?? false
        spec.enableIPv6 = config?.enableIPv6 == true
        spec.ipamOptions = config?.ipamOptions ?? [:]
        var seen4 = false, seen6 = false
        for pool in config?.ipamConfig ?? [] {
            if let subnet = IPv4Network(pool.subnet) {
                guard !seen4 else { throw SwcomposeError(.unsupported, "network \(key): one IPv4 subnet per network (swcompose's bridges have one address of each family)", at: at) }
                seen4 = true
                spec.subnet = subnet
                if !pool.gateway.isEmpty {
                    guard let g = IPv4Address(pool.gateway) else { throw SwcomposeError(.invalidArgument, "network \(key): invalid gateway \(pool.gateway)", at: at) }
                    spec.gateway = g
                }
                if !pool.ipRange.isEmpty {
                    guard let r = IPv4Network(pool.ipRange) else { throw SwcomposeError(.invalidArgument, "network \(key): invalid ip_range \(pool.ipRange)", at: at) }
                    spec.ipRange = r
                }
            } else if let subnet = IPv6Network(pool.subnet) {
                guard spec.enableIPv6 else {
                    throw SwcomposeError(.invalidArgument, "network \(key): IPv6 subnet \(pool.subnet) on a network without IPv6 (set enable_ipv6: true)", at: at)
                }
                guard !seen6 else { throw SwcomposeError(.unsupported, "network \(key): one IPv6 subnet per network (swcompose's bridges have one address of each family)", at: at) }
                seen6 = true
                spec.subnet6 = subnet
                if !pool.gateway.isEmpty {
                    guard let g = IPv6Address(pool.gateway) else { throw SwcomposeError(.invalidArgument, "network \(key): invalid gateway \(pool.gateway)", at: at) }
                    spec.gateway6 = g
                }
                if !pool.ipRange.isEmpty {
                    guard let r = IPv6Network(pool.ipRange) else { throw SwcomposeError(.invalidArgument, "network \(key): invalid ip_range \(pool.ipRange)", at: at) }
                    spec.ipRange6 = r
                }
            } else {
                throw SwcomposeError(.invalidArgument, "network \(key): invalid subnet \"\(pool.subnet)\" (a CIDR: 172.28.0.0/16, fd00:1::/64)", at: at)
            }
            for (name, address) in pool.auxAddresses.sorted(by: { $0.key < $1.key }) {
                let inPool = IPv4Address(address).map { a in IPv4Network(pool.subnet)?.contains(a) == true }
                    ?? IPv6Address(address).map { a in IPv6Network(pool.subnet)?.contains(a) == true } ?? false
                guard inPool else {
                    throw SwcomposeError(.invalidArgument, "network \(key): aux_addresses \(name)=\(address) is not in subnet \(pool.subnet)", at: at)
                }
                spec.reserved.append(address)
            }
        }
        let options = config?.driverOpts ?? [:]
        let driver = config?.driver ?? ""
        switch driver {
        case "", "bridge":
            for (option, value) in options.sorted(by: { $0.key < $1.key }) {
                if let problem = BridgeOptions.problem(option, value) { throw SwcomposeError(.invalidArgument, "network \(key): \(problem)", at: at) }
            }
        case "macvlan", "ipvlan":
            spec.driver = driver
            let modes = driver == "macvlan" ? ["bridge", "private", "vepa", "passthru"] : ["l2", "l3", "l3s"]
            let modeKey = driver + "_mode"
            for (option, value) in options.sorted(by: { $0.key < $1.key }) {
                switch option {
                case "parent": spec.parent = value
                case modeKey:
                    guard modes.contains(value) else {
                        throw SwcomposeError(.invalidArgument, "network \(key): \(modeKey) \"\(value)\" is not one of \(modes.joined(separator: ", "))", at: at)
                    }
                    spec.mode = value
                case "ipvlan_flag" where driver == "ipvlan":
                    guard ["bridge", "private", "vepa"].contains(value) else {
                        throw SwcomposeError(.invalidArgument, "network \(key): ipvlan_flag \"\(value)\" is not one of bridge, private, vepa", at: at)
                    }
                    spec.ipvlanFlag = value
                case BridgeOptions.mtu:
                    guard let mtu = UInt32(value) else { throw SwcomposeError(.invalidArgument, "network \(key): invalid MTU \(value)", at: at) }
                    spec.mtu = mtu
                default:
                    throw SwcomposeError(.invalidArgument, "network \(key): \(driver) option \(option) is not supported (parent, \(modeKey)\(driver == "ipvlan" ? ", ipvlan_flag" : ""), com.docker.network.driver.mtu)", at: at)
                }
            }
            return spec
        default:
            throw SwcomposeError(.unsupported, "network \(key): driver \"\(driver)\" is not supported (bridge, macvlan, ipvlan)", at: at)
        }
        if let mtu = options[BridgeOptions.mtu].flatMap(UInt32.init) { spec.mtu = mtu }
        spec.bridgeName = options[BridgeOptions.name]
        if options[BridgeOptions.interContainerCommunication].flatMap(BridgeOptions.bool) == false { spec.interContainerTraffic = false }
        if options[BridgeOptions.masquerade].flatMap(BridgeOptions.bool) == false { spec.masquerade = false }
        spec.interfacePrefix = options[BridgeOptions.interfacePrefix]
        return spec
    }

    /// Creates the project's networks the services need (external ones must exist). Every network is
    /// checked before the first is created.
    func createNetworks(for services: [String]) throws(SwcomposeError) {
        let store = NetworkStore(root: runtime.root)
        var specs: [(key: String, spec: NetworkSpec)] = []
        for key in networkKeys(for: services) {
            let config = project.networks[key]
            let name = planner.networkName(key)
            if config?.external == true {
                guard (try? store.inspect(name)) != nil else {
                    let message = "network \(name) declared as external, but could not be found"
                    throw SwcomposeError(.invalidArgument, message, at: config?.location)
                }
                continue
            }
            specs.append((key, try networkSpec(key)))
        }
        for (key, spec) in specs {
            let config = project.networks[key]
            let name = spec.name
            if dryRun {
                if (try? store.inspect(name)) == nil { progress.event("Network", name, "Create") }
                continue
            }
            let exists = (try? store.inspect(name)) != nil
            if !exists { progress.event("Network", name, "Creating") }
            do {
                try store.create(spec)
            } catch {
                if !exists { progress.event("Network", name, "Error") }
                throw SwcomposeError(.failed, "failed to create network \(name)", cause: error, at: config?.location)
            }
            if !exists { progress.event("Network", name, "Created") }
        }
    }

    /// Removes the project's networks (never external ones); ones other projects still use stay.
    func removeNetworks() throws(SwcomposeError) {
        let store = NetworkStore(root: runtime.root)
        var keys = Set(project.networks.keys)
        keys.insert("default")
        for key in keys.sorted() where project.networks[key]?.external != true {
            let name = planner.networkName(key)
            guard let record = try? store.inspect(name), record.labels[ComposeLabels.project] == project.name || record.labels.isEmpty else { continue }
            if dryRun { progress.event("Network", name, "Remove"); continue }
            progress.event("Network", name, "Removing")
            do {
                try store.remove(name) { id in ContainerStore(runtime: runtime).state(id).isAlive }
            } catch NetworkError.inUse(_, let holders) {
                // Something outside the project still uses it: the rest of the project goes anyway, and
                // the network stays for them (docker compose fails the whole `down`: docker/compose#12770).
                progress.event("Network", name, "Kept")
                progress.warning("network \(name) was left in place: still used by \(holders.joined(separator: ", ")), which \(holders.count == 1 ? "is" : "are") not part of project \(project.name); it goes with the last of them (swcompose network rm \(name))")
                continue
            } catch {
                progress.event("Network", name, "Error")
                throw SwcomposeError(.failed, "cannot remove network \(name)", cause: error)
            }
            progress.event("Network", name, "Removed")
        }
    }

    /// `network_mode: service:X` and `container:X` join the other container's network namespace.
    func resolveNetworkMode(_ spec: inout ContainerSpec, service: ServiceConfig) throws(SwcomposeError) {
        let mode = service.networkMode
        if mode.hasPrefix("service:") {
            let other = String(mode.dropFirst(8))
            guard let target = containers(services: [other]).first(where: { Self.number($0) == 1 }) else {
                throw SwcomposeError(.notFound, "service \"\(service.name)\" uses the network of service \"\(other)\", which has no container",
                                         at: service.locations["network_mode"])
            }
            join(&spec, target.spec)
        } else if mode.hasPrefix("container:") {
            let other = String(mode.dropFirst(10))
            guard let target = try? store.find(other) else {
                throw SwcomposeError(.notFound, "no such container: \(other)", at: service.locations["network_mode"])
            }
            join(&spec, target.spec)
        }
    }

    /// `volumes_from`: the binds and volumes of another container (a service's first replica, or
    /// `container:NAME`), each as that container has it (read-only where it is), where the service
    /// does not mount something itself. docker compose drops a `:ro`/`:rw` suffix before the engine
    /// sees it, and so does this (with a warning saying so).
    func resolveVolumesFrom(_ spec: inout ContainerSpec, service: ServiceConfig) throws(SwcomposeError) {
        let at = service.locations["volumes_from"] ?? service.location
        for entry in service.volumesFrom {
            var parts = entry.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            let isContainer = parts.first == "container" && parts.count > 1
            if isContainer { parts.removeFirst() }
            if parts.count > 1 {
                progress.warning("volumes_from \"\(entry)\" of service \"\(service.name)\": docker compose ignores the mode \(parts[1]); the mounts keep the modes they have in \(parts[0])")
            }
            let source: ContainerRecord
            if isContainer {
                guard let found = try? store.find(parts[0]) else {
                    throw SwcomposeError(.notFound, "volumes_from: no such container: \(parts[0])", at: at)
                }
                source = found
            } else {
                guard let found = containers(services: [parts[0]]).sorted(by: { $0.name < $1.name }).first else {
                    throw SwcomposeError(.notFound, "cannot share volume with service \(parts[0]): container missing", at: at)
                }
                source = found
            }
            for m in source.spec.mounts where m.kind != .tmpfs && !spec.mounts.contains(where: { $0.destination == m.destination }) {
                spec.mounts.append(m)
            }
        }
    }

    /// `pid` and `ipc` of `service:NAME` or `container:NAME` kind: the other container (a service's
    /// first replica), which `up` has created before this one (compose makes it a dependency).
    func resolveSharedNamespaces(_ spec: inout ContainerSpec, service: ServiceConfig) throws(SwcomposeError) {
        func target(_ mode: String, _ key: String) throws(SwcomposeError) -> String {
            if mode.hasPrefix("service:") {
                let other = String(mode.dropFirst(8))
                guard let c = containers(services: [other]).first(where: { Self.number($0) == 1 }) else {
                    throw SwcomposeError(.notFound, "service \"\(service.name)\" uses the \(key) namespace of service \"\(other)\", which has no container",
                                         at: service.locations[key])
                }
                return c.id
            }
            let other = String(mode.dropFirst(10))
            guard let c = try? store.find(other) else {
                throw SwcomposeError(.notFound, "no such container: \(other)", at: service.locations[key])
            }
            return c.id
        }
        if case .container = spec.namespaces.pid { spec.namespaces.pid = .container(id: try target(service.pid, "pid")) }
        if case .container = spec.namespaces.ipc { spec.namespaces.ipc = .container(id: try target(service.ipc, "ipc")) }
    }

    /// `extra_hosts` entries naming `host-gateway`: the host's address as the container reaches it, its
    /// first network's gateway (the bridge's address on the host), as dockerd's `host-gateway-ip` is
    /// the default bridge's; 127.0.0.1 for a container on the host's own network or none.
    func resolveHostGateway(_ spec: inout ContainerSpec) {
        guard spec.extraHosts.contains(where: { $0.address == "host-gateway" }) else { return }
        var gateway = "127.0.0.1"
        if case .bridged(let endpoints) = spec.network, let first = endpoints.first,
           let record = try? NetworkStore(root: runtime.root).inspect(first.network) {
            gateway = record.gateway.description
        }
        for i in spec.extraHosts.indices where spec.extraHosts[i].address == "host-gateway" { spec.extraHosts[i].address = gateway }
    }

    /// `links` and `external_links` as docker compose passes them to the engine: for each container of
    /// a linked service, the link's alias, `<service>-<n>` and `<project>-<service>-<n>` (n being this
    /// container's number, as compose has it); an external link names a container directly. Only this
    /// container resolves them (its embedded DNS), to the target's address on a network they share.
    func resolveLinks(_ spec: inout ContainerSpec, service: ServiceConfig, number: Int) {
        for link in service.links {
            let parts = link.split(separator: ":", maxSplits: 1).map(String.init)
            let target = parts[0], alias = parts.count > 1 ? parts[1] : parts[0]
            for c in containers(services: [target]) {
                spec.links[alias] = c.name
                spec.links["\(target)-\(number)"] = c.name
                spec.links["\(project.name)-\(target)-\(number)"] = c.name
            }
        }
        for link in service.externalLinks {
            let parts = link.split(separator: ":", maxSplits: 1).map(String.init)
            spec.links[parts.count > 1 ? parts[1] : parts[0]] = parts[0]
        }
    }

    /// A container that joins another's network takes its host name and domain name (and `HOSTNAME`),
    /// and shares its /etc/hosts, /etc/hostname and /etc/resolv.conf, as dockerd does.
    func join(_ spec: inout ContainerSpec, _ target: ContainerSpec) {
        spec.network = .container(id: target.id)
        spec.hostname = target.hostname
        spec.domainname = target.domainname
        if let i = spec.process.env.firstIndex(where: { $0.hasPrefix("HOSTNAME=") }) {
            spec.process.env[i] = "HOSTNAME=" + target.hostname
        }
    }

    /// A published port another process holds fails `up` before anything is created or started, naming
    /// that process (docker/compose#4950). Services whose containers already run keep their ports.
    public func checkPorts(services: [String]) throws(SwcomposeError) {
        var wanted: [String: String] = [:]
        for name in services {
            guard let service = project.services[name] else { continue }
            let mode = service.networkMode
            if mode == "host" || mode == "none" || mode.hasPrefix("service:") || mode.hasPrefix("container:") { continue }
            if containers(services: [name]).contains(where: { store.state($0.id).isAlive }) { continue }
            for p in service.ports {
                // Ranges are bound by the first free port in them, so only single ports can collide.
                guard case .range(let ports) = p.hostPorts, ports.count == 1 else { continue }
                let port = ports.lowerBound
                let ip = p.hostIP.isEmpty ? "0.0.0.0" : p.hostIP
                let shown = ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
                let key = "\(ip)|\(port)|\(p.protocol)"
                if let other = wanted[key] {
                    let message = "Bind for \(shown) failed: port is published by both services \"\(other)\" and \"\(name)\""
                    throw SwcomposeError(.inUse, message, at: p.location ?? service.locations["ports"])
                }
                wanted[key] = name
                if let holder = PortProbe.inUse(hostIP: p.hostIP, port: port, udp: p.protocol == "udp") {
                    let message = "Bind for \(shown) failed: port is already allocated (held by \(holder)); service \"\(name)\" publishes it"
                    throw SwcomposeError(.inUse, message, at: p.location ?? service.locations["ports"])
                }
            }
        }
    }
}
