import Foundation
import Testing
import TestSupport
import Engine
#if canImport(Glibc)
import Glibc
#endif

/// Compose keys that change what a container gets, run for real: what the containers see, checked
/// from inside them. (What docker compose 2.40.3 gives for the same keys is pinned by the runtime
/// conformance fixtures, Tests/RuntimeConformance; these run on every kernel of the matrix too.)
@Suite(.requiresRoot, .requiresBusybox, .serialized) struct RuntimeKeysTests {
    /// Whether the running kernel is at least major.minor.
    static func kernelAtLeast(_ major: Int, _ minor: Int) -> Bool {
        var u = utsname()
        uname(&u)
        let release = withUnsafeBytes(of: &u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let parts = release.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
        guard parts.count == 2 else { return true }
        return (parts[0], parts[1]) >= (major, minor)
    }

    @Test func preStartHooksPrepareTheServiceAndAFailureStopsUpKeepingTheHookContainer() throws {
        let p = try ProjectFixture("prestart", compose: """
            services:
              app:
                image: swcompose/busybox
                scale: 2
                volumes: [data:/data]
                environment: {FROM_SERVICE: yes}
                pre_start:
                  - command: ["sh", "-c", "echo once:$$FROM_SERVICE:$$X:$$(id -u) >> /data/log"]
                    environment: {X: hook}
                  - command: ["sh", "-c", "echo replica >> /data/log"]
                    per_replica: true
                command: ["sh", "-c", "cat /data/log; sleep 1000"]
            volumes:
              data:
            """)
        let up = try p.run(["up", "-d"])
        #expect(up.status == 0, "\(up.stderr)")
        // The service's containers start only once the hooks ran: the first sees what they wrote.
        let log = try p.run(["exec", "-T", "app", "cat", "/data/log"]).stdout
        #expect(log == "once:yes:hook:0\nreplica\nreplica\n", "\(log)")
        // The hook containers are gone.
        #expect(p.store.list().filter { $0.spec.labels["com.docker.compose.hook"] != nil }.isEmpty)
        // Running again while the service runs: no hook.
        #expect(try p.run(["up", "-d"]).status == 0)
        #expect(try p.run(["exec", "-T", "app", "cat", "/data/log"]).stdout == log)
        #expect(try p.run(["down"]).status == 0)

        // A failing hook: up fails with its status and output, the service does not start, the hook's
        // container is kept for its logs until the next up or down.
        try """
            services:
              app:
                image: swcompose/busybox
                pre_start:
                  - command: ["sh", "-c", "echo cannot migrate; exit 4"]
                command: ["sleep", "1000"]
            """.write(toFile: p.directory + "/compose.yaml", atomically: true, encoding: .utf8)
        let failed = try p.run(["up", "-d"])
        #expect(failed.status == 1)
        #expect(failed.stderr.contains("pre_start[0] hook exited with status 4:\ncannot migrate"), "\(failed.stderr)")
        #expect(failed.stderr.contains("compose.yaml:5:"), "\(failed.stderr)")
        #expect(p.container("app").map { p.store.state($0.id).status } == .created)
        #expect(p.store.list().filter { $0.spec.labels["com.docker.compose.hook"] == "pre_start" }.count == 1)
        #expect(try p.run(["down"]).status == 0)
        #expect(p.store.list().isEmpty)
    }

    @Test func imageMountsShowAnImageReadOnlyAndKeepItFromRemoval() throws {
        let p = try ProjectFixture("imgmount", compose: """
            services:
              app:
                image: swcompose/busybox
                volumes:
                  - {type: image, source: assets:1, target: /assets, image: {subpath: srv/assets}}
                  - {type: image, source: assets:1, target: /whole}
                command: ["sleep", "1000"]
            """, files: ["assets/Dockerfile": "FROM swcompose/busybox\nRUN mkdir -p /srv/assets && echo asset > /srv/assets/a\n"])
        let built = try p.run(["image", "build", "-t", "assets:1", p.directory + "/assets"])
        #expect(built.status == 0, "\(built.stderr)")
        let up = try p.run(["up", "-d"])
        #expect(up.status == 0, "\(up.stderr)")
        func inside(_ script: String) throws -> Swcompose.Result { try p.run(["exec", "-T", "app", "sh", "-c", script]) }
        #expect(try inside("cat /assets/a").stdout == "asset\n")
        #expect(try inside("cat /whole/srv/assets/a /whole/srv/www/index.html").stdout == "asset\nfrom the image\n")
        #expect(try inside("touch /assets/b").status != 0, "read-only")
        #expect(try inside("grep ' /assets ' /proc/self/mountinfo | cut -d' ' -f6").stdout.hasPrefix("ro"))
        // The image stays while a container mounts it.
        let rm = try p.run(["image", "rm", "assets:1"])
        #expect(rm.status == 1 && rm.stderr.contains(p.container("app")!.name), "\(rm.stderr)")
        #expect(try p.run(["down", "-t", "0"]).status == 0)
        #expect(try p.run(["image", "rm", "assets:1"]).status == 0)
        // A missing image is pulled by up; one that cannot be is refused before anything is made.
        let missing = try p.run(["up", "-d"])
        #expect(missing.status == 1 && missing.stderr.contains("assets:1"), "\(missing.stderr)")
        #expect(p.store.list().isEmpty)
    }

    @Test func cgroupParentPlacesTheContainerAndItsLimits() throws {
        // Absolute: from the hierarchies' roots (a relative one hangs beneath swcompose's own cgroup).
        let parent = "swcompose-test-parent-\(UInt16.random(in: 0...UInt16.max))"
        let hierarchies = CgroupHierarchies.detect()
        let mounts = Set(hierarchies.v1.values).union([hierarchies.unified].compactMap { $0 })
        defer { for m in mounts { rmdir(m + "/" + parent) } }
        let p = try ProjectFixture("cgparent", compose: """
            services:
              app:
                image: swcompose/busybox
                cgroup_parent: /\(parent)
                mem_limit: 64m
                command: ["sleep", "1000"]
            """)
        let up = try p.run(["up", "-d"])
        #expect(up.status == 0, "\(up.stderr)")
        let record = try #require(p.container("app"))
        let pid = p.store.state(record.id).pid
        let own = try String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8)
        #expect(own.contains("/\(parent)/\(record.id)\n"), "\(own)")
        let memory = hierarchies.isV2 ? hierarchies.unified! + "/\(parent)/\(record.id)/memory.max"
            : hierarchies.v1["memory"]! + "/\(parent)/\(record.id)/memory.limit_in_bytes"
        #expect(try String(contentsOfFile: memory, encoding: .utf8) == "67108864\n")
        #expect(try p.run(["down", "-t", "0"]).status == 0)
        // Its own cgroup goes with it; the parent is the user's, and stays (as under docker).
        for m in mounts {
            #expect(!FileManager.default.fileExists(atPath: m + "/\(parent)/\(record.id)"))
        }
    }

