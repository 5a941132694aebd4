/// Rewrites short forms into compose-go's canonical long forms, on the node tree (so locations
/// survive): `build: ./dir`, `depends_on: [a]`, `networks: [a]`, port and volume strings, devices,
/// secret and config names, `env_file` strings, `extends: name`, the deprecated `external: {name}`.
struct Canonicalizer {
    var diagnostics: DiagnosticBag

    mutating func canonicalize(_ model: inout Node) {
        model.modify("services") { services in
            services.mapValues { _, service in
                guard service.isMapping else { return }
                canonicalizeService(&service)
            }
        }
        for kind in ["volumes", "networks", "secrets", "configs"] {
            model.modify(kind) { resources in
                resources.mapValues { key, resource in maybeExternal(&resource, path: "\(kind).\(key)") }
            }
        }
        model.modify("include") { include in
            include.mapItems { item in
                if case .string = item.kind {
                    item = .mapping([Node.Entry(key: "path", keyLocation: item.location, value: .sequence([item], at: item.location))], at: item.location)
                }
                item.modify("path") { p in if case .string = p.kind { p = .sequence([p], at: p.location) } }
                item.modify("env_file") { p in if case .string = p.kind { p = .sequence([p], at: p.location) } }
            }
        }
    }

    mutating func maybeExternal(_ resource: inout Node, path: String) {
        if resource.isNull { resource = .mapping([], at: resource.location); return }
        guard let external = resource.entry("external"), external.value.isMapping else { return }
        let externalName = external.value["name"]
        resource["external"] = Node(.bool(true), at: external.value.location)
        if let externalName {
            diagnostics.warning("\(path): external.name is deprecated; set name and external: true", at: externalName.location)
            if let name = resource["name"] {
                if name.text != externalName.text {
                    diagnostics.error("\(path): name and external.name conflict; only use name", at: externalName.location)
                }
            } else {
                resource["name"] = externalName
            }
        }
    }

    static func string(_ s: String, _ at: SourceLocation) -> Node { .string(s, at: at) }

    static func entry(_ key: String, _ value: Node) -> Node.Entry {
        Node.Entry(key: key, keyLocation: value.location, value: value)
    }

    mutating func canonicalizeService(_ service: inout Node) {
        service.modify("build") { build in
            if case .string = build.kind { build = .mapping([Self.entry("context", build)], at: build.location) }
            build.modify("secrets") { $0.mapItems(fileMount) }
            build.modify("additional_contexts") { keyValueToMapping(&$0) }
            build.modify("ssh") { ssh in
                switch ssh.kind {
                case .string: ssh = .mapping([Node.Entry(key: ssh.text, keyLocation: ssh.location, value: .null(at: ssh.location))], at: ssh.location)
                case .sequence(let items):
                    var entries: [Node.Entry] = []
                    for item in items {
                        let s = item.text
                        if let i = s.firstIndex(of: "=") {
                            entries.append(Node.Entry(key: String(s[..<i]), keyLocation: item.location,
                                                      value: .string(String(s[s.index(after: i)...]), at: item.location)))
                        } else {
                            if s != "default" { diagnostics.error("invalid ssh key \"\(s)\": use default or ID=PATH", at: item.location) }
                            entries.append(Node.Entry(key: s, keyLocation: item.location, value: .null(at: item.location)))
                        }
                    }
                    ssh = .mapping(entries, at: ssh.location)
                default: break
                }
            }
        }
        service.modify("depends_on") { deps in
            switch deps.kind {
            case .sequence(let items):
                deps = .mapping(items.map { item in
                    Node.Entry(key: item.text, keyLocation: item.location, value: Merger.dependencyDefault(item.location)!)
                }, at: deps.location)
            case .mapping:
                deps.mapValues { _, d in
                    guard d.isMapping else { return }
                    if d["condition"] == nil { d["condition"] = .string("service_started", at: d.location) }
                    if d["required"] == nil { d["required"] = Node(.bool(true), at: d.location) }
                }
            default: break
            }
        }
        service.modify("env_file") { envFile in
            if case .string = envFile.kind { envFile = .sequence([envFile], at: envFile.location) }
            envFile.mapItems { item in
                if case .string = item.kind {
                    item = .mapping([Self.entry("path", item), Self.entry("required", Node(.bool(true), at: item.location))], at: item.location)
                } else if item.isMapping, item["required"] == nil {
                    item["required"] = Node(.bool(true), at: item.location)
                }
            }
        }
        service.modify("label_file") { if case .string = $0.kind { $0 = .sequence([$0], at: $0.location) } }
        service.modify("extends") { ext in
            if case .string = ext.kind { ext = .mapping([Self.entry("service", ext)], at: ext.location) }
        }
        service.modify("networks") { networks in
            if case .sequence(let items) = networks.kind {
                networks = .mapping(items.map { Node.Entry(key: $0.text, keyLocation: $0.location, value: .null(at: $0.location)) }, at: networks.location)
            }
        }
        service.modify("volumes") { $0.mapItems { volumeMount(&$0) } }
        service.modify("dns") { dns in
            if case .string = dns.kind { dns = .sequence([dns], at: dns.location) }
            // Empty entries are dropped.
            if case .sequence(let items) = dns.kind { dns.kind = .sequence(items.filter { !($0.isNull || $0.text.isEmpty) }) }
        }
        service.modify("develop") { develop in
            develop.modify("watch") { watch in
                guard case .sequence(let items) = watch.kind else { return }
                var expanded: [Node] = []
                for item in items {
                    if let paths = item["path"]?.items {
                        for p in paths {
                            var copy = item
                            copy["path"] = p
                            expanded.append(copy)
                        }
                    } else {
                        expanded.append(item)
                    }
                }
                watch.kind = .sequence(expanded)
            }
        }
        service.modify("devices") { $0.mapItems { deviceMapping(&$0) } }
        service.modify("secrets") { $0.mapItems(fileMount) }
        service.modify("configs") { $0.mapItems(fileMount) }
        service.modify("ports") { ports in
            guard case .sequence(let items) = ports.kind else { return }
            var result: [Node] = []
            for item in items {
                switch item.kind {
                case .int:
                    result.append(.mapping([Self.entry("target", item)], at: item.location))
                case .string(let s):
                    do throws(PortSpecError) {
                        for m in try PortSpec.parse(s) {
                            var entries = [Self.entry("mode", Self.string("ingress", item.location))]
                            if !m.hostIP.isEmpty { entries.append(Self.entry("host_ip", Self.string(m.hostIP, item.location))) }
                            entries.append(Self.entry("target", Node(.int(m.target), at: item.location)))
                            if !m.published.isEmpty { entries.append(Self.entry("published", Self.string(m.published, item.location))) }
                            entries.append(Self.entry("protocol", Self.string(m.protocol, item.location)))
                            result.append(.mapping(entries, at: item.location))
                        }
                    } catch {
                        diagnostics.error("invalid port '\(s)': \(error.message)", at: item.location)
                    }
                default:
                    result.append(item)
                }
            }
            ports.kind = .sequence(result)
        }
    }

