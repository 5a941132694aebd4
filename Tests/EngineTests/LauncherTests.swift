import Foundation
import Testing
import TestSupport
@testable import Engine

/// The start sequence for real: namespaces, mounts, confinement, as root.
@Suite(.requiresOverlay, .requiresBusybox, .serialized) struct LauncherTests {
    let world: BusyboxWorld

    init() throws { world = try BusyboxWorld("launcher") }

    func spec(_ args: [String], configure: (inout ContainerSpec) -> Void = { _ in }) -> ContainerSpec {
        let id = String(repeating: "0", count: 48) + String(format: "%016x", UInt64.random(in: 0...UInt64.max))
        var s = ContainerSpec(id: id, name: "test-\(id.suffix(6))",
                              image: ImageBinding(reference: "busybox", id: world.image.id.description, chainIDs: []),
                              process: ProcessSpec(args: args, env: ["PATH=/bin:/usr/bin", "HOSTNAME=box"]), hostname: "box")
        s.security.seccomp = try! SeccompProfile.dockerDefault.resolve(capabilities: s.security.capabilities)
        configure(&s)
        return s
    }

    struct Run {
        var status: Int32
        var output: String
    }

    /// Starts the container with stdout and stderr on a pipe, waits for it, and cleans up.
    func run(_ spec: ContainerSpec) throws -> Run {
        let dir = world.runtime.containerDirectory(spec.id)
        try Sys.mkdirAll(dir)
        try "box\n".write(toFile: dir + "/hostname", atomically: false, encoding: .utf8)
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let null = open("/dev/null", O_RDONLY)
        defer { close(null) }
        let launched: LaunchedProcess
        do {
            launched = try ContainerLauncher.launch(spec, runtime: world.runtime, stdio: (null, fds[1], fds[1]),
                                                    layerDirectories: world.layerDirectories)
        } catch {
            close(fds[0]); close(fds[1])
            try? Sys.removeAll(dir)
            throw error
        }
        close(fds[1])
        let output = try FileHandle(fds[0]).readAll()
        let exit = try Sys.wait(pidfd: launched.pidfd)
        close(launched.pidfd)
        try world.runtime.cgroup(spec.id).destroy()
        try RootFilesystem(directory: dir).remove()
        try Sys.removeAll(dir)
        return Run(status: exit?.code ?? -1, output: String(decoding: output, as: UTF8.self))
    }

    @Test func runsTheCommandAsPID1WithDockersConfinement() throws {
        let r = try run(spec(["sh", "-c", "echo pid=$$; grep -E '^(CapEff|CapBnd|Seccomp|NoNewPrivs):' /proc/self/status; hostname; id"]))
        #expect(r.status == 0, "\(r.output)")
        #expect(r.output.contains("pid=1\n"))
        #expect(r.output.contains("CapEff:\t00000000a80425fb"))
        #expect(r.output.contains("CapBnd:\t00000000a80425fb"))
        #expect(r.output.contains("Seccomp:\t2"))
        #expect(r.output.contains("NoNewPrivs:\t0"))
        #expect(r.output.contains("box\n"))
        #expect(r.output.contains("uid=0(root) gid=0(root)"))
    }

