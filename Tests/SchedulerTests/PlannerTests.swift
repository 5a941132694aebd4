import Testing
import ComposeModel
import Engine
@testable import Scheduler

extension ProjectLoader {
    static func load(yaml: String, workingDirectory: String) throws -> LoadedProject {
        var o = LoadOptions(workingDirectory: workingDirectory, environment: [:])
        o.configFiles = ["-"]
        o.readStandardInput = { Array(yaml.utf8) }
        return try load(o)
    }
}

extension ImageRecord {
    static func synthetic(config: ContainerConfig, seed: String = "config") -> ImageRecord {
        let d = Digest.of(Array(seed.utf8))
        let configuration = ImageConfiguration(platform: Platform(architecture: "amd64", os: "linux"), config: config,
                                               diffIDs: [Digest.of(Array("layer".utf8))], created: nil, history: [])
        return ImageRecord(id: d, manifestDigest: d,
                           manifest: ImageManifest(config: Descriptor(mediaType: MediaType.ociConfig, digest: d, size: 1), layers: []),
                           configuration: configuration, references: [])
    }
}

@Suite struct PlannerTests {
    func plan(_ yaml: String, image: ContainerConfig = ContainerConfig(), service: String = "s") throws -> ContainerSpec {
        let loaded = try ProjectLoader.load(yaml: yaml, workingDirectory: "/tmp/plannertest")
        var config = image
        if config.env == nil { config.env = ["PATH=/image/bin", "IMAGE_ONLY=1"] }
        let record = ImageRecord.synthetic(config: config)
        let planner = ContainerPlanner(project: loaded.project, runtime: Runtime(root: StateRoot(path: "/tmp/plannertest-state")))
        return try planner.plan(loaded.project.services[service]!, number: 1, image: record, id: String(repeating: "ab", count: 32))
    }

    @Test func entrypointAndCommandMergeAsTheDaemonDoes() throws {
        var image = ContainerConfig()
        image.entrypoint = ["/entry"]
        image.cmd = ["default"]
        #expect(try plan("services: {s: {image: x}}", image: image).process.args == ["/entry", "default"])
        #expect(try plan("services: {s: {image: x, command: [a, b]}}", image: image).process.args == ["/entry", "a", "b"])
        #expect(try plan("services: {s: {image: x, entrypoint: [sh, -c]}}", image: image).process.args == ["sh", "-c"], "an entrypoint resets the image's command")
        #expect(try plan("services: {s: {image: x, entrypoint: [], command: [ls]}}", image: image).process.args == ["ls"])
        #expect(try plan("services: {s: {image: x, entrypoint: []}}", image: image).process.args == ["default"])
        #expect(try plan("services: {s: {image: x, command: echo 'a b'}}", image: image).process.args == ["/entry", "echo", "a b"])
        #expect(throws: PlanError.self) { try plan("services: {s: {image: x}}") }
    }

    @Test func environmentOrderHostnameAndLabels() throws {
        let spec = try plan("""
            name: demo
            services:
              s:
                image: x
                command: run
                tty: true
                environment: {ZED: z, ALPHA: a, PATH: /custom, UNSET: null}
                labels: {mine: "yes"}
            """)
        #expect(spec.process.env == ["PATH=/custom", "HOSTNAME=abababababab", "TERM=xterm", "ALPHA=a", "ZED=z", "IMAGE_ONLY=1"])
        #expect(spec.hostname == "abababababab")
        #expect(spec.name == "demo-s-1")
        #expect(spec.labels["com.docker.compose.project"] == "demo")
        #expect(spec.labels["com.docker.compose.oneoff"] == "False")
        #expect(spec.labels["mine"] == "yes")
    }

