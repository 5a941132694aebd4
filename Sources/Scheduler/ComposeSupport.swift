import ComposeModel
import Engine

/// How swcompose treats one key of the compose specification.
public struct KeySupport: Sendable {
    public enum Status: String, Sendable {
        /// Applied as docker compose applies it (checked from inside a container).
        case honoured
        /// Has no effect, as under docker compose, for the reason given (swarm-only keys, Windows-only keys).
        case inert
        /// Not supported: a project that uses it is refused before anything is created.
        case refused
    }

    public var status: Status
    /// Why the key is inert or refused, and what to do instead; for a key honoured for some values
    /// only, which ones.
    public var reason: String
    /// For a key honoured for some values only: why a value is refused and where (nil: accepted).
    public var check: (@Sendable (Node) -> (message: String, location: SourceLocation)?)?

    public static let honoured = KeySupport(status: .honoured, reason: "")

    /// Honoured for the values `accepted` describes; `check` refuses the others, at the value.
    public static func honoured(for accepted: String, check: @escaping @Sendable (Node) -> String?) -> KeySupport {
        KeySupport(status: .honoured, reason: accepted, check: { node in check(node).map { ($0, node.location) } })
    }

    /// A map of options honoured for the keys and values `accepted` describes; `check` refuses an
    /// entry, at its value.
    public static func honoured(for accepted: String, entries check: @escaping @Sendable (String, Node) -> String?) -> KeySupport {
        KeySupport(status: .honoured, reason: accepted, check: { node in
            for entry in node.entries ?? [] {
                if let problem = check(entry.key, entry.value) { return (problem, entry.value.location) }
            }
            return nil
        })
    }

    /// A list honoured for the items `accepted` describes; `check` refuses an item, at the item.
    public static func honouredItems(for accepted: String, check: @escaping @Sendable (Node) -> String?) -> KeySupport {
        KeySupport(status: .honoured, reason: accepted, check: { node in
            for item in node.items ?? [node] {
                if let problem = check(item) { return (problem, item.location) }
            }
            return nil
        })
    }

    public static func inert(_ reason: String) -> KeySupport { KeySupport(status: .inert, reason: reason) }
    public static func refused(_ reason: String) -> KeySupport { KeySupport(status: .refused, reason: reason) }
}

/// The support table: every key the compose specification allows, and what swcompose does with it.
/// `config` prints every key as docker compose does; the verbs that create containers, networks,
/// volumes or images (`up`, `create`, `run`, `build`, `watch`) refuse a project that uses a refused
/// key, or a value a key does not honour, at the key's `file:line:column`, before anything is created.
/// The table is keyed by schema path (`SchemaValidator.keyPaths`); `SupportTableTests` fails for a
/// path of the embedded schema that is missing here, so a key added to the specification later
/// cannot be silently dropped.
public enum ComposeSupport {
    static let swarm = "a swarm setting that docker compose ignores too: there is no swarm, one engine runs every container"
    static let windows = "a Windows containers setting that docker ignores or refuses on Linux"