    @Test func reportsAMissingExecutableLikeRunc() throws {
        #expect {
            _ = try run(spec(["no-such-program"]))
        } throws: { error in
            "\(error)" == "exec: \"no-such-program\": executable file not found in $PATH"
        }
    }

    @Test func masksAndProtectsProcAndSys() throws {
        let r = try run(spec(["sh", "-c", """
            cat /proc/keys /proc/timer_list 2>&1 | wc -c; ls /proc/acpi 2>&1 | wc -l
            echo 1 > /proc/sys/kernel/domainname 2>&1 || echo sys-ro
            touch /sys/x 2>&1 || echo sysfs-ro
            grep -c " /proc/sys " /proc/self/mountinfo
            unshare -n true 2>&1 || echo unshare-denied
            mount -t tmpfs none /mnt 2>&1 || echo mount-denied
            echo pids: $(ls /proc | grep -E '^[0-9]+$' | tr '\\n' ' ')
            """]))
        #expect(r.status == 0, "\(r.output)")
        let lines = r.output.split(separator: "\n").map(String.init)
        #expect(lines.first == "0", "keys and timer_list are masked by /dev/null: \(r.output)")
        #expect(r.output.contains("sys-ro"))
        #expect(r.output.contains("sysfs-ro"))
        #expect(r.output.contains("unshare-denied"))
        #expect(r.output.contains("mount-denied"))
        // Only the container's own processes: PID 1 (the shell) and the pipeline it runs.
        let pids = r.output.split(separator: "\n").first { $0.hasPrefix("pids: ") }?.dropFirst(6).split(separator: " ").compactMap { Int($0) } ?? []
        #expect(pids.contains(1) && pids.allSatisfy { $0 < 20 }, "\(r.output)")
    }

    @Test func devHasTheStandardNodesAndLinks() throws {
        let r = try run(spec(["sh", "-c", "ls /dev | tr '\\n' ' '; echo; stat -c '%t:%T %a' /dev/null /dev/urandom; grep -E ' /dev/(shm|pts|mqueue) ' /proc/self/mountinfo | wc -l; df -k /dev/shm | tail -1"]))
        #expect(r.status == 0, "\(r.output)")
        for name in ["full", "null", "random", "tty", "urandom", "zero", "ptmx", "pts", "shm", "mqueue", "fd", "stdin", "stdout", "stderr"] {
            #expect(r.output.contains(" \(name) ") || r.output.hasPrefix("\(name) "), "missing /dev/\(name): \(r.output)")
        }
        #expect(r.output.contains("1:3 666"))
        #expect(r.output.contains("1:9 666"))
        #expect(r.output.contains("\n3\n"))
        #expect(r.output.contains(" 65536 "), "64 MiB /dev/shm: \(r.output)")
    }

    @Test func usersGroupsAndCapabilitiesFollowTheSpec() throws {
        let r = try run(spec(["sh", "-c", "id; grep CapEff /proc/self/status; echo HOME=$HOME"]) { s in
            s.process.user = "app"
        })
        #expect(r.status == 0, "\(r.output)")
        #expect(r.output.contains("uid=1000(app) gid=1000(app) groups=1000(app),1500(extra)"), "\(r.output)")
        #expect(r.output.contains("CapEff:\t0000000000000000"))
        #expect(r.output.contains("HOME=/home/app"))

        let numeric = try run(spec(["id"]) { s in s.process.user = "4242:4343"; s.process.additionalGroups = ["extra"] })
        #expect(numeric.output.contains("uid=4242 gid=4343 groups=1500(extra),4343"), "\(numeric.output)")

        let added = try run(spec(["sh", "-c", "grep CapEff /proc/self/status"]) { s in
            s.security.capabilities = try! Capabilities.resolve(add: ["NET_ADMIN"], drop: ["CHOWN", "cap_kill"], privileged: false)
        })
        // a80425fb + NET_ADMIN (bit 12) - CHOWN (bit 0) - KILL (bit 5)
        #expect(added.output.contains("CapEff:\t00000000a80435da"), "\(added.output)")
    }

    @Test func unknownUserIsAClearError() throws {
        #expect {
            _ = try run(spec(["true"]) { s in s.process.user = "ghost" })
        } throws: { error in
            "\(error)" == "resolve user: unable to find user ghost: no matching entries in passwd file"
        }
    }

    @Test func seccompCanBeUnconfinedAndNoNewPrivilegesSet() throws {
        let r = try run(spec(["sh", "-c", "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status"]) { s in
            s.security.seccomp = nil
            s.security.noNewPrivileges = true
        })
        #expect(r.output.contains("Seccomp:\t0"))
        #expect(r.output.contains("NoNewPrivs:\t1"))
        // The default filter denies what the allowlist lacks (here: unshare of a user namespace without CAP_SYS_ADMIN).
        let denied = try run(spec(["sh", "-c", "unshare -U true 2>&1; echo status=$?"]))
        #expect(denied.output.contains("Operation not permitted"), "\(denied.output)")
    }

    @Test func mountsBindsTmpfsAndReadOnlyRoot() throws {
        let host = world.directory.sub("bind-source")
        try Sys.mkdirAll(host)
        try "from host\n".write(toFile: host + "/file", atomically: false, encoding: .utf8)
        let r = try run(spec(["sh", "-c", """
            cat /data/file; touch /data/new && echo bind-rw
            touch /ro/new 2>/dev/null || echo bind-ro
            grep ' /scratch ' /proc/mounts
            touch /scratch/x && echo tmpfs-rw
            touch /root-file 2>/dev/null || echo root-ro
            """]) { s in
            s.readOnlyRootfs = true
            s.mounts = [
                MountSpec(kind: .bind, source: host, destination: "/data"),
                MountSpec(kind: .bind, source: host, destination: "/ro", readOnly: true),
                { var m = MountSpec(kind: .tmpfs, source: "", destination: "/scratch"); m.tmpfsSize = 1 << 20; m.tmpfsMode = 0o700; return m }(),
            ]
        })
        #expect(r.status == 0, "\(r.output)")
        #expect(r.output.contains("from host"))
        #expect(r.output.contains("bind-rw"))
        #expect(r.output.contains("bind-ro"))
        #expect(r.output.contains("tmpfs /scratch tmpfs rw,nosuid,nodev,noexec,relatime,size=1024k,mode=700"), "\(r.output)")
        #expect(r.output.contains("tmpfs-rw"))
        #expect(r.output.contains("root-ro"))
        #expect(FileManager.default.fileExists(atPath: host + "/new"))
    }

    @Test func cgroupLimitsAreVisibleInside() throws {
        let hierarchies = CgroupHierarchies.detect()
        let file = hierarchies.isV2 ? "/sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max" : "/sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max"
        let r = try run(spec(["sh", "-c", "cat \(file); cat /proc/self/cgroup | head -3"]) { s in
            s.resources.memory = 64 << 20
            s.resources.pidsLimit = 42
        })
        #expect(r.status == 0, "\(r.output)")
        #expect(r.output.contains("67108864\n42\n"), "\(r.output)")
    }

    @Test func initForwardsSignalsAndReapsAsPID1() throws {
        let r = try run(spec(["sh", "-c", "echo child=$$; cat /proc/1/cmdline | tr '\\0' ' '; echo"]) { s in s.initProcess = true })
        #expect(r.status == 0, "\(r.output)")
        #expect(r.output.contains("child=2") || r.output.contains("child=3"), "\(r.output)")
        #expect(r.output.contains("swcompose __init"))
        let failing = try run(spec(["sh", "-c", "exit 7"]) { s in s.initProcess = true })
        #expect(failing.status == 7)
    }

    @Test func sysctlsHostnameAndRlimitsApply() throws {
        let r = try run(spec(["sh", "-c", "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni; hostname; cat /proc/sys/kernel/domainname; ulimit -n; ulimit -Hn; pwd"]) { s in
            s.sysctls = ["net.ipv4.ip_forward": "1", "kernel.shmmni": "2048"]
            s.hostname = "web"
            s.domainname = "example.test"
            s.rlimits = [ResourceLimit(name: "nofile", soft: 1234, hard: 2345)]
            s.process.workingDir = "/srv/app"
        })
        #expect(r.status == 0, "\(r.output)")
        #expect(r.output == "1\n2048\nweb\nexample.test\n1234\n2345\n/srv/app\n", "\(r.output)")
    }

    @Test func deviceCgroupAllowsOnlyDockersDevicesAndRules() throws {
        guard !CgroupHierarchies.detect().isV2 else { return } // v2 device control needs eBPF (not implemented)
        let denied = try run(spec(["sh", "-c", "mknod /tmp/disk b 7 0 && head -c 1 /tmp/disk > /dev/null; echo status=$?"]))
        #expect(denied.output.contains("Operation not permitted"), "\(denied.output)")
        let allowed = try run(spec(["sh", "-c", "mknod /tmp/zero c 1 5 && head -c 4 /tmp/zero | wc -c"]) { s in
            s.deviceRules = [DeviceRule.parse("c 1:5 rwm")!]
        })
        #expect(allowed.output.hasSuffix("4\n"), "\(allowed.output)")
    }

    @Test func privilegedGetsEveryCapabilityAndNoFilters() throws {
        let r = try run(spec(["sh", "-c", "grep -E '^(CapEff|Seccomp):' /proc/self/status; touch /sys/kernel/x 2>&1; grep -c ' /proc/keys ' /proc/self/mountinfo"]) { s in
            s.security.privileged = true
            s.security.capabilities = Capabilities.ownBounding
            s.security.seccomp = nil
            s.security.maskedPaths = []
            s.security.readonlyPaths = []
            s.deviceRules = [DeviceRule(allow: true, type: "a", major: -1, minor: -1, access: "rwm")]
        })
        let own = try String(contentsOfFile: "/proc/self/status", encoding: .utf8).split(separator: "\n").first { $0.hasPrefix("CapBnd:") }!
        #expect(r.output.contains("CapEff:" + own.dropFirst("CapBnd:".count)), "\(r.output)")
        #expect(r.output.contains("Seccomp:\t0"))
        #expect(!r.output.contains("Read-only file system"), "/sys is writable when privileged: \(r.output)")
        #expect(r.output.hasSuffix("0\n"), "nothing masked: \(r.output)")
    }

    @Test func aSeccompProfileFromAFileIsApplied() throws {
        // A profile that denies mkdir with EACCES and allows everything else.
        let profile = try SeccompProfile.parse(Array(#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":13}]}"#.utf8))
        let r = try run(spec(["sh", "-c", "mkdir /tmp/x 2>&1; echo done"]) { s in
            s.security.seccomp = try! profile.resolve(capabilities: s.security.capabilities)
        })
        #expect(r.output.contains("Permission denied"), "\(r.output)")
    }
}