    @Test func resourcesSignalsAndPolicies() throws {
        let spec = try plan("""
            services:
              s:
                image: x
                command: run
                cpus: 1.5
                mem_limit: 64m
                pids_limit: 10
                stop_signal: SIGUSR1
                stop_grace_period: 1m30s
                restart: on-failure:3
                ulimits: {nofile: {soft: 10, hard: 20}, nproc: 5}
                cap_add: [NET_ADMIN]
                security_opt: [no-new-privileges, "seccomp:unconfined"]
            """)
        #expect(spec.resources.cpuQuota == 150_000 && spec.resources.cpuPeriod == 100_000)
        #expect(spec.resources.memory == 64 << 20 && spec.resources.pidsLimit == 10)
        #expect(spec.stopSignal == 10 && spec.stopTimeout == 90_000_000_000)
        #expect(spec.restartPolicy == RestartPolicy(mode: .onFailure, maximumRetries: 3))
        #expect(spec.rlimits == [ResourceLimit(name: "nofile", soft: 10, hard: 20), ResourceLimit(name: "nproc", soft: 5, hard: 5)])
        #expect(spec.security.capabilities.contains("CAP_NET_ADMIN"))
        #expect(spec.security.noNewPrivileges && spec.security.seccomp == nil)
    }

    @Test func refusalsPointAtTheAttribute() throws {
        let yaml = "services:\n  s:\n    image: x\n    command: run\n    sysctls:\n      kernel.panic: \"1\"\n"
        #expect { try plan(yaml) } throws: { e in
            let p = e as! PlanError
            return p.message.contains("sysctl \"kernel.panic\" is not allowed") && p.location?.line == 6
        }
        #expect(throws: PlanError.self) { try plan("services: {s: {image: x, command: run, security_opt: [bogus]}}") }
        #expect(throws: PlanError.self) { try plan("services: {s: {image: x, command: run, logging: {driver: gelf}}}") }
        #expect(throws: PlanError.self) { try plan("services: {s: {image: x, command: run, logging: {driver: syslog, options: {max-size: 1m}}}}") }
    }

    @Test func signalNames() throws {
        #expect(try ContainerPlanner.signal("SIGTERM") == 15)
        #expect(try ContainerPlanner.signal("kill") == 9)
        #expect(try ContainerPlanner.signal("SIGRTMIN+3") == 37)
        #expect(try ContainerPlanner.signal("2") == 2)
        #expect(throws: PlanError.self) { try ContainerPlanner.signal("SIGNOPE") }
    }
}

@Suite struct ConfigHashTests {
    /// Hashes docker compose 2.40.3 put on the containers of this project (recorded with the oracle).
    @Test func matchesDockerComposesConfigHash() throws {
        let yaml = """
            services:
              a:
                image: swcompose/busybox
                pull_policy: never
                command: sleep 1000
                environment:
                  ZED: z
                labels:
                  mine: "yes"
                depends_on: [b]
              b:
                image: swcompose/busybox
                pull_policy: never
                command: sleep 1000
                ports: ["18999:80"]
            """
        let project = try ProjectLoader.load(yaml: yaml, workingDirectory: "/tmp/oracle1").project
        #expect(ContainerPlanner.configHash(project.services["a"]!) == "e7070d257cff34915365017e52b788a56450a7462406fc64e44d05d85b2a5cfc")
        #expect(ContainerPlanner.configHash(project.services["b"]!) == "f971df3bba804ee148e91df530f12bb8e087bf814f9725e9aecef3d7ee6ad289")
        var changed = project.services["a"]!
        changed.environment["ZED"] = "other"
        #expect(ContainerPlanner.configHash(changed) != ContainerPlanner.configHash(project.services["a"]!))
        var scaled = project.services["a"]!
        scaled.scale = 3
        #expect(ContainerPlanner.configHash(scaled) == ContainerPlanner.configHash(project.services["a"]!), "scale does not recreate")
    }
}

@Suite struct DockerDefaultsTests {
    func plan(_ yaml: String, service: String = "s") throws -> ContainerSpec {
        let loaded = try ProjectLoader.load(yaml: yaml, workingDirectory: "/tmp/plannertest")
        let planner = ContainerPlanner(project: loaded.project, runtime: Runtime(root: StateRoot(path: "/tmp/plannertest-state")))
        var image = ContainerConfig()
        image.cmd = ["sh"]
        return try planner.plan(loaded.project.services[service]!, number: 1, image: .synthetic(config: image),
                                id: String(repeating: "ab", count: 32))
    }

