import Foundation
import Testing
import ComposeModel
import Diagnostics
@testable import Scheduler

/// The Kubernetes conversion, mapping by mapping, on projects loaded from compose text.
@Suite struct KubeTests {
    struct Converted {
        var documents: [[String: Any]]
        var warnings: [Diagnostic]

        /// The object of a kind and name.
        func object(_ kind: String, _ name: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) throws -> [String: Any] {
            try #require(documents.first { $0["kind"] as? String == kind && ($0["metadata"] as? [String: Any])?["name"] as? String == name },
                         "\(kind) \(name) in \(documents.map { "\($0["kind"]!) \(($0["metadata"] as! [String: Any])["name"]!)" })", sourceLocation: sourceLocation)
        }

        func kinds() -> [String] { documents.map { "\($0["kind"]!)/\(($0["metadata"] as! [String: Any])["name"]!)" } }
    }

    func convert(_ yaml: String, environment: [String: String] = [:], _ configure: (inout KubeOptions) -> Void = { _ in }) throws -> Converted {
        var o = LoadOptions(workingDirectory: "/srv/proj", environment: environment)
        o.configFiles = ["-"]
        o.projectName = "proj"
        o.readStandardInput = { Array(yaml.utf8) }
        let loaded = try ProjectLoader.load(o)
        var options = KubeOptions()
        options.readFile = { path in Array("content of \(path)".utf8) }
        configure(&options)
        let manifests = try KubeConverter.convert(loaded.project, options: options)
        let docs = try manifests.documents.map { try #require(try JSONSerialization.jsonObject(with: Data(JSONEmitter.emit($0).utf8)) as? [String: Any]) }
        // The YAML written holds the same documents.
        #expect(manifests.yaml.components(separatedBy: "\n---\n").count == docs.count)
        return Converted(documents: docs, warnings: manifests.warnings)
    }

    static func podSpec(_ workload: [String: Any]) -> [String: Any] {
        ((workload["spec"] as? [String: Any])?["template"] as? [String: Any])?["spec"] as? [String: Any] ?? [:]
    }

    static func container(_ workload: [String: Any]) -> [String: Any] {
        (podSpec(workload)["containers"] as? [[String: Any]])?.first ?? [:]
    }

    @Test func aServiceIsADeploymentAndAServiceNamedAfterIt() throws {
        let c = try convert("""
            services:
              web_app:
                image: nginx:1.25
                ports: ["8080:80", "9000:9000/udp"]
                expose: ["8443"]
                scale: 3
                labels: {tier: front, "not a valid key!": x}
            """)
        #expect(c.kinds() == ["Service/web-app", "Service/web-app-published", "Deployment/web-app"])
        let service = try c.object("Service", "web-app")
        let spec = try #require(service["spec"] as? [String: Any])
        #expect(spec["type"] == nil, "ClusterIP: DNS by name inside the cluster")
        #expect(spec["selector"] as? [String: String] == ["app.kubernetes.io/name": "web-app", "app.kubernetes.io/part-of": "proj"])
        let ports = try #require(spec["ports"] as? [[String: Any]])
        #expect(ports.map { "\($0["name"]!) \($0["port"]!)->\($0["targetPort"]!) \($0["protocol"]!)" } == ["tcp-80 80->80 TCP", "udp-9000 9000->9000 UDP", "tcp-8443 8443->8443 TCP"])
        let published = try #require(try c.object("Service", "web-app-published")["spec"] as? [String: Any])
        #expect(published["type"] as? String == "NodePort")
        #expect((published["ports"] as? [[String: Any]])?.map { "\($0["port"]!)->\($0["targetPort"]!)" } == ["8080->80", "9000->9000"])
        let deployment = try c.object("Deployment", "web-app")
        #expect((deployment["spec"] as? [String: Any])?["replicas"] as? Int == 3)
        let labels = try #require((deployment["metadata"] as? [String: Any])?["labels"] as? [String: String])
        #expect(labels["tier"] == "front" && labels["app.kubernetes.io/part-of"] == "proj" && labels["app.kubernetes.io/name"] == "web-app")
        #expect(((deployment["metadata"] as? [String: Any])?["annotations"] as? [String: String])?["not a valid key!"] == "x", "an invalid label key is kept as an annotation")
        #expect((Self.container(deployment)["ports"] as? [[String: Any]])?.count == 3)
    }

    @Test func publishedPortsAsLoadBalancerOrHostPort() throws {
        let yaml = "services:\n  web:\n    image: nginx\n    ports: [\"80:8080\", \"30080:80\"]\n"
        let lb = try convert(yaml) { $0.publish = .loadBalancer }
        #expect((try lb.object("Service", "web-published")["spec"] as? [String: Any])?["type"] as? String == "LoadBalancer")
        let np = try convert(yaml)
        let ports = try #require((try np.object("Service", "web-published")["spec"] as? [String: Any])?["ports"] as? [[String: Any]])
        #expect(ports.map { $0["nodePort"] as? Int } == [nil, 30080], "a published port in the node port range is the node port")
        let host = try convert(yaml) { $0.publish = .hostPort }
        #expect(!host.kinds().contains("Service/web-published"))
        #expect((Self.container(try host.object("Deployment", "web"))["ports"] as? [[String: Any]])?.map { "\($0["containerPort"]!):\($0["hostPort"]!)" } == ["8080:80", "80:30080"])
    }

    @Test func entrypointCommandEnvironmentAndTheKubeletsExpansion() throws {
        let c = try convert("""
            services:
              app:
                image: app
                entrypoint: ["/bin/run", "--flag"]
                command: echo $$(date) "a b"
                working_dir: /srv
                environment: {B: "2", A: "uses $$(HOME)", UNSET: null}
                user: "1000:2000"
                cap_add: [NET_ADMIN]
                cap_drop: [CAP_ALL]
                read_only: true
                privileged: true
                stdin_open: true
                tty: true
                stop_grace_period: 1m30s
                hostname: My_Host
                extra_hosts: ["db.local:10.0.0.5", "cache:10.0.0.5"]
                dns: [1.1.1.1]
                sysctls: {net.core.somaxconn: "1024"}
            """)
        let d = try c.object("Deployment", "app")
        let container = Self.container(d)
        #expect(container["command"] as? [String] == ["/bin/run", "--flag"], "docker's entrypoint is the command")
        #expect(container["args"] as? [String] == ["echo", "$$(date)", "a b"], "docker's cmd is the args, $( kept from the kubelet")
        #expect(container["workingDir"] as? String == "/srv")
        #expect((container["env"] as? [[String: String]])?.map { "\($0["name"]!)=\($0["value"]!)" } == ["A=uses $$(HOME)", "B=2"])
        let security = try #require(container["securityContext"] as? [String: Any])
        #expect(security["runAsUser"] as? Int == 1000 && security["runAsGroup"] as? Int == 2000)
        #expect(security["readOnlyRootFilesystem"] as? Bool == true && security["privileged"] as? Bool == true)
        #expect(security["capabilities"] as? [String: [String]] == ["add": ["NET_ADMIN"], "drop": ["ALL"]])
        #expect(container["stdin"] as? Bool == true && container["tty"] as? Bool == true)
        let pod = Self.podSpec(d)
        #expect(pod["terminationGracePeriodSeconds"] as? Int == 90)
        #expect(pod["hostname"] as? String == "my-host")
        #expect((pod["hostAliases"] as? [[String: Any]])?.first?["hostnames"] as? [String] == ["cache", "db.local"])
        #expect((pod["dnsConfig"] as? [String: Any])?["nameservers"] as? [String] == ["1.1.1.1"])
        #expect(((pod["securityContext"] as? [String: Any])?["sysctls"] as? [[String: String]])?.first?["name"] == "net.core.somaxconn")
    }

    @Test func healthchecksAreProbes() throws {
        let c = try convert("""
            services:
              shell:
                image: x
                healthcheck: {test: "curl -f http://localhost/ || exit 1", interval: 10s, timeout: 2500ms, retries: 4, start_period: 20s}
              exec:
                image: x
                healthcheck: {test: ["CMD", "pg_isready", "-U", "app"], start_period: 12s, start_interval: 3s}
                deploy: {restart_policy: {condition: on-failure}}
              none:
                image: x
                healthcheck: {disable: true}
            """)
        let shell = Self.container(try c.object("Deployment", "shell"))
        let probe = try #require(shell["readinessProbe"] as? [String: Any])
        #expect((probe["exec"] as? [String: [String]])?["command"] == ["/bin/sh", "-c", "curl -f http://localhost/ || exit 1"])
        #expect(probe["periodSeconds"] as? Int == 10 && probe["timeoutSeconds"] as? Int == 3 && probe["failureThreshold"] as? Int == 4)
        #expect(shell["livenessProbe"] == nil, "docker does not restart an unhealthy container")
        let exec = Self.container(try c.object("Deployment", "exec"))
        #expect(((exec["readinessProbe"] as? [String: Any])?["exec"] as? [String: [String]])?["command"] == ["pg_isready", "-U", "app"])
        #expect((exec["readinessProbe"] as? [String: Any])?["periodSeconds"] as? Int == 30, "docker's default interval")
        #expect(exec["livenessProbe"] != nil, "swarm's restart_policy replaces unhealthy tasks")
        let startup = try #require(exec["startupProbe"] as? [String: Any])
        #expect(startup["periodSeconds"] as? Int == 3 && startup["failureThreshold"] as? Int == 4, "the start period, in start intervals")
        #expect(Self.container(try c.object("Deployment", "none"))["readinessProbe"] == nil)
    }

    @Test func healthcheckOfTheImageWhenTheServiceHasNone() throws {
        let c = try convert("services:\n  app:\n    image: built\n    healthcheck: {retries: 7}\n") { o in
            o.imageFacts = { ref in
                var hc = HealthCheckConfig()
                hc.test = ["CMD-SHELL", "test -f /ready"]
                return ref == "built" ? KubeOptions.ImageFacts(exposedPorts: ["5000/tcp"], healthcheck: hc) : nil
            }
        }
        let container = Self.container(try c.object("Deployment", "app"))
        let probe = try #require(container["readinessProbe"] as? [String: Any])
        #expect((probe["exec"] as? [String: [String]])?["command"] == ["/bin/sh", "-c", "test -f /ready"])
        #expect(probe["failureThreshold"] as? Int == 7, "the service's settings over the image's")
        #expect(c.kinds().contains("Service/app"), "the image's EXPOSE makes it reachable")
    }

    @Test func dependsOnConditionsAreInitContainersThatWait() throws {
        let c = try convert("""
            services:
              web:
                image: web
                depends_on:
                  api: {condition: service_healthy}
                  worker: {condition: service_healthy}
                  cache: {condition: service_started}
                  migrate: {condition: service_completed_successfully}
              api: {image: api, expose: ["3000"], healthcheck: {test: ["CMD", "true"]}}
              worker: {image: worker, healthcheck: {test: ["CMD", "true"]}}
              cache: {image: redis}
              migrate: {image: api, command: migrate, restart: on-failure:2}
            """) { $0.namespace = "shop" }
        let pod = Self.podSpec(try c.object("Deployment", "web"))
        let waits = try #require(pod["initContainers"] as? [[String: Any]])
        #expect(waits.map { $0["name"] as? String } == ["wait-for-api", "wait-for-cache", "wait-for-migrate", "wait-for-worker"])
        func script(_ i: Int) -> String { (waits[i]["command"] as? [String])?.last ?? "" }
        #expect(waits[0]["image"] as? String == "busybox:1.36" && script(0).contains("nc -z -w 2 api 3000"), "ready endpoints: the healthcheck passed")
        #expect(script(1).contains("kubectl wait --for=jsonpath='{.status.phase}'=Running pod -l app.kubernetes.io/name=cache,app.kubernetes.io/part-of=proj"))
        #expect(script(2).contains("kubectl wait --for=condition=complete job/migrate"))
        #expect(script(3).contains("kubectl wait --for=condition=Ready pod -l app.kubernetes.io/name=worker"), "no port: the pods' readiness")
        #expect(waits[1]["image"] as? String == "bitnami/kubectl:1.30")
        #expect(pod["serviceAccountName"] as? String == "proj-wait")
        let job = try c.object("Job", "migrate")
        #expect((job["spec"] as? [String: Any])?["backoffLimit"] as? Int == 2)
        #expect(Self.podSpec(job)["restartPolicy"] as? String == "OnFailure")
        #expect(!c.kinds().contains("Deployment/migrate"))
        let binding = try c.object("RoleBinding", "proj-wait")
        #expect((binding["subjects"] as? [[String: String]])?.first?["namespace"] == "shop")
        let role = try c.object("Role", "proj-wait")
        #expect((role["rules"] as? [[String: Any]])?.flatMap { $0["verbs"] as? [String] ?? [] }.allSatisfy { ["get", "list", "watch"].contains($0) } == true, "the wait account only reads")
        #expect(c.documents.allSatisfy { ($0["metadata"] as? [String: Any])?["namespace"] as? String == "shop" })
    }

    @Test func noAccountWhenNoWaitAsksTheAPI() throws {
        let c = try convert("services:\n  web: {image: w, depends_on: {db: {condition: service_healthy}}}\n  db: {image: p, expose: [\"5432\"]}\n")
        #expect(!c.kinds().contains { $0.hasPrefix("Role") || $0.hasPrefix("ServiceAccount") })
        #expect(Self.podSpec(try c.object("Deployment", "web"))["serviceAccountName"] == nil)
    }

    @Test func volumesAreClaimsTemplatesEmptyDirsOrWarnings() throws {
        let c = try convert("""
            services:
              db:
                image: postgres
                volumes: ["data:/var/lib/postgresql/data", "/scratch", {type: tmpfs, target: /run/cache, tmpfs: {size: 64m}}]
                shm_size: 256m
              app:
                image: app
                volumes: ["shared:/shared:ro", "./src:/app/src"]
              worker:
                image: app
                volumes: ["shared:/shared", "ext:/ext"]
            volumes:
              data: {x-kubernetes: {size: 20Gi, storage_class: fast}}
              shared: {}
              ext: {external: true, name: team-ext}
            """) { $0.volumeSize = "2Gi" }
        let db = try c.object("StatefulSet", "db")
        let templates = try #require((db["spec"] as? [String: Any])?["volumeClaimTemplates"] as? [[String: Any]])
        let first: [String: Any]? = templates.first
        let template = try #require(first?["spec"] as? [String: Any])
        #expect(((template["resources"] as? [String: Any])?["requests"] as? [String: String])?["storage"] == "20Gi")
        #expect(template["storageClassName"] as? String == "fast" && template["accessModes"] as? [String] == ["ReadWriteOnce"])
        #expect((db["spec"] as? [String: Any])?["serviceName"] as? String == "db")
        #expect(((try c.object("Service", "db"))["spec"] as? [String: Any])?["clusterIP"] as? String == "None", "a headless Service for the StatefulSet's pods")
        let dbVolumes = try #require(Self.podSpec(db)["volumes"] as? [[String: Any]])
        #expect(dbVolumes.map { $0["name"] as? String } == ["anon-1", "tmpfs-2", "dshm"])
        #expect((dbVolumes[1]["emptyDir"] as? [String: String]) == ["medium": "Memory", "sizeLimit": "64Mi"])
        let shared = try c.object("PersistentVolumeClaim", "proj-shared")
        #expect((shared["spec"] as? [String: Any])?["accessModes"] as? [String] == ["ReadWriteMany"], "two services share it")
        #expect((((shared["spec"] as? [String: Any])?["resources"] as? [String: Any])?["requests"] as? [String: String])?["storage"] == "2Gi")
        #expect(!c.kinds().contains { $0.contains("team-ext") }, "an external volume's claim exists already")
        let worker = Self.podSpec(try c.object("Deployment", "worker"))
        #expect((worker["volumes"] as? [[String: Any]])?.compactMap { ($0["persistentVolumeClaim"] as? [String: String])?["claimName"] } == ["proj-shared", "team-ext"])
        let app = Self.container(try c.object("Deployment", "app"))
        #expect((app["volumeMounts"] as? [[String: Any]])?.map { "\($0["mountPath"]!) \($0["readOnly"] ?? false)" } == ["/shared 1"])
        let bind = try #require(c.warnings.first { $0.message.contains("bind mount") })
        #expect(bind.location?.line == 8 && bind.message.contains("--host-path"), "\(bind)")
        let hostPath = try convert("services:\n  app: {image: a, volumes: [\"/etc/app:/etc/app:ro\"]}\n") { $0.hostPath = true }
        #expect(((Self.podSpec(try hostPath.object("Deployment", "app"))["volumes"] as? [[String: Any]])?.first?["hostPath"] as? [String: String])?["path"] == "/etc/app")
        #expect(hostPath.warnings.isEmpty)
    }

    @Test func secretsAndConfigsAreMountedWhereComposePutsThem() throws {
        let c = try convert("""
            services:
              app:
                image: app
                secrets: [token, {source: cert, target: /etc/ssl/app.pem, mode: 0400}]
                configs: [{source: settings, target: /etc/app.conf}, motd]
            secrets:
              token: {environment: TOKEN}
              cert: {file: ./cert.pem}
            configs:
              settings: {content: "debug = false\\n"}
              motd: {file: ./motd.txt}
            """, environment: ["TOKEN": "hunter2"])
        let token = try c.object("Secret", "proj-token")
        #expect(token["data"] as? [String: String] == ["token": "aHVudGVyMg=="])
        #expect(try c.object("Secret", "proj-cert")["data"] as? [String: String] == ["cert": Base64.encode(Array("content of /srv/proj/cert.pem".utf8))])
        #expect(try c.object("ConfigMap", "proj-settings")["data"] as? [String: String] == ["settings": "debug = false\n"])
        let container = Self.container(try c.object("Deployment", "app"))
        let mounts = try #require(container["volumeMounts"] as? [[String: Any]])
        #expect(mounts.map { "\($0["mountPath"]!) \($0["subPath"]!)" } == ["/run/secrets/token token", "/etc/ssl/app.pem cert", "/etc/app.conf settings", "/motd motd"])
        let volumes = try #require(Self.podSpec(try c.object("Deployment", "app"))["volumes"] as? [[String: Any]])
        let cert = try #require(volumes.first { ($0["secret"] as? [String: Any])?["secretName"] as? String == "proj-cert" })
        #expect((((cert["secret"] as? [String: Any])?["items"] as? [[String: Any]])?.first?["mode"] as? Int) == 0o400)
    }

    @Test func resourcesFromDeployAndTheServiceKeys() throws {
        let c = try convert("""
            services:
              a: {image: a, deploy: {resources: {limits: {cpus: "1.5", memory: 1G}, reservations: {cpus: "0.25", memory: 128M}}}}
              b: {image: b, mem_limit: 300m, cpus: 2, mem_reservation: 1000000}
            """)
        #expect(Self.container(try c.object("Deployment", "a"))["resources"] as? [String: [String: String]] ==
                ["limits": ["cpu": "1500m", "memory": "1Gi"], "requests": ["cpu": "250m", "memory": "128Mi"]])
        #expect(Self.container(try c.object("Deployment", "b"))["resources"] as? [String: [String: String]] ==
                ["limits": ["cpu": "2", "memory": "300Mi"], "requests": ["memory": "1000000"]])
    }

    @Test func aliasesAreServicesToo() throws {
        let c = try convert("services:\n  db:\n    image: p\n    expose: [\"5432\"]\n    networks: {default: {aliases: [database, pg.local]}}\n")
        #expect(c.kinds() == ["Service/db", "Service/database", "Service/pg-local", "Deployment/db"])
        #expect(c.warnings.contains { $0.message.contains("pg.local is named pg-local") })
    }

    @Test func whatHasNoKubernetesFormIsALocatedWarning() throws {
        let c = try convert("""
            services:
              app:
                image: app
                network_mode: host
                pid: host
                devices: ["/dev/fuse"]
                user: www-data
                restart: "no"
              one:
                image: app
                volumes_from: [app]
                ulimits: {nofile: 1024}
            """)
        let found = c.warnings.map { "\($0.location?.line ?? 0) \($0.message.prefix(40))" }
        #expect(c.warnings.allSatisfy { $0.severity == .warning && $0.location != nil })
        for (line, text) in [(4, "network_mode: host"), (5, "pid: host"), (6, "devices"), (7, "user www-data"), (8, "restart: no"), (11, "volumes_from"), (12, "ulimits")] {
            #expect(c.warnings.contains { $0.location?.line == line && $0.message.contains(text) }, "\(text) at line \(line): \(found)")
        }
    }

    @Test func theSelectionBringsItsDependencies() throws {
        let yaml = "services:\n  web: {image: w, depends_on: [api]}\n  api: {image: a, depends_on: [db]}\n  db: {image: d}\n  other: {image: o}\n"
        var options = KubeOptions()
        options.services = ["web"]
        var o = LoadOptions(workingDirectory: "/srv/proj", environment: [:])
        o.configFiles = ["-"]
        o.readStandardInput = { Array(yaml.utf8) }
        let manifests = try KubeConverter.convert(try ProjectLoader.load(o).project, options: options)
        let workloads = manifests.yaml.components(separatedBy: "kind: Deployment\nmetadata:\n  name: ").dropFirst().map { $0.prefix { $0 != "\n" } }
        #expect(workloads == ["api", "db", "web"], "web and what it depends on, not other")
        options.services = ["nope"]
        #expect(throws: SwcomposeError.self) { try KubeConverter.convert(try ProjectLoader.load(o).project, options: options) }
    }

    @Test func theOutputIsStable() throws {
        let yaml = "services:\n  b: {image: b, ports: [\"80\"], environment: {Z: 1, A: 2}}\n  a: {image: a, depends_on: [b]}\n"
        let first = try convert(yaml)
        for _ in 0..<5 { #expect(try convert(yaml).kinds() == first.kinds()) }
        #expect(first.kinds() == ["ServiceAccount/proj-wait", "Role/proj-wait", "RoleBinding/proj-wait", "Deployment/a", "Service/b", "Service/b-published", "Deployment/b"])
    }

    @Test func namesAreDNSLabels() {
        #expect(KubeNames.label("My_Service.v2") == "my-service-v2")
        #expect(KubeNames.label("--x--") == "x")
        #expect(KubeNames.label(String(repeating: "a", count: 70)).count == 63)
        #expect(KubeNames.isLabelKey("app.kubernetes.io/name") && KubeNames.isLabelKey("tier") && !KubeNames.isLabelKey("bad key"))
        #expect(!KubeNames.isLabelValue(String(repeating: "v", count: 64)) && KubeNames.isLabelValue(""))
        #expect(KubeUnits.bytes(256 << 20) == "256Mi" && KubeUnits.bytes(1000) == "1000" && KubeUnits.cpus(0.5) == "500m" && KubeUnits.cpus(2) == "2")
        #expect(Base64.encode(Array("a".utf8)) == "YQ==" && Base64.encode(Array("ab".utf8)) == "YWI=" && Base64.encode(Array("abc".utf8)) == "YWJj")
    }
}
