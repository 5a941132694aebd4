/// The checks docker compose makes once a project is loaded (compose-go's `checkConsistency`), all
/// reported together, each at the place that names the missing or conflicting thing.
struct Consistency {
    let project: Project
    var diagnostics = DiagnosticBag()

    init(project: Project) { self.project = project }

    mutating func check() {
        for name in project.services.keys.sorted() {
            checkService(project.services[name]!)
        }
        for name in project.secrets.keys.sorted() {
            let secret = project.secrets[name]!
            if !secret.external && secret.file.isEmpty && secret.environment.isEmpty && secret.driver.isEmpty {
                diagnostics.error("secret \"\(name)\" must declare either `file` or `environment`", at: secret.location)
            }
        }
    }

    func at(_ service: ServiceConfig, _ key: String) -> SourceLocation? {
        service.locations[key] ?? service.location
    }

    mutating func checkService(_ s: ServiceConfig) {
        let name = s.name
        if s.build == nil && s.image.isEmpty && s.provider == nil {
            diagnostics.error("service \"\(name)\" has neither an image nor a build context specified", at: s.location)
        }
        if let build = s.build {
            if !build.dockerfileInline.isEmpty && !build.dockerfile.isEmpty && build.dockerfile != "Dockerfile" {
                diagnostics.error("service \"\(name)\" declares mutually exclusive dockerfile and dockerfile_inline", at: at(s, "build"))
            }
            if !build.platforms.isEmpty && !s.platform.isEmpty && !build.platforms.contains(s.platform) {
                diagnostics.error("services.\(name).build.platforms must include the service's platform \"\(s.platform)\"", at: at(s, "build"))
            }
            for secret in build.secrets where project.secrets[secret.source] == nil {
                diagnostics.error("service \"\(name)\" refers to undefined build secret \(secret.source)", at: at(s, "build"))
            }
        }
        if !s.networkMode.isEmpty && s.locations["networks"] != nil && !s.networks.isEmpty {
            diagnostics.error("service \(name) declares mutually exclusive `network_mode` and `networks`", at: at(s, "network_mode"))
        }
        for network in s.networks.keys.sorted() where project.networks[network] == nil {
            var message = "service \"\(name)\" refers to undefined network \(network)"
            if let suggestion = Suggestions.nearest(network, in: Array(project.networks.keys)) { message += " (did you mean \"\(suggestion)\"?)" }
            diagnostics.error(message, at: s.locations["networks." + network] ?? at(s, "networks"))
        }
        if let test = s.healthCheck?.test, let first = test.first, !["CMD", "CMD-SHELL", "NONE"].contains(first) {
            diagnostics.error("services.\(name).healthcheck.test must start with \"CMD\", \"CMD-SHELL\" or \"NONE\", not \"\(first)\"", at: at(s, "healthcheck"))
        }
        for dep in s.dependsOn.keys.sorted() {
            let d = s.dependsOn[dep]!
            if project.services[dep] != nil { continue }
            if let disabled = project.disabledServices[dep] {
                if !d.required { continue }
                let profiles = disabled.profiles.joined(separator: ", ")
                diagnostics.error("service \"\(name)\" depends on service \"\(dep)\", which is disabled: none of its profiles (\(profiles)) is enabled (enable one with --profile, or set required: false)",
                                  at: d.location ?? at(s, "depends_on"))
                continue
            }
            // Dependencies implied by network_mode, ipc, pid… are reported by their own check.
            let namespaceRefs = [s.networkMode, s.ipc, s.pid, s.uts, s.cgroup]
            if namespaceRefs.contains("service:\(dep)") { continue }
            var message = "service \"\(name)\" depends on undefined service \"\(dep)\""
            if s.links.contains(where: { $0 == dep || $0.hasPrefix(dep + ":") }) {
                message = "service \"\(name)\" links to undefined service \"\(dep)\""
            } else if s.volumesFrom.contains(where: { $0 == dep || $0.hasPrefix(dep + ":") }) {
                message = "service \"\(name)\" takes volumes_from undefined service \"\(dep)\""
            }
            if let suggestion = Suggestions.nearest(dep, in: Array(project.services.keys)) { message += " (did you mean \"\(suggestion)\"?)" }
            diagnostics.error(message, at: d.location ?? at(s, "depends_on"))
        }
        for (key, value) in [("network_mode", s.networkMode), ("ipc", s.ipc), ("pid", s.pid), ("uts", s.uts), ("cgroup", s.cgroup)]
            where value.hasPrefix("service:") {
            let target = String(value.dropFirst("service:".count))
            if project.services[target] == nil {
                var message = "service \"\(name)\": \(key) refers to service \"\(target)\", which is not defined"
                if project.disabledServices[target] != nil { message = "service \"\(name)\": \(key) refers to service \"\(target)\", which is disabled by its profiles" }
                diagnostics.error(message, at: at(s, key))
            }
        }
        for volume in s.volumes where volume.type == "volume" && !volume.source.isEmpty && project.volumes[volume.source] == nil {
            var message = "service \"\(name)\" refers to undefined volume \(volume.source)"
            if let suggestion = Suggestions.nearest(volume.source, in: Array(project.volumes.keys)) {
                message += " (did you mean \"\(suggestion)\"?)"
            } else {
                message += "; define it under the top-level volumes key, or write ./\(volume.source) for a bind mount"
            }
            diagnostics.error(message, at: volume.location ?? at(s, "volumes"))
        }
        for config in s.configs where project.configs[config.source] == nil {
            diagnostics.error("service \"\(name)\" refers to undefined config \(config.source)", at: config.location ?? at(s, "configs"))
        }
        for secret in s.secrets where project.secrets[secret.source] == nil {
            diagnostics.error("service \"\(name)\" refers to undefined secret \(secret.source)", at: secret.location ?? at(s, "secrets"))
        }
        if let scale = s.scale, let replicas = s.deploy?.replicas, scale != replicas {
            diagnostics.error("services.\(name): can't set distinct values on 'scale' and 'deploy.replicas'", at: at(s, "scale"))
        }
        if s.cpus != 0, let limits = s.deploy?.limits, limits.cpus != s.cpus {
            diagnostics.error("services.\(name): can't set distinct values on 'cpus' and 'deploy.resources.limits.cpus'", at: at(s, "cpus"))
        }
        if s.memLimit != 0, let limits = s.deploy?.limits, limits.memory != s.memLimit {
            diagnostics.error("services.\(name): can't set distinct values on 'mem_limit' and 'deploy.resources.limits.memory'", at: at(s, "mem_limit"))
        }
        if s.memReservation != 0, let reservations = s.deploy?.reservations, reservations.memory != s.memReservation {
            diagnostics.error("services.\(name): can't set distinct values on 'mem_reservation' and 'deploy.resources.reservations.memory'", at: at(s, "mem_reservation"))
        }
        if s.pidsLimit != 0, let limits = s.deploy?.limits, limits.pids != s.pidsLimit {
            diagnostics.error("services.\(name): can't set distinct values on 'pids_limit' and 'deploy.resources.limits.pids'", at: at(s, "pids_limit"))
        }
        if s.replicaCount > 1 && !s.containerName.isEmpty {
            let attribute = s.scale == nil ? "deploy.replicas" : "scale"
            diagnostics.error("services.\(name): can't set container_name and \(attribute) as container name must be unique", at: at(s, "container_name"))
        }
        for trigger in s.develop?.watch ?? [] where trigger.action.hasPrefix("sync") && trigger.target.isEmpty {  // restart and rebuild need none
            diagnostics.error("services.\(name).develop.watch: target is required for non-rebuild actions", at: at(s, "develop"))
        }
    }
}