    @Test func aContainerWithItsOwnNetworkGetsDockersDefaultSysctls() throws {
        let own = try plan("services: {s: {image: x}}").sysctls
        #expect(own["net.ipv4.ip_unprivileged_port_start"] == "0")
        #expect(own["net.ipv4.ping_group_range"] == "0 2147483647")
        #expect(try plan("services: {s: {image: x, network_mode: none}}").sysctls.count == (ContainerPlanner.kernelHasIPv6 ? 3 : 2))
        // Without an IPv6 network, IPv6 is off in the container's namespace, as dockerd leaves it.
        if ContainerPlanner.kernelHasIPv6 { #expect(own["net.ipv6.conf.all.disable_ipv6"] == "1") }
        // The host's network, or another container's, keeps its own settings.
        #expect(try plan("services: {s: {image: x, network_mode: host}}").sysctls.isEmpty)
        #expect(try plan("services: {s: {image: x, network_mode: 'service:t'}, t: {image: x}}").sysctls.isEmpty)
        // The service's own values win, in either spelling.
        let set = try plan("services: {s: {image: x, sysctls: {net.ipv4.ip_unprivileged_port_start: '1024', net/ipv4/ping_group_range: '1 1'}}}").sysctls
        #expect(set["net.ipv4.ip_unprivileged_port_start"] == "1024" && set["net/ipv4/ping_group_range"] == "1 1")
        #expect(set["net.ipv4.ping_group_range"] == nil)
    }

    @Test func interfacesAreOrderedAsLibnetworksSandboxAndTheMACGoesToThePrimaryNetwork() throws {
        let spec = try plan("""
            services:
              s:
                image: x
                mac_address: "02:00:00:00:00:01"
                networks: {zeta: {priority: 100}, alpha: {priority: 1}, inner: {priority: 1000}}
            networks: {zeta: {}, alpha: {}, inner: {internal: true}}
            """)
        guard case .bridged(let endpoints) = spec.network else { Issue.record("not bridged"); return }
        // Internal last, then by name, whatever the priorities; the highest priority takes the MAC.
        #expect(endpoints.map(\.network) == ["plannertest_alpha", "plannertest_zeta", "plannertest_inner"])
        #expect(endpoints.map(\.macAddress) == [nil, nil, "02:00:00:00:00:01"])
    }

    @Test func aContainerOnTheHostsNetworkIsNamedAsTheHost() throws {
        #expect(try plan("services: {s: {image: x, network_mode: host}}").hostname == Sys.hostname)
        #expect(try plan("services: {s: {image: x, network_mode: host, hostname: h}}").hostname == "h")
        #expect(try plan("services: {s: {image: x}}").hostname == "abababababab")
    }
}

@Suite struct RestartPolicyTests {
    func policy(_ service: String) throws(PlanError) -> RestartPolicy {
        let loaded = try! ProjectLoader.load(yaml: "services: {s: {image: x, command: run, \(service)}}", workingDirectory: "/tmp/plannertest")
        let planner = ContainerPlanner(project: loaded.project, runtime: Runtime(root: StateRoot(path: "/tmp/plannertest-state")))
        return try planner.plan(loaded.project.services["s"]!, number: 1, image: .synthetic(config: ContainerConfig()),
                                id: String(repeating: "ab", count: 32)).restartPolicy
    }

    @Test func deployRestartPolicyWinsOverRestartWithComposesNames() throws {
        #expect(try policy("restart: always, deploy: {restart_policy: {condition: on-failure, max_attempts: 2}}") == RestartPolicy(mode: .onFailure, maximumRetries: 2))
        #expect(try policy("restart: always, deploy: {restart_policy: {condition: none}}") == RestartPolicy())
        #expect(try policy("deploy: {restart_policy: {condition: any}}") == RestartPolicy(mode: .always))
        #expect(try policy("deploy: {restart_policy: {condition: unless-stopped}}") == RestartPolicy(mode: .unlessStopped))
        #expect(try policy("deploy: {restart_policy: {max_attempts: 0}}") == RestartPolicy())
        #expect(try policy("restart: on-failure:3") == RestartPolicy(mode: .onFailure, maximumRetries: 3))
        #expect(throws: PlanError.self) { try policy("deploy: {restart_policy: {condition: any, max_attempts: 1}}") }
        #expect(throws: PlanError.self) { try policy("restart: always:2") }
    }
}
