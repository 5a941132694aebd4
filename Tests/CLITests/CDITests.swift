import Foundation
import Testing
import TestSupport
import Engine
#if canImport(Glibc)
import Glibc
#endif

/// Devices through the Container Device Interface: CDI names in `devices:`, `driver: cdi` device
/// reservations and `gpus:` (through a GPU vendor's spec), each from a spec of this test's own in a
/// directory given as SWCOMPOSE_CDI_SPEC_DIRS: a harmless device node (the host's /dev/zero under
/// another name), a file mounted read-only, environment, and hooks at every OCI point.
@Suite(.requiresRoot, .requiresBusybox, .serialized) struct CDITests {
    /// A spec directory holding the probe vendor's spec and a fake NVIDIA one.
    final class Specs: @unchecked Sendable {
        let dir = TemporaryDirectory("cdi-specs")
        var specs: String { dir.sub("cdi") }
        var hostFile: String { dir.sub("probe.conf") }
        var marks: String { dir.sub("marks") }

        init() throws {
            try FileManager.default.createDirectory(atPath: specs, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: marks, withIntermediateDirectories: true)
            try "probe configuration\n".write(toFile: hostFile, atomically: true, encoding: .utf8)
            // The hooks: createRuntime on the host (records its state), createContainer in the
            // container's namespaces before pivot_root (writes into the root named by the bundle's
            // config.json, as nvidia-cdi-hook finds it), startContainer inside the container,
            // poststop on the host.
            let hostHook = dir.sub("host-hook.sh")
            try """
                #!/bin/sh
                cat > "\(marks)/$1"
                """.write(toFile: hostHook, atomically: true, encoding: .utf8)
            let rootHook = dir.sub("root-hook.sh")
            try """
                #!/bin/sh
                state=$(cat)
                bundle=$(echo "$state" | sed 's/.*"bundle":"\\([^"]*\\)".*/\\1/')
                root=$(sed 's/.*"root":{"path":"\\([^"]*\\)".*/\\1/' "$bundle/config.json")
                echo "createContainer saw $(echo "$state" | sed 's/.*"status":"\\([^"]*\\)".*/\\1/')" > "$root/cdi-hook"
                """.write(toFile: rootHook, atomically: true, encoding: .utf8)
            for h in [hostHook, rootHook] { chmod(h, 0o755) }
            try """
                cdiVersion: "0.6.0"
                kind: example.com/probe
                containerEdits:
                  env: [PROBE_VENDOR=example]
                  hooks:
                    - hookName: createRuntime
                      path: \(hostHook)
                      args: [host-hook.sh, createRuntime]
                    - hookName: createContainer
                      path: \(rootHook)
                    - hookName: startContainer
                      path: /bin/sh
                      args: [sh, -c, "cat > /start-hook"]
                    - hookName: poststop
                      path: \(hostHook)
                      args: [host-hook.sh, poststop]
                devices:
                  - name: zero
                    containerEdits:
                      env: [PROBE_DEVICE=zero]
                      deviceNodes:
                        - path: /dev/probe0
                          hostPath: /dev/zero
                          fileMode: 0640
                      mounts:
                        - hostPath: \(hostFile)
                          containerPath: /etc/probe.conf
                          options: [ro, nosuid, nodev, bind]
                  - name: one
                    containerEdits:
                      env: [PROBE_DEVICE=one]
                """.write(toFile: specs + "/probe.yaml", atomically: true, encoding: .utf8)
            // As nvidia-ctk writes it (JSON works too), for dockerd's gpu requests.
            try """
                {"cdiVersion":"0.5.0","kind":"nvidia.com/gpu",
                 "containerEdits":{"env":["NVIDIA_VISIBLE_DEVICES=void"]},
                 "devices":[{"name":"0","containerEdits":{"env":["FAKE_GPU_0=yes"],"deviceNodes":[{"path":"/dev/fakegpu0","hostPath":"/dev/null"}]}},
                            {"name":"1","containerEdits":{"env":["FAKE_GPU_1=yes"]}},
                            {"name":"all","containerEdits":{"env":["FAKE_GPU_0=yes","FAKE_GPU_1=yes"]}}]}
                """.write(toFile: specs + "/nvidia.json", atomically: true, encoding: .utf8)
        }

        var environment: [String: String] { ["SWCOMPOSE_CDI_SPEC_DIRS": "/nonexistent/cdi:" + specs] }
    }

