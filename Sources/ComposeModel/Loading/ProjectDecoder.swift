enum ProjectDecoder {
    static func decode(_ model: Node, name: String, workingDirectory: String, _ ctx: DecodeContext) -> Project {
        var project = Project(name: name, workingDirectory: workingDirectory)
        for entry in model.entries ?? [] {
            let v = entry.value
            switch entry.key {
            case "services":
                v.forEachEntry(ctx, "services") { key, s in
                    if s.isNull {
                        var service = ServiceConfig(name: key)
                        service.location = s.location
                        project.services[key] = service
                    } else {
                        project.services[key] = ServiceConfig(name: key, node: s, ctx)
                    }
                }
            case "networks":
                v.forEachEntry(ctx, "networks") { key, n in project.networks[key] = NetworkConfig(n, ctx, "networks." + key) }
            case "volumes":
                v.forEachEntry(ctx, "volumes") { key, n in project.volumes[key] = VolumeConfig(n, ctx, "volumes." + key) }
            case "secrets":
                v.forEachEntry(ctx, "secrets") { key, n in project.secrets[key] = FileObjectConfig(n, ctx, "secrets." + key) }
            case "configs":
                v.forEachEntry(ctx, "configs") { key, n in project.configs[key] = FileObjectConfig(n, ctx, "configs." + key) }
            case "models":
                v.forEachEntry(ctx, "models") { key, n in project.models[key] = ModelConfig(n, ctx, "models." + key) }
            default:
                if entry.key.hasPrefix("x-") { project.extensions[entry.key] = v }
            }
        }
        return project
    }
}

extension Project {
    /// Disables the services none of whose profiles is enabled (services without profiles are always
    /// enabled; `*` enables every profile).
    public mutating func applyProfiles(_ profiles: [String]) {
        if profiles.contains("*") {
            for (k, v) in disabledServices { services[k] = v }
            disabledServices = [:]
            return
        }
        var all = services
        for (k, v) in disabledServices { all[k] = v }
        services = [:]
        disabledServices = [:]
        for (name, service) in all {
            if service.profiles.isEmpty || service.profiles.contains(where: profiles.contains) {
                services[name] = service
            } else {
                disabledServices[name] = service
            }
        }
    }

    /// Enables services named on the command line, with their dependencies, and the profiles they
    /// belong to.
    public mutating func enable(_ names: [String]) throws(ComposeError) {
        var profiles = self.profiles
        var pending = names
        var seen: Set<String> = []
        while let name = pending.popLast() {
            guard seen.insert(name).inserted else { continue }
            guard let service = services[name] ?? disabledServices[name] else {
                throw ComposeError(.error("no such service: \(name)"))
            }
            for p in service.profiles where !profiles.contains(p) { profiles.append(p) }
            pending.append(contentsOf: service.dependsOn.filter { $0.value.required || services[$0.key] != nil || disabledServices[$0.key] != nil }.map(\.key))
        }
        self.profiles = profiles
        applyProfiles(profiles)
    }

    /// Keeps only the named services and what they depend on.
    public mutating func restrict(to names: [String]) throws(ComposeError) {
        var keep: Set<String> = []
        var pending = names
        while let name = pending.popLast() {
            guard keep.insert(name).inserted else { continue }
            guard let service = services[name] else {
                throw ComposeError(.error("no such service: \(name)"))
            }
            for (dep, d) in service.dependsOn where services[dep] != nil || d.required { pending.append(dep) }
        }
        for name in services.keys where !keep.contains(name) {
            disabledServices[name] = services.removeValue(forKey: name)
        }
    }

    /// Drops networks, volumes, secrets and configs that no enabled service uses.
    public mutating func removeUnusedResources() {
        var usedNetworks: Set<String> = [], usedVolumes: Set<String> = [], usedSecrets: Set<String> = [], usedConfigs: Set<String> = []
        for service in services.values {
            usedNetworks.formUnion(service.networks.keys)
            for v in service.volumes where v.type == "volume" && !v.source.isEmpty { usedVolumes.insert(v.source) }
            for s in service.secrets { usedSecrets.insert(s.source) }
            for s in service.build?.secrets ?? [] { usedSecrets.insert(s.source) }
            for c in service.configs { usedConfigs.insert(c.source) }
        }
        networks = networks.filter { usedNetworks.contains($0.key) }
        volumes = volumes.filter { usedVolumes.contains($0.key) }
        secrets = secrets.filter { usedSecrets.contains($0.key) }
        configs = configs.filter { usedConfigs.contains($0.key) }
    }
}
