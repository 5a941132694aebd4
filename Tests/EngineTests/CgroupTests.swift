import Foundation
import Testing
import TestSupport
@testable import Engine

/// cgroup mechanics on the real hierarchies. Hosts with cgroup v1 (this machine) still have a cgroup2
/// hierarchy mounted beside it: the v2 code paths (CLONE_INTO_CGROUP, cgroup.kill, cgroup.freeze) run
/// against it, without controllers.
@Suite(.requiresRoot, .serialized) struct CgroupTests {
    static var unified: String? { CgroupHierarchies.detect().unified }

    func sleeper(cgroup: Int32 = -1) throws -> (pid: Int32, pidfd: Int32) {
        var pidfd: Int32 = -1
        let null = open("/dev/null", O_RDWR)
        defer { close(null) }
        let spawned = try Sys.spawn("/bin/sleep", ["sleep", "100"], environment: [], fds: [null, null, null], cgroup: cgroup)
        pidfd = spawned.pidfd
        return (spawned.pid, pidfd)
    }

    @Test(.enabled(if: CgroupTests.unified != nil, "no cgroup2 hierarchy mounted"))
    func version2BornInsideKilledAndFrozenAsAWhole() throws {
        let h = CgroupHierarchies.detect()
        let v2 = CgroupHierarchies(v1: [:], unified: h.unified, unifiedControllers: [])
        let cgroup = Cgroup(path: "swcompose-test/" + ContainerStore.newID(), hierarchies: v2)
        defer { try? cgroup.destroy(); _ = rmdir(h.unified! + "/swcompose-test") }
        try cgroup.create(resources: Resources(), deviceRules: [])
        let fd = try #require(cgroup.openUnified())
        let (pid, pidfd) = try sleeper(cgroup: fd)
        close(fd)
        defer { close(pidfd) }
        #expect(cgroup.processes() == [pid], "born in the cgroup with CLONE_INTO_CGROUP")
        let procCgroup = try String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8)
        #expect(procCgroup.contains("0::/" + cgroup.path))
        try cgroup.setFrozen(true)
        #expect(try String(contentsOfFile: h.unified! + "/" + cgroup.path + "/cgroup.events", encoding: .utf8).contains("frozen 1"))
        try cgroup.setFrozen(false)
        cgroup.killAll()
        let status = try Sys.wait(pidfd: pidfd)
        #expect(status?.signal == SIGKILL)
        try cgroup.destroy()
        #expect(!cgroup.exists)
    }

    @Test(.enabled(if: CgroupTests.unified != nil && Host.hasBusybox, "no cgroup2 hierarchy mounted, or no busybox"))
    func version2DeviceAllowlistIsAnEBPFProgram() throws {
        let h = CgroupHierarchies.detect()
        let v2 = CgroupHierarchies(v1: [:], unified: h.unified, unifiedControllers: [])
        let cgroup = Cgroup(path: "swcompose-test/" + ContainerStore.newID(), hierarchies: v2)
        let dir = TemporaryDirectory("devfilter")
        defer { try? cgroup.destroy(); _ = rmdir(h.unified! + "/swcompose-test") }
        try cgroup.create(resources: Resources(), deviceRules: [DeviceRule.parse("c 1:7 r")!])
        let fd = try #require(cgroup.openUnified())
        var fds: [Int32] = [0, 0]
        pipe(&fds)
        var pidfd: Int32 = -1
        let script = """
            head -c 1 /dev/zero > /dev/null && echo zero-allowed
            head -c 1 /dev/full > /dev/null && echo full-readable
            echo x > /dev/full 2>&1 || echo full-not-writable
            mknod \(dir.path)/loop b 7 0 && echo mknod-allowed
            head -c 1 \(dir.path)/loop 2>&1 || echo block-denied
            """
        pidfd = try Sys.spawn("/bin/busybox", ["sh", "-c", script], environment: ["PATH=/bin:/usr/bin"],
                              fds: [fds[0], fds[1], fds[1]], cgroup: fd).pidfd
        close(fd)
        close(fds[1])
        let output = String(decoding: try Engine.FileHandle(fds[0]).readAll(), as: UTF8.self)
        _ = try Sys.wait(pidfd: pidfd)
        close(pidfd)
        #expect(output.contains("zero-allowed"))
        #expect(output.contains("full-readable"))
        #expect(output.contains("full-not-writable"), "c 1:7 allowed for reading only: \(output)")
        #expect(output.contains("mknod-allowed"), "docker allows mknod of any device: \(output)")
        #expect(output.contains("Operation not permitted") && output.contains("block-denied"), "\(output)")
    }

    @Test(.enabled(if: !CgroupHierarchies.detect().v1.isEmpty, "no cgroup v1 hierarchies"))
    func version1LimitsMembershipAndSelfJoin() throws {
        let cgroup = Cgroup(path: "swcompose/" + ContainerStore.newID())
        defer { try? cgroup.destroy() }
        var r = Resources()
        r.memory = 32 << 20
        r.pidsLimit = 7
        r.cpuQuota = 50_000
        r.cpuPeriod = 100_000
        try cgroup.create(resources: r, deviceRules: [DeviceRule.parse("c 10:229 rwm")!])
        let h = cgroup.hierarchies
        func read(_ controller: String, _ file: String) throws -> String {
            try String(contentsOfFile: h.v1[controller]! + "/" + cgroup.path + "/" + file, encoding: .utf8)
        }
        #expect(try read("memory", "memory.limit_in_bytes") == "33554432\n")
        #expect(try read("pids", "pids.max") == "7\n")
        #expect(try read("cpu", "cpu.cfs_quota_us") == "50000\n")
        #expect(try read("devices", "devices.list").contains("c 10:229 rwm"))
        #expect(!(try read("devices", "devices.list").contains("a *:* rwm")))
        let (pid, pidfd) = try sleeper()
        defer { close(pidfd) }
        try cgroup.join(pid: pid)
        #expect(cgroup.processes() == [pid])
        cgroup.killAll()
        #expect(try Sys.wait(pidfd: pidfd)?.signal == SIGKILL)
    }

    @Test func hierarchiesAreReadFromMountinfo() {
        let h = CgroupHierarchies.detect()
        #expect(h.unified != nil || !h.v1.isEmpty)
        #expect(CgroupHierarchies.unescapeMountPath("/a\\040b") == "/a b")
    }
}