    @Test func cdiDevicesGetTheirNodesMountsEnvironmentAndHooks() throws {
        let specs = try Specs()
        let p = try ProjectFixture("cdi", compose: """
            services:
              app:
                image: swcompose/busybox
                devices: ["example.com/probe=zero"]
                user: "0:0"
                command: ["sleep", "1000"]
            """)
        let up = try p.run(["up", "-d"], extraEnvironment: specs.environment)
        #expect(up.status == 0, "\(up.stderr)")
        func inside(_ script: String) throws -> String { try p.run(["exec", "-T", "app", "sh", "-c", script]).stdout }
        // The device node, with the spec's mode, readable (the device cgroup allows it).
        #expect(try inside("stat -c '%A %t:%T' /dev/probe0") == "crw-r----- 1:5\n")
        #expect(try inside("head -c 3 /dev/probe0 | od -An -tx1") == " 00 00 00\n")
        // The mount, read-only, nosuid and nodev.
        #expect(try inside("cat /etc/probe.conf") == "probe configuration\n")
        #expect(try inside("echo x > /etc/probe.conf 2>&1 || echo refused").hasSuffix("refused\n"))
        let options = try inside("grep ' /etc/probe.conf ' /proc/self/mountinfo | cut -d' ' -f6")
        #expect(options.contains("ro") && options.contains("nosuid") && options.contains("nodev"), "\(options)")
        // The spec's environment and the device's.
        #expect(try inside("echo $PROBE_VENDOR:$PROBE_DEVICE") == "example:zero\n")
        // Hooks: createRuntime on the host with the state (pid and bundle), createContainer wrote into
        // the root, startContainer ran inside with the state on its stdin.
        let record = try #require(p.container("app"))
        let created = try String(contentsOfFile: specs.marks + "/createRuntime", encoding: .utf8)
        #expect(created.contains("\"status\":\"creating\"") && created.contains("\"id\":\"\(record.id)\""), "\(created)")
        #expect(created.contains("\"bundle\":\"\(p.root)/containers/\(record.id)/bundle\""), "\(created)")
        #expect(try inside("cat /cdi-hook") == "createContainer saw created\n")
        #expect(try inside("grep -c '\"status\":\"created\"' /start-hook") == "1\n")
        #expect(!FileManager.default.fileExists(atPath: specs.marks + "/poststop"))
        // poststop: after the container ended.
        #expect(try p.run(["stop", "-t", "0"]).status == 0)
        let stopped = try String(contentsOfFile: specs.marks + "/poststop", encoding: .utf8)
        #expect(stopped.contains("\"status\":\"stopped\""), "\(stopped)")
        #expect(try p.run(["down"]).status == 0)
    }

    @Test func gpuRequestsAndCdiReservationsResolveThroughTheVendorsSpecs() throws {
        let specs = try Specs()
        let p = try ProjectFixture("gpus", compose: """
            services:
              all:
                image: swcompose/busybox
                gpus: all
                command: ["sleep", "1000"]
              one:
                image: swcompose/busybox
                deploy:
                  resources:
                    reservations:
                      devices:
                        - capabilities: [gpu]
                          count: 1
                        - driver: cdi
                          device_ids: [example.com/probe=one]
                          capabilities: [gpu]
                command: ["sleep", "1000"]
            """)
        let up = try p.run(["up", "-d"], extraEnvironment: specs.environment)
        #expect(up.status == 0, "\(up.stderr)")
        let env = "echo $NVIDIA_VISIBLE_DEVICES:$FAKE_GPU_0:$FAKE_GPU_1:$PROBE_DEVICE"
        #expect(try p.run(["exec", "-T", "all", "sh", "-c", env]).stdout == "void:yes:yes:\n")
        #expect(try p.run(["exec", "-T", "one", "sh", "-c", env]).stdout == "void:yes::one\n")
        #expect(try p.run(["exec", "-T", "one", "sh", "-c", "test -c /dev/fakegpu0 && echo node"]).stdout == "node\n")
        #expect(try p.run(["down", "-t", "0"]).status == 0)
    }

    @Test func devicesNoSpecDefinesAreRefusedNamingWhatToInstallBeforeAnythingIsMade() throws {
        let specs = try Specs()
        let p = try ProjectFixture("nocdi", compose: """
            services:
              ok:
                image: swcompose/busybox
                command: ["sleep", "1000"]
              gpu:
                image: swcompose/busybox
                deploy:
                  resources:
                    reservations:
                      devices:
                        - capabilities: [gpu]
                          count: 3
                command: ["sleep", "1000"]
            """)
        // Two GPUs defined, three asked for.
        let three = try p.run(["up", "-d"], extraEnvironment: specs.environment)
        #expect(three.status == 1)
        #expect(three.stderr.contains("compose.yaml:11:15"), "\(three.stderr)")
        #expect(three.stderr.contains("3 GPUs requested, but the CDI specs of nvidia.com/gpu define 2: 0, 1"), "\(three.stderr)")
        // No NVIDIA spec at all: what to install.
        let none = try p.run(["up", "-d"], extraEnvironment: ["SWCOMPOSE_CDI_SPEC_DIRS": specs.dir.sub("empty")])
        #expect(none.status == 1)
        #expect(none.stderr.contains("no CDI specification for nvidia.com/gpu devices"), "\(none.stderr)")
        #expect(none.stderr.contains("nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml"), "\(none.stderr)")
        // A device name no spec defines, and a driver that is not there.
        try """
            services:
              ok:
                image: swcompose/busybox
                command: ["sleep", "1000"]
              probe:
                image: swcompose/busybox
                devices: ["example.com/probe=two"]
                command: ["sleep", "1000"]
            """.write(toFile: p.directory + "/compose.yaml", atomically: true, encoding: .utf8)
        let two = try p.run(["up", "-d"], extraEnvironment: specs.environment)
        #expect(two.status == 1)
        #expect(two.stderr.contains("compose.yaml:7:14"), "\(two.stderr)")
        #expect(two.stderr.contains("defines example.com/probe=two"), "\(two.stderr)")
        #expect(two.stderr.contains("the specs define example.com/probe=zero, example.com/probe=one"), "\(two.stderr)")
        try """
            services:
              tpu:
                image: swcompose/busybox
                deploy: {resources: {reservations: {devices: [{capabilities: [tpu]}]}}}
            """.write(toFile: p.directory + "/compose.yaml", atomically: true, encoding: .utf8)
        let tpu = try p.run(["up", "-d"], extraEnvironment: specs.environment)
        #expect(tpu.status == 1)
        #expect(tpu.stderr.contains("could not select device driver \"\" with capabilities: [[tpu]]"), "\(tpu.stderr)")
        // Nothing was made: no container, no network.
        #expect(p.store.list().isEmpty)
        #expect(try p.run(["ps", "-a", "-q"]).stdout.isEmpty)
    }
}