    public static let table: [String: KeySupport] = {
        var t: [String: KeySupport] = [:]
        func set(_ status: KeySupport, _ paths: String...) { for p in paths { t[p] = status } }

        // Top level.
        set(.inert("obsolete: docker compose warns that `version` is obsolete and ignores it"), "version")
        set(.honoured, "name", "include", "include.env_file", "include.path", "include.project_directory",
            "services", "networks", "volumes", "secrets", "configs")
        set(.refused("AI models need Docker Model Runner, which swcompose does not provide: run the model server as a service of its own and point the application at it"),
            "models", "models.*.context_size", "models.*.model", "models.*.name", "models.*.runtime_flags")

        // Services: what runs.
        set(.honoured, "services.*.image", "services.*.command", "services.*.entrypoint", "services.*.environment",
            "services.*.env_file", "services.*.env_file.path", "services.*.env_file.required", "services.*.env_file.format",
            "services.*.user", "services.*.group_add", "services.*.working_dir", "services.*.labels", "services.*.label_file",
            "services.*.container_name", "services.*.profiles", "services.*.extends", "services.*.extends.file",
            "services.*.extends.service", "services.*.scale", "services.*.tty", "services.*.stdin_open", "services.*.init",
            "services.*.read_only", "services.*.hostname", "services.*.domainname", "services.*.platform",
            "services.*.pull_policy", "services.*.pull_refresh_after", "services.*.stop_signal", "services.*.stop_grace_period",
            "services.*.depends_on", "services.*.depends_on.*.condition", "services.*.depends_on.*.required",
            "services.*.depends_on.*.restart", "services.*.expose", "services.*.oom_score_adj", "services.*.restart")
        set(.honoured, "services.*.healthcheck", "services.*.healthcheck.disable", "services.*.healthcheck.interval",
            "services.*.healthcheck.retries", "services.*.healthcheck.start_interval", "services.*.healthcheck.start_period",
            "services.*.healthcheck.test", "services.*.healthcheck.timeout")
        set(.honoured, "services.*.attach")
        set(.honoured, "services.*.annotations")

        // Services: confinement and resources.
        set(.honoured, "services.*.cap_add", "services.*.cap_drop", "services.*.privileged", "services.*.security_opt",
            "services.*.sysctls", "services.*.ulimits", "services.*.ulimits.*.hard", "services.*.ulimits.*.soft",
            "services.*.devices", "services.*.devices.source", "services.*.devices.target", "services.*.devices.permissions",
            "services.*.device_cgroup_rules", "services.*.shm_size", "services.*.tmpfs",
            "services.*.mem_limit", "services.*.mem_reservation", "services.*.mem_swappiness", "services.*.memswap_limit",
            "services.*.oom_kill_disable", "services.*.pids_limit", "services.*.cpus", "services.*.cpu_shares",
            "services.*.cpu_period", "services.*.cpu_quota", "services.*.cpuset")
        set(.honoured, "services.*.blkio_config", "services.*.blkio_config.weight", "services.*.blkio_config.weight_device",
            "services.*.blkio_config.weight_device.path", "services.*.blkio_config.weight_device.weight",
            "services.*.blkio_config.device_read_bps", "services.*.blkio_config.device_read_bps.path",
            "services.*.blkio_config.device_read_bps.rate", "services.*.blkio_config.device_read_iops",
            "services.*.blkio_config.device_read_iops.path", "services.*.blkio_config.device_read_iops.rate",
            "services.*.blkio_config.device_write_bps", "services.*.blkio_config.device_write_bps.path",
            "services.*.blkio_config.device_write_bps.rate", "services.*.blkio_config.device_write_iops",
            "services.*.blkio_config.device_write_iops.path", "services.*.blkio_config.device_write_iops.rate")
        set(.inert("a Windows setting: dockerd on Linux discards it with a warning (\"Linux does not support CPU count/percent\")"),
            "services.*.cpu_count", "services.*.cpu_percent")
        set(.refused("real-time CPU budgets need the kernel's RT group scheduling, which swcompose does not set up: remove cpu_rt_period and cpu_rt_runtime"),
            "services.*.cpu_rt_period", "services.*.cpu_rt_runtime")
        set(.honoured, "services.*.cgroup_parent")
        set(.refused("credential_spec is " + windows + "; remove it"), "services.*.credential_spec", "services.*.credential_spec.config",
            "services.*.credential_spec.file", "services.*.credential_spec.registry")
        set(.honoured(for: "`default` (the only isolation on Linux)") { node in
            node.scalar == "default" || node.scalar.isEmpty ? nil
                : "isolation \(node.scalar) is a Windows containers setting; Linux has only `default`: remove it"
        }, "services.*.isolation")
        set(.honoured(for: "`host` (no user namespace remapping, as a daemon without userns-remap)") { node in
            node.scalar == "host" || node.scalar.isEmpty ? nil
                : "userns_mode \(node.scalar) is not supported: containers share the host's user namespace (only `host` is accepted)"
        }, "services.*.userns_mode")
        set(.refused("storage_opt (a per-container size limit) needs a storage driver with quotas; swcompose's overlay root filesystems have none: remove it"),
            "services.*.storage_opt")
        set(.honoured(for: "the built-in runtime (`runc`, the name docker gives its default)") { node in
            ["", "runc", "swcompose"].contains(node.scalar) ? nil
                : "runtime \(node.scalar) is not available: swcompose runs containers with its own runtime only (`runc` names it); remove runtime: or install \(node.scalar) under docker"
        }, "services.*.runtime")
        // Through CDI specs (CDI.swift): nvidia.com/gpu or amd.com/gpu for gpu requests, named devices for driver cdi.
        set(.honoured, "services.*.gpus", "services.*.gpus.capabilities", "services.*.gpus.count",
            "services.*.gpus.device_ids", "services.*.gpus.driver", "services.*.gpus.options")

        // Services: namespaces and lifecycle.
        set(.honoured, "services.*.ipc", "services.*.pid", "services.*.uts", "services.*.cgroup")
        set(.honoured, "services.*.post_start", "services.*.post_start.command",
            "services.*.post_start.environment", "services.*.post_start.privileged", "services.*.post_start.user",
            "services.*.post_start.working_dir", "services.*.pre_stop", "services.*.pre_stop.command",
            "services.*.pre_stop.environment", "services.*.pre_stop.privileged", "services.*.pre_stop.user",
            "services.*.pre_stop.working_dir", "services.*.pre_start", "services.*.pre_start.command",
            "services.*.pre_start.environment", "services.*.pre_start.image", "services.*.pre_start.per_replica",
            "services.*.pre_start.privileged", "services.*.pre_start.user", "services.*.pre_start.working_dir")
        set(.refused("use_api_socket mounts the Docker engine's socket; swcompose has no daemon and no API socket to give a container"),
            "services.*.use_api_socket")
        set(.refused("AI models need Docker Model Runner, which swcompose does not provide"), "services.*.models",
            "services.*.models.*.endpoint_var", "services.*.models.*.model_var")
        set(.honoured,
            "services.*.provider", "services.*.provider.options", "services.*.provider.type")

        // Services: logging.
        set(.honoured, "services.*.logging")
        set(.honoured(for: "json-file, local, syslog, journald and none") { node in
            ["", "json-file", "local", "none", "syslog", "journald"].contains(node.scalar) ? nil
                : "logging driver \(node.scalar) is not supported (json-file, local, syslog, journald, none): \(node.scalar) needs a docker plugin"
        }, "services.*.logging.driver")
        set(.honoured(for: "the options of the chosen driver, as dockerd's drivers take them (json-file and local: max-size, max-file, labels, env, tag; syslog: syslog-address, syslog-facility, syslog-format, tag, labels, env, cache-max-size, cache-max-file; journald: tag, labels, env, cache-max-size, cache-max-file); checked when the container is planned") { _ in nil },
            "services.*.logging.options")

        // Services: networking.
        set(.honoured, "services.*.network_mode", "services.*.networks", "services.*.networks.*.aliases",
            "services.*.networks.*.ipv4_address", "services.*.networks.*.mac_address", "services.*.networks.*.priority",
            "services.*.mac_address", "services.*.ports", "services.*.ports.host_ip", "services.*.ports.protocol",
            "services.*.ports.published", "services.*.ports.target", "services.*.dns", "services.*.dns_opt",
            "services.*.dns_search", "services.*.extra_hosts")
        set(.inert("`mode: host` and `ingress` choose swarm's routing mesh; docker compose publishes every port on the host as usual"),
            "services.*.ports.mode")
        set(.inert("a name and protocol hint for the port, recorded for tools; docker compose passes neither to the engine"),
            "services.*.ports.name", "services.*.ports.app_protocol")
        set(.honoured, "services.*.networks.*.ipv6_address", "services.*.networks.*.link_local_ips",
            "services.*.networks.*.gw_priority", "services.*.networks.*.interface_name")
        set(.honoured(for: "com.docker.network.endpoint.ifname and com.docker.network.endpoint.sysctls") { key, _ in
            ["com.docker.network.endpoint.ifname", "com.docker.network.endpoint.sysctls"].contains(key) ? nil
                : "endpoint option \(key) is not supported (com.docker.network.endpoint.ifname, com.docker.network.endpoint.sysctls)"
        }, "services.*.networks.*.driver_opts")
        set(.honoured, "services.*.links", "services.*.external_links")

        // Services: storage.
        set(.honoured, "services.*.volumes", "services.*.volumes.source", "services.*.volumes.target",
            "services.*.volumes.read_only", "services.*.volumes.bind", "services.*.volumes.bind.create_host_path",
            "services.*.volumes.bind.propagation", "services.*.volumes.volume", "services.*.volumes.volume.nocopy",
            "services.*.volumes.volume.subpath", "services.*.volumes.tmpfs", "services.*.volumes.tmpfs.mode",
            "services.*.volumes.tmpfs.size")
        set(.honoured(for: "bind, volume, tmpfs and image") { node in
            ["bind", "volume", "tmpfs", "image"].contains(node.scalar) ? nil
                : "volume type \(node.scalar) is not supported (bind, volume, tmpfs, image)"
        }, "services.*.volumes.type")
        set(.inert("a macOS file-sharing setting (Docker Desktop); docker on Linux ignores it"), "services.*.volumes.consistency")
        set(.honoured, "services.*.volumes.bind.selinux", "services.*.volumes.bind.recursive")
        set(.honoured, "services.*.volumes.volume.labels")
        set(.honoured, "services.*.volumes.image", "services.*.volumes.image.subpath")
        set(.honoured, "services.*.volumes_from")
        set(.honoured, "services.*.secrets", "services.*.secrets.source", "services.*.secrets.target",
            "services.*.secrets.uid", "services.*.secrets.gid", "services.*.secrets.mode",
            "services.*.configs", "services.*.configs.source", "services.*.configs.target",
            "services.*.configs.uid", "services.*.configs.gid", "services.*.configs.mode")

        // Services: deploy.
        set(.honoured, "services.*.deploy", "services.*.deploy.replicas", "services.*.deploy.resources",
            "services.*.deploy.resources.limits", "services.*.deploy.resources.limits.cpus",
            "services.*.deploy.resources.limits.memory", "services.*.deploy.resources.limits.pids",
            "services.*.deploy.resources.reservations", "services.*.deploy.resources.reservations.memory",
            "services.*.deploy.restart_policy", "services.*.deploy.restart_policy.condition",
            "services.*.deploy.restart_policy.max_attempts")
        set(.inert("a CPU reservation is a swarm scheduling hint; docker compose does not pass it to the engine either"),
            "services.*.deploy.resources.reservations.cpus")
        set(.inert(swarm), "services.*.deploy.mode", "services.*.deploy.endpoint_mode", "services.*.deploy.labels",
            "services.*.deploy.placement", "services.*.deploy.placement.constraints",
            "services.*.deploy.placement.max_replicas_per_node", "services.*.deploy.placement.preferences",
            "services.*.deploy.placement.preferences.spread", "services.*.deploy.restart_policy.delay",
            "services.*.deploy.restart_policy.window", "services.*.deploy.rollback_config",
            "services.*.deploy.rollback_config.delay", "services.*.deploy.rollback_config.failure_action",
            "services.*.deploy.rollback_config.max_failure_ratio", "services.*.deploy.rollback_config.monitor",
            "services.*.deploy.rollback_config.order", "services.*.deploy.rollback_config.parallelism",
            "services.*.deploy.update_config", "services.*.deploy.update_config.delay",
            "services.*.deploy.update_config.failure_action", "services.*.deploy.update_config.max_failure_ratio",
            "services.*.deploy.update_config.monitor", "services.*.deploy.update_config.order",
            "services.*.deploy.update_config.parallelism",
            "services.*.deploy.resources.reservations.generic_resources",
            "services.*.deploy.resources.reservations.generic_resources.discrete_resource_spec",
            "services.*.deploy.resources.reservations.generic_resources.discrete_resource_spec.kind",
            "services.*.deploy.resources.reservations.generic_resources.discrete_resource_spec.value")
        set(.honoured, "services.*.deploy.resources.reservations.devices",
            "services.*.deploy.resources.reservations.devices.capabilities", "services.*.deploy.resources.reservations.devices.count",
            "services.*.deploy.resources.reservations.devices.device_ids", "services.*.deploy.resources.reservations.devices.driver",
            "services.*.deploy.resources.reservations.devices.options")

        // Services: develop (watch).
        set(.honoured, "services.*.develop", "services.*.develop.watch", "services.*.develop.watch.action",
            "services.*.develop.watch.exec", "services.*.develop.watch.exec.command", "services.*.develop.watch.exec.environment",
            "services.*.develop.watch.exec.privileged", "services.*.develop.watch.exec.user",
            "services.*.develop.watch.exec.working_dir", "services.*.develop.watch.ignore", "services.*.develop.watch.include",
            "services.*.develop.watch.initial_sync", "services.*.develop.watch.path", "services.*.develop.watch.target")

        // Services: build.
        set(.honoured, "services.*.build", "services.*.build.context", "services.*.build.dockerfile",
            "services.*.build.dockerfile_inline", "services.*.build.args", "services.*.build.additional_contexts",
            "services.*.build.extra_hosts", "services.*.build.labels", "services.*.build.network", "services.*.build.no_cache",
            "services.*.build.platforms", "services.*.build.privileged", "services.*.build.secrets",
            "services.*.build.secrets.source", "services.*.build.secrets.target", "services.*.build.secrets.uid",
            "services.*.build.secrets.gid", "services.*.build.secrets.mode", "services.*.build.shm_size",
            "services.*.build.ssh", "services.*.build.tags", "services.*.build.target", "services.*.build.ulimits",
            "services.*.build.ulimits.*.hard", "services.*.build.ulimits.*.soft")
        set(.honoured(for: "`default` (the only isolation on Linux)") { node in
            node.scalar == "default" || node.scalar.isEmpty ? nil
                : "build isolation \(node.scalar) is a Windows containers setting; Linux has only `default`: remove it"
        }, "services.*.build.isolation")
        set(.inert("attestations are BuildKit's; docker's builder on Linux without BuildKit makes none either, and swcompose's builder records none"),
            "services.*.build.provenance", "services.*.build.sbom")
        // A git repository as the context is fetched with git (GitContext); no_cache_filter is honoured
        // though docker compose 2.40.3 does not pass it to its builder.
        set(.honoured, "services.*.build.pull", "services.*.build.no_cache_filter")
        set(.honouredItems(for: "type=registry (or a bare image reference) and type=local, swcompose's own cache format") { item in
            guard let text = item.scalarText else { return nil }
            if case .failure(let e) = BuildCacheEntry.parse(text, export: false) { return e.message }
            return nil
        }, "services.*.build.cache_from")
        set(.honouredItems(for: "type=registry and type=local, in swcompose's own cache format (an OCI artifact)") { item in
            guard let text = item.scalarText else { return nil }
            if case .failure(let e) = BuildCacheEntry.parse(text, export: true) { return e.message }
            return nil
        }, "services.*.build.cache_to")
        set(.honouredItems(for: "network.host and security.insecure") { item in
            guard let text = item.scalarText, !["network.host", "security.insecure"].contains(text) else { return nil }
            return "build entitlement \(text) is not supported: swcompose's builder grants network.host (RUN --network=host) and security.insecure (RUN --security=insecure)"
        }, "services.*.build.entitlements")

        // Networks.
        set(.honoured, "networks.*.name", "networks.*.external", "networks.*.external.name", "networks.*.internal",
            "networks.*.labels", "networks.*.ipam", "networks.*.ipam.config", "networks.*.ipam.config.subnet",
            "networks.*.ipam.config.gateway", "networks.*.ipam.config.ip_range")
        set(.honoured(for: "bridge, macvlan and ipvlan") { node in
            ["", "bridge", "macvlan", "ipvlan"].contains(node.scalar) ? nil
                : "network driver \(node.scalar) is not supported (bridge, macvlan, ipvlan)\(node.scalar == "overlay" ? ": overlay networks span a swarm" : "")"
        }, "networks.*.driver")
        set(.honoured(for: "the bridge options docker documents (" + BridgeOptions.known.joined(separator: ", ") + "), and macvlan's and ipvlan's parent, macvlan_mode, ipvlan_mode, ipvlan_flag; checked against the network's driver before anything is created") { key, value in
            switch key {
            case "parent", "macvlan_mode", "ipvlan_mode", "ipvlan_flag": return nil
            default: return BridgeOptions.problem(key, value.scalar)
            }
        }, "networks.*.driver_opts")
        set(.honoured(for: "the default IPAM driver") { node in
            ["", "default"].contains(node.scalar) ? nil : "IPAM driver \(node.scalar) is not available: swcompose allocates addresses itself (`default`)"
        }, "networks.*.ipam.driver")
        set(.inert("options of the IPAM driver: kept with the network (`network inspect` shows them) as dockerd keeps them; its default IPAM driver, which swcompose's is, takes none"),
            "networks.*.ipam.options")
        set(.honoured, "networks.*.ipam.config.aux_addresses")
        set(.inert("lets swarm services' standalone containers join an overlay network; any container of the project can join a swcompose bridge"),
            "networks.*.attachable")
        set(.honoured(for: "true (IPv4, with IPv6 too where enable_ipv6 says so)") { node in
            node.boolValue == false ? "networks without IPv4 (enable_ipv4: false, Docker Engine 28) are not supported: every swcompose network has IPv4, and IPv6 beside it with enable_ipv6" : nil
        }, "networks.*.enable_ipv4")
        set(.honoured, "networks.*.enable_ipv6")

        // Volumes.
        set(.honoured, "volumes.*.name", "volumes.*.external", "volumes.*.external.name", "volumes.*.labels")
        set(.honoured(for: "`local`") { node in
            ["", "local"].contains(node.scalar) ? nil
                : "volume driver \(node.scalar) is not available: swcompose keeps volumes on this host (`local`) only"
        }, "volumes.*.driver")
        set(.honoured(for: "the local driver's type, device and o (a bind of a host directory, a tmpfs, a filesystem on a device), mounted when a container first uses the volume") { key, _ in
            if ["type", "device", "o"].contains(key) { return nil }
            return key == "size"
                ? "the local driver's size option needs a filesystem with project quotas (xfs), which swcompose's volumes do not set up: remove size"
                : "invalid option key: \"\(key)\" (the local driver takes type, device and o)"
        }, "volumes.*.driver_opts")

        // Secrets and configs.
        set(.honoured, "secrets.*.name", "secrets.*.file", "secrets.*.environment", "secrets.*.labels",
            "configs.*.name", "configs.*.file", "configs.*.environment", "configs.*.content", "configs.*.labels")
        set(.refused("external secrets live in a swarm's store; docker compose refuses them too (\"unsupported external secret\"): use `file:` or `environment:`"),
            "secrets.*.external", "secrets.*.external.name")
        set(.refused("external configs live in a swarm's store; docker compose refuses them too (\"unsupported external config\"): use `file:`, `content:` or `environment:`"),
            "configs.*.external", "configs.*.external.name")
        set(.refused("secret drivers are a swarm feature; docker compose refuses them too (\"Docker Compose does not support secrets.*.driver\")"),
            "secrets.*.driver", "secrets.*.driver_opts")
        set(.refused("docker compose refuses it too (\"Docker Compose does not support secrets.*.template_driver\"): template the file before up"),
            "secrets.*.template_driver")
        set(.refused("docker compose refuses it too (\"Docker Compose does not support configs.*.template_driver\"): template the file before up"),
            "configs.*.template_driver")
        return t
    }()

