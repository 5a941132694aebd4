/// compose-go's normalisation: the implicit `default` network, build defaults, variables without a
/// value taken from the environment, implicit dependencies (`links`, `network_mode: service:`,
/// `volumes_from`…), `pull_policy: if_not_present` as `missing`, and resource names
/// (`<project>_<key>`, or the key itself for external resources).
enum Normalizer {
    static func normalize(_ model: inout Node, projectName: String, environment: ProjectEnvironment) {
        let at = model.location
        var usesDefault = false
        model.modify("services") { services in
            services.mapValues { _, service in
                guard service.isMapping else { return }
                if service["provider"] == nil && service["network_mode"] == nil {
                    if let networks = service["networks"], !(networks.entries?.isEmpty ?? true) {
                        if networks["default"] != nil { usesDefault = true }
                    } else {
                        service["networks"] = .mapping([Node.Entry(key: "default", keyLocation: service.location, value: .null(at: service.location))], at: service.location)
                        usesDefault = true
                    }
                }
                if service["pull_policy"]?.text == "if_not_present" {
                    service["pull_policy"] = .string("missing", at: service["pull_policy"]!.location)
                }
                service.modify("build") { build in
                    guard build.isMapping else { return }
                    if build["context"] == nil { build["context"] = .string(".", at: build.location) }
                    if build["dockerfile"] == nil && build["dockerfile_inline"] == nil {
                        build["dockerfile"] = .string("Dockerfile", at: build.location)
                    }
                    build.modify("args") { resolve(&$0, environment, keepEmpty: false) }
                }
                service.modify("environment") { resolve(&$0, environment, keepEmpty: true) }

                var dependsOn = service["depends_on"] ?? .mapping([], at: service.location)
                func add(_ name: String, restart: Bool, at location: SourceLocation) {
                    guard dependsOn[name] == nil else { return }
                    dependsOn[name] = .mapping([
                        Node.Entry(key: "condition", keyLocation: location, value: .string("service_started", at: location)),
                        Node.Entry(key: "restart", keyLocation: location, value: Node(.bool(restart), at: location)),
                        Node.Entry(key: "required", keyLocation: location, value: Node(.bool(true), at: location)),
                    ], at: location)
                }
                for link in service["links"]?.items ?? [] {
                    let parts = link.text.split(separator: ":", omittingEmptySubsequences: false)
                    add(parts.count == 2 ? String(parts[0]) : link.text, restart: true, at: link.location)
                }
                for namespace in ["network_mode", "ipc", "pid", "uts", "cgroup"] {
                    if let ref = service[namespace], ref.text.hasPrefix("service:") {
                        add(String(ref.text.dropFirst("service:".count)), restart: true, at: ref.location)
                    }
                }
                for volume in service["volumes_from"]?.items ?? [] where !volume.text.hasPrefix("container:") {
                    add(String(volume.text.split(separator: ":", omittingEmptySubsequences: false)[0]), restart: false, at: volume.location)
                }
                if !(dependsOn.entries?.isEmpty ?? true) { service["depends_on"] = dependsOn }
            }
        }
        var networks = model["networks"] ?? .mapping([], at: at)
        if networks["default"] == nil && usesDefault {
            networks["default"] = .null(at: at)
        }
        if !(networks.entries?.isEmpty ?? true) { model["networks"] = networks }

        for kind in ["networks", "volumes", "configs", "secrets"] {
            model.modify(kind) { resources in
                resources.mapValues { key, resource in
                    if resource.isNull { resource = .mapping([], at: resource.location) }
                    guard resource.isMapping, resource["name"] == nil || resource["name"]!.isNull else { return }
                    let external = resource["external"]?.boolValue == true
                    resource["name"] = .string(external ? key : "\(projectName)_\(key)", at: resource.location)
                }
            }
        }
    }

    /// Values left out (`- NAME`, `NAME:`) are taken from the environment; without one they stay
    /// unset (`keepEmpty`) or are dropped.
    static func resolve(_ node: inout Node, _ environment: ProjectEnvironment, keepEmpty: Bool) {
        switch node.kind {
        case .sequence(let items):
            var result: [Node] = []
            for item in items {
                let s = item.text
                if s.contains("=") { result.append(item); continue }
                if let value = environment[s] {
                    var n = item
                    n.kind = .string("\(s)=\(value)")
                    result.append(n)
                } else if keepEmpty {
                    result.append(item)
                }
            }
            node.kind = .sequence(result)
        case .mapping(let entries):
            var result: [Node.Entry] = []
            for e in entries {
                if !e.value.isNull { result.append(e); continue }
                if let value = environment[e.key] {
                    var v = e
                    v.value = .string(value, at: e.value.location)
                    result.append(v)
                } else if keepEmpty {
                    result.append(e)
                }
            }
            node.kind = .mapping(result)
        default:
            break
        }
    }
}