extension ProjectLoader {
    /// Resolves `env_file` and `label_file` into `environment` and `labels` (service values win), as
    /// compose-go's `WithServicesEnvironmentResolved` does.
    mutating func resolveServiceEnvironments(_ project: inout Project, environment: ProjectEnvironment) throws(ComposeError) {
        for name in project.services.keys.sorted() {
            var service = project.services[name]!
            if !service.envFiles.isEmpty {
                var vars: [String: String] = [:]
                for (k, v) in service.environment { if let v { vars[k] = v } }
                let serviceEnvironment = service.environment
                for envFile in service.envFiles {
                    guard FileSystem.exists(envFile.path) else {
                        if envFile.required {
                            throw ComposeError(.error("env file \(displayPath(envFile.path)) not found (set required: false on it to make it optional)",
                                                      at: service.locations["env_file"]), sources: sources)
                        }
                        continue
                    }
                    let text: String
                    do { text = try FileSystem.readText(envFile.path) } catch {
                        throw ComposeError(.error("\(error)", at: service.locations["env_file"]), sources: sources)
                    }
                    sources[envFile.path] = text
                    if envFile.format == "raw" {
                        for v in DotEnv.parseRaw(text) {
                            vars[v.key] = v.value
                            envFileOrigins[name, default: [:]][v.key] = ServiceVariableSource.FileLine(path: envFile.path, line: v.line)
                        }
                        continue
                    }
                    let accumulated = vars
                    let lookup: (String) -> String? = { key in environment[key] ?? serviceEnvironment[key] ?? nil }
                    do {
                        for v in try DotEnv.parse(text, lookup: lookup, fallback: { accumulated[$0] }) {
                            vars[v.key] = v.value
                            envFileOrigins[name, default: [:]][v.key] = ServiceVariableSource.FileLine(path: envFile.path, line: v.line)
                        }
                    } catch {
                        throw ComposeError(.error("failed to read \(displayPath(envFile.path)): \(error.message)",
                                                  at: SourceLocation(file: envFile.path, line: error.line, column: 1)), sources: sources)
                    }
                }
                var merged: [String: String?] = vars.mapValues { .some($0) }
                for (k, v) in service.environment { merged[k] = .some(v) }
                service.environment = merged
                if options.discardEnvFiles { service.envFiles = [] }
            }
            if !service.labelFiles.isEmpty {
                var labels: [String: String] = [:]
                for file in service.labelFiles {
                    let text: String
                    do { text = try FileSystem.readText(file) } catch {
                        throw ComposeError(.error("failed to read label file \(displayPath(file)): \(error.isMissing ? "no such file" : "\(error)")",
                                                  at: service.locations["label_file"]), sources: sources)
                    }
                    sources[file] = text
                    do {
                        for v in try DotEnv.parse(text, lookup: { environment[$0] }) { labels[v.key] = v.value }
                    } catch {
                        throw ComposeError(.error("failed to read \(displayPath(file)): \(error.message)",
                                                  at: SourceLocation(file: file, line: error.line, column: 1)), sources: sources)
                    }
                }
                for (k, v) in service.labels { labels[k] = v }
                service.labels = labels
                if options.discardEnvFiles { service.labelFiles = [] }
            }
            project.services[name] = service
        }
    }
}