    /// What the project uses that swcompose refuses, each at its key's location, all at once.
    public static func refusals(_ loaded: LoadedProject, where include: (SchemaValidator.KeyUse) -> Bool = { _ in true }) -> [Diagnostic] {
        let project = loaded.project
        var diagnostics: [Diagnostic] = []
        // A refused key's own keys are not reported again.
        var refused: String?
        for use in SchemaValidator.compose.keyUses(in: loaded.model) {
            guard isActive(use, project), include(use) else { continue }
            let support = table[use.path] ?? .refused("this key is not in swcompose's support table")
            let name = displayPath(use.path, names: use.names)
            if let refused, name.hasPrefix(refused + ".") { continue }
            if support.status == .refused { refused = name }
            switch support.status {
            case .honoured:
                if let check = support.check, let problem = check(use.value) {
                    diagnostics.append(.error("\(name): \(problem.message)", at: problem.location))
                }
            case .inert:
                continue
            case .refused:
                diagnostics.append(.error("\(name) is not supported: \(support.reason)", at: use.keyLocation))
            }
        }
        return diagnostics
    }

    /// Keys of services, networks, volumes, secrets and configs the project does not use (disabled
    /// by profiles, left out by the services named on the command line) are not checked.
    static func isActive(_ use: SchemaValidator.KeyUse, _ project: Project) -> Bool {
        guard let name = use.names.first else { return true }
        switch use.path.prefix(while: { $0 != "." }) {
        case "services": return project.services[name] != nil
        case "networks": return project.networks[name] != nil
        case "volumes": return project.volumes[name] != nil
        case "secrets": return project.secrets[name] != nil
        case "configs": return project.configs[name] != nil
        case "models": return project.models[name] != nil
        default: return true
        }
    }