    @Test func providerServicesRunTheirPluginAndHandTheirVariablesToDependents() throws {
        let plugins = TemporaryDirectory("provider")
        try FileManager.default.createDirectory(atPath: plugins.sub("cli-plugins"), withIntermediateDirectories: true)
        let log = plugins.sub("calls")
        // A provider plugin as docker compose runs one: metadata, then up/down with JSON messages.
        try """
            #!/bin/sh
            if [ "$2" = metadata ]; then
              echo '{"description":"fake cloud","up":{"parameters":[{"name":"size","required":true},{"name":"tags"}]},"down":{"parameters":[]}}'
              exit 0
            fi
            echo "$*" >> "$PROVIDER_LOG"
            if [ "$FAIL" = yes ]; then echo '{"type":"error","message":"quota exceeded"}'; exit 1; fi
            echo '{"type":"info","message":"provisioning"}'
            echo '{"type":"setenv","message":"URL=fake://db:1234"}{"type":"debug","message":"x"}'
            echo '{"type":"setenv","message":"TOKEN=s3=cret"}'
            """.write(toFile: plugins.sub("cli-plugins/docker-fakecloud"), atomically: true, encoding: .utf8)
        chmod(plugins.sub("cli-plugins/docker-fakecloud"), 0o755)
        let p = try ProjectFixture("provider", compose: """
            services:
              db:
                provider:
                  type: fakecloud
                  options: {size: small, tags: [a, b], unknown: dropped}
              app:
                image: swcompose/busybox
                depends_on: {db: {condition: service_healthy}}
                command: ["sleep", "1000"]
            """)
        let env = ["DOCKER_CONFIG": plugins.path, "PROVIDER_LOG": log]
        let up = try p.run(["up", "-d"], extraEnvironment: env)
        #expect(up.status == 0, "\(up.stderr)")
        #expect(up.stderr.contains("db Created"), "\(up.stderr)")
        let seen = try p.run(["exec", "-T", "app", "sh", "-c", "echo $DB_URL $DB_TOKEN"]).stdout
        #expect(seen == "fake://db:1234 s3=cret\n")
        #expect(try p.run(["down", "-t", "0"], extraEnvironment: env).status == 0)
        let calls = try String(contentsOfFile: log, encoding: .utf8)
        #expect(calls == "compose --project-name=\(p.project) up --size=small --tags=a --tags=b db\ncompose --project-name=\(p.project) down db\n", "\(calls)")
        // An error from the plugin fails up with its message; the dependent is not created.
        let failed = try p.run(["up", "-d"], extraEnvironment: env.merging(["FAIL": "yes"]) { $1 })
        #expect(failed.status == 1 && failed.stderr.contains("quota exceeded"), "\(failed.stderr)")
        #expect(p.container("app") == nil)
        // No such plugin: what to install.
        let missing = try p.run(["up", "-d"], extraEnvironment: ["DOCKER_CONFIG": plugins.sub("none"), "PATH": "/usr/bin:/bin"])
        #expect(missing.status == 1 && missing.stderr.contains("provider fakecloud is not installed"), "\(missing.stderr)")
        // down without the plugin fails, saying so, but takes the rest of the project down.
        let down = try p.run(["down"], extraEnvironment: ["DOCKER_CONFIG": plugins.sub("none"), "PATH": "/usr/bin:/bin"])
        #expect(down.status == 1 && down.stderr.contains("provider fakecloud is not installed"), "\(down.stderr)")
        #expect(NetworkStore(root: StateRoot(path: p.root)).list().isEmpty, "the network is gone")
    }