    func keyValueToMapping(_ node: inout Node) {
        guard case .sequence(let items) = node.kind else { return }
        node = .mapping(items.map { item in
            let s = item.text
            if let i = s.firstIndex(of: "=") {
                return Node.Entry(key: String(s[..<i]), keyLocation: item.location, value: .string(String(s[s.index(after: i)...]), at: item.location))
            }
            return Node.Entry(key: s, keyLocation: item.location, value: .null(at: item.location))
        }, at: node.location)
    }

    func fileMount(_ item: inout Node) {
        if case .string = item.kind { item = .mapping([Self.entry("source", item)], at: item.location) }
    }

    mutating func deviceMapping(_ item: inout Node) {
        guard case .string(let s) = item.kind else { return }
        let parts = s.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        let (source, target, permissions): (String, String, String)
        switch parts.count {
        case 1: (source, target, permissions) = (parts[0], parts[0], "rwm")
        case 2: (source, target, permissions) = (parts[0], parts[1], "rwm")
        case 3: (source, target, permissions) = (parts[0], parts[1], parts[2])
        default:
            diagnostics.error("confusing device mapping '\(s)': use the long syntax (source, target, permissions)", at: item.location)
            return
        }
        let at = item.location
        item = .mapping([
            Self.entry("source", Self.string(source, at)), Self.entry("target", Self.string(target, at)),
            Self.entry("permissions", Self.string(permissions, at)),
        ], at: at)
    }

    mutating func volumeMount(_ item: inout Node) {
        guard case .string(let s) = item.kind else { return }
        let at = item.location
        do throws(VolumeSpecError) {
            let v = try VolumeSpec.parse(s)
            var entries = [Self.entry("type", Self.string(v.type, at))]
            if !v.source.isEmpty { entries.append(Self.entry("source", Self.string(v.source, at))) }
            entries.append(Self.entry("target", Self.string(v.target.isEmpty ? "" : Path.clean(v.target), at)))
            if v.readOnly { entries.append(Self.entry("read_only", Node(.bool(true), at: at))) }
            if v.type == "bind" {
                var bind: [Node.Entry] = []
                if !v.selinux.isEmpty { bind.append(Self.entry("selinux", Self.string(v.selinux, at))) }
                if !v.propagation.isEmpty { bind.append(Self.entry("propagation", Self.string(v.propagation, at))) }
                bind.append(Self.entry("create_host_path", Node(.bool(true), at: at)))
                entries.append(Self.entry("bind", .mapping(bind, at: at)))
            } else {
                var volume: [Node.Entry] = []
                if v.noCopy { volume.append(Self.entry("nocopy", Node(.bool(true), at: at))) }
                entries.append(Self.entry("volume", .mapping(volume, at: at)))
                if v.hasBindOptions {
                    var bind: [Node.Entry] = []
                    if !v.selinux.isEmpty { bind.append(Self.entry("selinux", Self.string(v.selinux, at))) }
                    if !v.propagation.isEmpty { bind.append(Self.entry("propagation", Self.string(v.propagation, at))) }
                    entries.append(Self.entry("bind", .mapping(bind, at: at)))
                }
            }
            item = .mapping(entries, at: at)
        } catch {
            diagnostics.error("invalid volume '\(s)': \(error.message)", at: at)
        }
    }

    /// Defaults compose-go applies once all files are merged.
    static func applyDefaults(_ model: inout Node) {
        model.modify("services") { services in
            services.mapValues { _, service in
                service.modify("build") { build in
                    if build.isMapping, build["context"] == nil { build["context"] = .string(".", at: build.location) }
                }
                service.modify("secrets") { secrets in
                    secrets.mapItems { s in
                        guard s.isMapping, s["target"] == nil else { return }
                        s["target"] = .string("/run/secrets/\(s["source"]?.text ?? "")", at: s.location)
                    }
                }
                service.modify("ports") { ports in
                    ports.mapItems { p in
                        guard p.isMapping else { return }
                        if p["protocol"] == nil { p["protocol"] = .string("tcp", at: p.location) }
                        if p["mode"] == nil { p["mode"] = .string("ingress", at: p.location) }
                    }
                }
            }
        }
    }
}