    /// `services.*.logging.driver` with the names filled in: `services.web.logging.driver`.
    static func displayPath(_ path: String, names: [String]) -> String {
        var remaining = names[...]
        return path.split(separator: ".").map { part in
            part == "*" ? (remaining.popFirst() ?? "*") : String(part)
        }.joined(separator: ".")
    }
}

extension Node {
    /// A scalar's text ("" for anything else), as the checks compare it.
    fileprivate var scalar: String { scalarText ?? "" }
}

/// The bridge driver's options (`networks.*.driver_opts`) that docker documents and swcompose applies.
public enum BridgeOptions {
    public static let name = "com.docker.network.bridge.name"
    public static let interContainerCommunication = "com.docker.network.bridge.enable_icc"
    public static let masquerade = "com.docker.network.bridge.enable_ip_masquerade"
    public static let hostBindingIPv4 = "com.docker.network.bridge.host_binding_ipv4"
    public static let mtu = "com.docker.network.driver.mtu"
    public static let interfacePrefix = "com.docker.network.container_iface_prefix"
    static let known = [name, interContainerCommunication, masquerade, hostBindingIPv4, mtu, interfacePrefix]

    /// Go's `strconv.ParseBool`, as the bridge driver reads its options.
    static func bool(_ s: String) -> Bool? {
        switch s {
        case "1", "t", "T", "TRUE", "true", "True": return true
        case "0", "f", "F", "FALSE", "false", "False": return false
        default: return nil
        }
    }

    /// Why an option or its value is refused; nil when it is applied.
    static func problem(_ key: String, _ value: String) -> String? {
        switch key {
        case name:
            return !value.isEmpty && value.utf8.count <= 15 && !value.contains("/") && !value.contains(" ") ? nil
                : "\(key): \"\(value)\" is not an interface name (at most 15 characters, no / or spaces)"
        case interContainerCommunication, masquerade:
            return bool(value) == nil ? "\(key) must be true or false, not \"\(value)\"" : nil
        case hostBindingIPv4:
            return IPv4Address(value) == nil ? "\(key) must be an IPv4 address, not \"\(value)\"" : nil
        case mtu:
            return UInt32(value).map { $0 >= 68 && $0 <= 65535 } == true ? nil : "\(key) must be a number from 68 to 65535, not \"\(value)\""
        case interfacePrefix:
            return !value.isEmpty && value.utf8.count <= 12 && value.allSatisfy({ $0.isLetter || $0.isNumber }) ? nil
                : "\(key): \"\(value)\" is not an interface name prefix (letters and digits, at most 12)"
        default:
            return "bridge option \(key) is not supported (\(known.joined(separator: ", ")))"
        }
    }
}