    @Test func namespacesAreJoinedAndTheHostsAreTheHosts() throws {
        let p = try ProjectFixture("ns", compose: """
            services:
              data:
                image: swcompose/busybox
                ipc: shareable
                command: ["sh", "-c", "touch /dev/shm/from-data; exec sleep 1000"]
              joined:
                image: swcompose/busybox
                pid: "service:data"
                ipc: "service:data"
                command: ["sleep", "1000"]
              host:
                image: swcompose/busybox
                pid: host
                uts: host
                command: ["sleep", "1000"]
            """)
        #expect(try p.run(["up", "-d"]).status == 0)
        let data = try #require(p.container("data")).id, joined = try #require(p.container("joined")).id
        let dataPid = p.store.state(data).pid, joinedPid = p.store.state(joined).pid
        for ns in ["pid", "ipc"] {
            let a = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(dataPid)/ns/\(ns)")
            let b = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(joinedPid)/ns/\(ns)")
            #expect(a == b, "\(ns)")
        }
        // data's process is PID 1 of the namespace joined sees, and its /dev/shm is the same.
        #expect(try p.run(["exec", "-T", "joined", "cat", "/proc/1/comm"]).stdout == "sleep\n")
        #expect(try p.run(["exec", "-T", "joined", "ls", "/dev/shm"]).stdout == "from-data\n")
        // The host's pid and UTS namespaces: the host's processes and name.
        #expect(try p.run(["exec", "-T", "host", "hostname"]).stdout == Sys.hostname + "\n")
        let hostPid = p.store.state(try #require(p.container("host")).id).pid
        let own = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/pid")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(hostPid)/ns/pid") == own)
        // The cgroup namespace is dockerd's default for this host: its own on cgroup v2, the host's on v1.
        let cgroupRoot = try p.run(["exec", "-T", "data", "sh", "-c", "head -1 /proc/self/cgroup | cut -d: -f3"]).stdout
        #expect((cgroupRoot == "/\n") == CgroupHierarchies.detect().isV2, "\(cgroupRoot)")
        // A stop reaches a process that is not its namespace's init at once (no grace period).
        let started = Date()
        #expect(try p.run(["stop", "-t", "5", "host"]).status == 0)
        #expect(Date().timeIntervalSince(started) < 2)
        #expect(try p.run(["down", "-t", "0"]).status == 0)
        // The shareable /dev/shm of data is unmounted with it.
        #expect(!((try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? "").contains(p.root))
    }

    @Test func volumeDriverOptionsAreMountedWhileContainersUseThem() throws {
        let p = try ProjectFixture("vopts", compose: """
            services:
              a:
                image: swcompose/busybox
                volumes: [host:/host, shared:/shared]
                command: ["sh", "-c", "echo from-a > /shared/x; sleep 1000"]
              b:
                image: swcompose/busybox
                depends_on: [a]
                volumes: [shared:/shared, "host:/ro:ro"]
                command: ["sleep", "1000"]
            volumes:
              host: {driver: local, driver_opts: {type: none, o: bind, device: ./hostdata}}
              shared: {driver_opts: {type: tmpfs, device: tmpfs, o: "size=1m,mode=0770"}}
            """, files: ["hostdata/file": "from the host\n"])
        #expect(try p.run(["up", "-d"]).status == 0)
        #expect(try p.run(["exec", "-T", "a", "cat", "/host/file"]).stdout == "from the host\n")
        // One tmpfs for both containers.
        #expect(p.eventually { (try? p.run(["exec", "-T", "b", "cat", "/shared/x"]).stdout) == "from-a\n" })
        #expect(try p.run(["exec", "-T", "b", "stat", "-c", "%a", "/shared"]).stdout == "770\n")
        #expect(try p.run(["exec", "-T", "a", "sh", "-c", "echo new > /host/new"]).status == 0)
        #expect(FileManager.default.contents(atPath: p.directory + "/hostdata/new") == Data("new\n".utf8))
        #expect(try p.run(["down", "-v", "-t", "0"]).status == 0)
        // Unmounted and removed: the host directory keeps its files.
        #expect(!((try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? "").contains(p.root))
        #expect(FileManager.default.fileExists(atPath: p.directory + "/hostdata/file"))
    }

    @Test func aDependencyThatCrashesOnceAndIsRestartedPassesUpWaitAndItsDependentsGate() throws {
        let p = try ProjectFixture("crash", compose: """
            services:
              db:
                image: swcompose/busybox
                restart: unless-stopped
                volumes: [state:/state]
                healthcheck: {test: ["CMD", "test", "-f", "/tmp/ready"], interval: 1s, retries: 30}
                command: ["sh", "-c", "[ -f /state/crashed ] || { touch /state/crashed; exit 1; }; touch /tmp/ready; exec sleep 1000"]
              app:
                image: swcompose/busybox
                depends_on: {db: {condition: service_healthy}}
                command: ["sleep", "1000"]
            volumes:
              state:
            """)
        for run in 1...20 {
            let up = try p.run(["up", "-d", "--wait"])
            #expect(up.status == 0, "run \(run): \(up.stderr)")
            let db = try #require(p.container("db"))
            #expect(p.store.state(db.id).restartCount == 1, "run \(run)")
            #expect(p.store.state(try #require(p.container("app")).id).isAlive, "run \(run)")
            #expect(try p.run(["down", "-v", "-t", "0"]).status == 0)
            if up.status != 0 { break }
        }
    }

    @Test func bridgeOptionsReachTheKernel() throws {
        let port = UInt16.random(in: 20000...29999)
        let p = try ProjectFixture("bridgeopts", compose: """
            services:
              web:
                image: swcompose/busybox
                networks: [tuned]
                ports: ["\(port):80"]
                command: ["httpd", "-f", "-p", "80", "-h", "/srv/www"]
            networks:
              tuned:
                driver_opts:
                  com.docker.network.bridge.host_binding_ipv4: "127.0.0.1"
                  com.docker.network.driver.mtu: "1280"
                  com.docker.network.bridge.enable_ip_masquerade: "false"
                ipam:
                  options: {com.example.pool: blue}
            """)
        #expect(try p.run(["up", "-d", "--wait"]).status == 0)
        // IPAM options are kept with the network, as dockerd keeps them.
        let inspect = try p.run(["network", "inspect", "\(p.project)_tuned"]).stdout
        #expect(inspect.contains("\"IPAM\": {\"Driver\": \"default\", \"Options\": {\"com.example.pool\": \"blue\"}"), "\(inspect)")
        // Published on the network's default host address only.
        #expect(try p.run(["port", "web", "80"]).stdout == "127.0.0.1:\(port)\n")
        #expect(try p.run(["exec", "-T", "web", "cat", "/sys/class/net/eth0/mtu"]).stdout == "1280\n")
        let record = try NetworkStore(root: StateRoot(path: p.root)).inspect("\(p.project)_tuned")
        #expect(record.mtu == 1280)
        // No masquerading rule for its subnet.
        #expect(!Firewall.save().contains("-s \(record.subnet) ! -o \(record.bridge) -j MASQUERADE"))
        #expect(try p.run(["down", "-t", "0"]).status == 0)
    }

    @Test func unknownBridgeOptionsAreRefusedWhereTheyAreWritten() throws {
        let p = try ProjectFixture("badopts", compose: """
            services:
              web: {image: swcompose/busybox}
            networks:
              default:
                driver_opts:
                  com.docker.network.bridge.enable_icc: "maybe"
            """)
        let up = try p.run(["up", "-d"])
        #expect(up.status == 1)
        #expect(up.stderr.contains("compose.yaml:6:45: error: networks.default.driver_opts: com.docker.network.bridge.enable_icc must be true or false"), "\(up.stderr)")
        #expect(NetworkStore(root: StateRoot(path: p.root)).list().isEmpty, "nothing created")
    }

    @Test func recursiveReadOnlyBindsAndAnnotations() throws {
        let p = try ProjectFixture("recursive", compose: """
            services:
              app:
                image: swcompose/busybox
                annotations: {com.example.owner: team-a}
                volumes:
                  - {type: bind, source: ./tree, target: /default, read_only: true}
                  - {type: bind, source: ./tree, target: /writable, read_only: true, bind: {recursive: writable}}
                  - {type: bind, source: ./tree, target: /readonly, read_only: true, bind: {recursive: readonly}}
                  - {type: bind, source: ./tree, target: /flat, bind: {recursive: disabled}}
                command: ["sleep", "1000"]
            """, files: ["tree/top": "x\n", "tree/sub/.keep": ""])
        // A mount under the bind's source, on the host.
        let sub = p.directory + "/tree/sub"
        #expect(mount("tmpfs", sub, "tmpfs", 0, nil) == 0)
        defer { umount2(sub, Int32(MNT_DETACH)) }
        // Recursive read-only needs mount_setattr (Linux 5.12): before it, `readonly` is refused as
        // docker refuses it, and the default is read-only at the top only, as docker falls back.
        let recursiveReadOnly = Self.kernelAtLeast(5, 12)
        if !recursiveReadOnly {
            let refused = try p.run(["up", "-d"])
            #expect(refused.status == 1 && refused.stderr.contains("compose.yaml:8:") && refused.stderr.contains("bind.recursive: readonly needs Linux 5.12"), "\(refused.stderr)")
            #expect(p.store.list().isEmpty, "refused before anything is made")
            let compose = try String(contentsOfFile: p.directory + "/compose.yaml", encoding: .utf8)
            try compose.split(separator: "\n").filter { !$0.contains("/readonly") }.joined(separator: "\n")
                .write(toFile: p.directory + "/compose.yaml", atomically: true, encoding: .utf8)
        }
        let up = try p.run(["up", "-d"])
        #expect(up.status == 0, "\(up.stderr)")
        func writable(_ path: String) throws -> Bool { try p.run(["exec", "-T", "app", "touch", path]).status == 0 }
        #expect(try !writable("/default/new") && writable("/default/sub/new") == !recursiveReadOnly, "read-only with what is under it (from 5.12)")
        #expect(try !writable("/writable/new") && writable("/writable/sub/new"))
        if recursiveReadOnly {
            #expect(try !writable("/readonly/new") && !writable("/readonly/sub/new"))
        }
        #expect(try p.run(["exec", "-T", "app", "sh", "-c", "grep -c ' /flat/sub ' /proc/mounts"]).stdout == "0\n", "not recursive: no submount")
        let inspect = try p.run(["inspect", "\(p.project)-app-1"]).stdout
        #expect(inspect.contains("\"com.example.owner\":\"team-a\""), "\(inspect.prefix(300))")
        #expect(try p.run(["down", "-t", "0"]).status == 0)
    }

    @Test func ipv6NetworksAndEndpointSettings() throws {
        let p = try ProjectFixture("ipv6", compose: """
            services:
              a:
                image: swcompose/busybox
                networks:
                  auto: {interface_name: uplink, link_local_ips: ["169.254.10.10"], gw_priority: 1}
                  plain:
                    driver_opts: {com.docker.network.endpoint.sysctls: "net.ipv4.conf.IFNAME.log_martians=1"}
                command: ["sleep", "1000"]
              b:
                image: swcompose/busybox
                networks: [auto]
                command: ["sleep", "1000"]
            networks:
              auto: {enable_ipv6: true}
              plain:
                ipam: {config: [{subnet: 10.205.0.0/29, aux_addresses: {router: 10.205.0.2, printer: 10.205.0.3}}]}
            """)
        #expect(try p.run(["up", "-d"]).status == 0)
        let record = try NetworkStore(root: StateRoot(path: p.root)).inspect("\(p.project)_auto")
        // A unique local /64 of its own when ipam does not name one.
        let subnet6 = try #require(record.subnet6)
        #expect(subnet6.prefix == 64 && subnet6.description.hasPrefix("fd"))
        let aID = try #require(p.container("a")).id
        let a6 = try #require(p.store.state(aID).networks["\(p.project)_auto"]?.address6)
        #expect(subnet6.contains(a6))
        // By name over IPv6, from the other container.
        #expect(try p.run(["exec", "-T", "b", "ping6", "-c", "1", "-W", "2", "a"]).status == 0)
        let aaaa = try p.run(["exec", "-T", "b", "nslookup", "-type=aaaa", "a"]).stdout
        #expect(aaaa.contains("Address: \(a6)"), "\(aaaa)")
        // interface_name, link_local_ips, gw_priority (the default routes leave through it), endpoint sysctls.
        let links = try p.run(["exec", "-T", "a", "ls", "/sys/class/net"]).stdout
        #expect(links.split(separator: "\n").sorted() == ["eth1", "lo", "uplink"], "\(links)")
        #expect(try p.run(["exec", "-T", "a", "ip", "-4", "addr", "show", "uplink"]).stdout.contains("169.254.10.10/16"))
        #expect(try p.run(["exec", "-T", "a", "ip", "route"]).stdout.contains("default via \(record.gateway) dev uplink"))
        #expect(try p.run(["exec", "-T", "a", "cat", "/proc/sys/net/ipv4/conf/eth1/log_martians"]).stdout == "1\n")
        // aux_addresses are never given out: .1 is the gateway, .2 and .3 reserved.
        let plain = try #require(p.store.state(aID).networks["\(p.project)_plain"]?.address)
        #expect(plain.description == "10.205.0.4")
        #expect(try p.run(["down", "-t", "0"]).status == 0)
        #expect(NetworkStore(root: StateRoot(path: p.root)).list().isEmpty)
        #expect(!Firewall.save(ipv6: true).contains(subnet6.description))
    }

    @Test func aVolumeMadeForAMountTakesItsLabels() throws {
        let p = try ProjectFixture("vlabels", compose: """
            services:
              app:
                image: swcompose/busybox
                volumes: [{type: volume, target: /data, volume: {labels: {owner: team-a}}}]
                command: ["sleep", "1000"]
            """)
        #expect(try p.run(["up", "-d"]).status == 0)
        let anonymous = VolumeStore(root: StateRoot(path: p.root)).list().filter(\.anonymous)
        #expect(anonymous.count == 1 && anonymous.first?.labels["owner"] == "team-a", "\(anonymous)")
        #expect(try p.run(["down", "-v", "-t", "0"]).status == 0)
    }
}
