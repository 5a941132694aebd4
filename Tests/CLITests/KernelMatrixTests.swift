import Foundation
import Testing
import TestSupport
import Engine

/// The stack a user brings up, as the kernel matrix runs it on every kernel (this host's, and the
/// guests' 6.1 and 5.10 with pure cgroup v2): gated healthchecks, service-name DNS, a published port,
/// a named volume kept by `down` and removed by `down -v`, `run --rm`, memory and pids limits seen and
/// enforced inside the container, an OOM kill reported, and nothing left behind.
@Suite(.requiresRoot, .requiresBusybox, .requiresOverlay, .serialized) struct KernelMatrixTests {
    static let cgroupV2 = CgroupHierarchies.detect().isV2

    /// A limit as the container reads it from its own cgroup (cgroup namespaces make it the root).
    static func limitFile(_ controller: String) -> String {
        switch (controller, cgroupV2) {
        case ("memory", true): return "/sys/fs/cgroup/memory.max"
        case ("pids", true): return "/sys/fs/cgroup/pids.max"
        case ("memory", false): return "/sys/fs/cgroup/memory/memory.limit_in_bytes"
        default: return "/sys/fs/cgroup/pids/pids.max"
        }
    }

    /// Directories with these names anywhere in the cgroup hierarchies (a few levels deep: `swcompose/<id>`,
    /// `system.slice/swcompose-<project>-<n>.scope/<id>`).
    /// The directories of containers' cgroups (as their states record them: a container started by
    /// the supervisor's spare helper lives in the helper's cgroup) in every hierarchy, where they exist.
    static func cgroupDirectories(_ paths: [String]) -> [String] {
        let h = CgroupHierarchies.detect()
        let roots = Set(Array(h.v1.values) + [h.unified].compactMap { $0 })
        return paths.filter { !$0.isEmpty }.flatMap { path in roots.map { $0 + "/" + path } }.filter { FileManager.default.fileExists(atPath: $0) }
    }

    /// A disk of this host for the io limits (`/dev/vda`, `/dev/ubda` under user-mode Linux…): the
    /// first of /sys/block that is not a loop, ram or zram device.
    static let disk: (path: String, number: String)? = {
        for name in ((try? FileManager.default.contentsOfDirectory(atPath: "/sys/block")) ?? []).sorted()
        where !name.hasPrefix("loop") && !name.hasPrefix("ram") && !name.hasPrefix("zram") && FileManager.default.fileExists(atPath: "/dev/" + name) {
            if let number = try? String(contentsOfFile: "/sys/block/\(name)/dev", encoding: .utf8) {
                return ("/dev/" + name, number.trimmingCharacters(in: .whitespacesAndNewlines))
            }
        }
        return nil
    }()

    @Test func theStackUsersRunWorksOnThisKernel() throws {
        let port = NetworkingTests.freePort()
        let disk = try #require(Self.disk, "a block device for blkio_config")
        let p = try ProjectFixture("matrix", compose: """
            services:
              db:
                image: swcompose/busybox
                command: ["sh", "-c", "echo from-db > /tmp/index.html; exec httpd -f -p 80 -h /tmp"]
                healthcheck:
                  test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1/"]
                  interval: 1s
              api:
                image: swcompose/busybox
                depends_on:
                  db: {condition: service_healthy}
                command: ["sh", "-c", "wget -qO /srv/www/index.html http://db/ && cat /data/kept >> /srv/www/index.html 2>/dev/null; exec httpd -f -p 8080 -h /srv/www"]
                ports: ["127.0.0.1:\(port):8080"]
                mem_limit: 64m
                pids_limit: 20
                init: true
                blkio_config:
                  device_read_bps: [{path: \(disk.path), rate: 1mb}]
                  device_write_iops: [{path: \(disk.path), rate: 100}]
                volumes: [data:/data]
                healthcheck:
                  test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"]
                  interval: 1s
              hog:
                image: swcompose/busybox
                profiles: [oom]
                command: ["sh", "-c", "x=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa; while true; do x=$$x$$x; done"]
                mem_limit: 24m
                memswap_limit: 24m
            volumes:
              data: {}
            """)
        // Gated start, then the published port answers the moment `up --wait` returns.
        let up = try p.run(["up", "-d", "--wait"])
        try #require(up.status == 0, "\(up.stderr)")
        #expect(up.stderr.contains("Container \(p.project)-db-1  Healthy"), "api waited for db's healthcheck: \(up.stderr)")
        #expect(NetworkingTests.http("http://127.0.0.1:\(port)/") == "from-db\n", "the page api fetched from db by name")
        #expect(try p.run(["exec", "-T", "api", "wget", "-qO-", "http://db/"]).stdout == "from-db\n", "service-name DNS")

        // The limits, as the container sees them, and enforced.
        #expect(try p.run(["exec", "-T", "api", "cat", Self.limitFile("memory")]).stdout == "\(64 << 20)\n")
        #expect(try p.run(["exec", "-T", "api", "cat", Self.limitFile("pids")]).stdout == "20\n")
        let io = Self.cgroupV2 ? try p.run(["exec", "-T", "api", "cat", "/sys/fs/cgroup/io.max"]).stdout
                               : try p.run(["exec", "-T", "api", "cat", "/sys/fs/cgroup/blkio/blkio.throttle.read_bps_device", "/sys/fs/cgroup/blkio/blkio.throttle.write_iops_device"]).stdout
        #expect(Self.cgroupV2 ? io.contains("\(disk.number) rbps=1048576 wbps=max riops=max wiops=100") : io == "\(disk.number) 1048576\n\(disk.number) 100\n",
                "blkio_config as the kernel took it: \(io)")

        // 40 forks asked for: the shell gives up at the first the kernel refuses. The cgroup's count is
        // read from the host, so that reading it adds no process.
        let api = try #require(p.container("api"))
        let pidsFile = try #require(Self.cgroupDirectories([p.store.state(api.id).cgroup]).lazy.map { $0 + "/pids.current" }.first { FileManager.default.fileExists(atPath: $0) })
        let pidsInUse = { Int((try? String(contentsOfFile: pidsFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 99 }
        let before = pidsInUse()
        let forks = try p.run(["exec", "-T", "api", "sh", "-c", "for i in $(seq 40); do sleep 30 & done; echo all forked"])
        #expect(!forks.stdout.contains("all forked") && forks.stderr.contains("can't fork"), "pids_limit 20: \(forks.stdout) \(forks.stderr)")
        _ = try p.run(["exec", "-T", "api", "pkill", "sleep"])
        // The killed are reaped by the container's init (init: true) as they die: the count is back
        // within moments (measured, not waited out: 0.6 s at most seen under user-mode Linux).
        let killed = Date()
        while pidsInUse() > before && Date().timeIntervalSince(killed) < 3 { usleep(5_000) }
        let reaped = Date().timeIntervalSince(killed)
        #expect(pidsInUse() <= before && reaped < 1.5, "the container has its pids back: \(pidsInUse()) after \(reaped) s, \(before) before")

        // An OOM kill is recorded and reported.
        #expect(try p.run(["--profile", "oom", "up", "-d", "hog"]).status == 0)
        #expect(try p.run(["wait", "hog"]).stdout == "137\n")
        let hog = try #require(p.container("hog"))
        #expect(p.store.state(hog.id).oomKilled)
        #expect(try p.run(["--profile", "oom", "ps", "-a", "hog"]).stdout.contains("Exited (137)"))
        let inspect = try p.run(["--profile", "oom", "inspect", hog.name]).stdout
        let state = (try JSONSerialization.jsonObject(with: Data(inspect.utf8)) as? [[String: Any]])?.first?["State"] as? [String: Any]
        #expect(state?["oomKilled"] as? Bool == true, "inspect says so: \(inspect.prefix(300))")

        // `run --rm` of a one-off, then nothing of it is left.
        let run = try p.run(["run", "--rm", "--no-deps", "api", "sh", "-c", "echo kept > /data/kept; echo one-off"])
        #expect(run.status == 0 && run.stdout == "one-off\n", "\(run.stderr)")
        #expect(!p.store.list().contains { $0.name.contains("-api-run-") }, "the --rm container is gone")

        // A named volume survives `down` (and its data comes back with the next `up`); `down -v` removes it.
        #expect(try p.run(["--profile", "oom", "down", "-t", "0"]).status == 0)
        #expect(try p.run(["volume", "ls", "-q"]).stdout.contains("\(p.project)_data"))
        #expect(try p.run(["up", "-d", "--wait"]).status == 0)
        #expect(NetworkingTests.http("http://127.0.0.1:\(port)/") == "from-db\nkept\n", "the volume's data came back")
        let cgroups = p.store.list().map { p.store.state($0.id).cgroup }
        #expect(cgroups.count == 2 && cgroups.allSatisfy { !$0.isEmpty }, "db's and api's cgroups, as their states record them: \(cgroups)")
        #expect(try p.run(["--profile", "oom", "down", "-v", "-t", "0"]).status == 0)
        #expect(!(try p.run(["volume", "ls", "-q"]).stdout.contains("\(p.project)_data")))

        // Nothing is left: containers, their cgroups and mounts, the project's bridge and rules.
        #expect(p.store.list().isEmpty)
        let mounts = try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)
        #expect(!mounts.contains(p.root), "no mount under the state root is left")
        let left = Self.cgroupDirectories(cgroups)
        #expect(left.isEmpty, "the containers' cgroups are gone (under swcompose/ or their systemd scope): \(left)")
        #expect(!Firewall.save().contains(p.project), "no rule names the project")
        #expect(Self.supervisors(of: p.root).isEmpty, "the project's supervisor (and its spare start helper) went with `down`")
    }

    /// Processes supervising a project under `root` (`swcompose __supervise ROOT GROUP`).
    static func supervisors(of root: String, group: String? = nil) -> [Int32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { entry -> Int32? in
            guard let pid = Int32(entry), let cmdline = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { return nil }
            let argv = cmdline.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            return argv.count >= 3 && argv[1] == "__supervise" && argv[2] == root && (group == nil || argv.count > 3 && argv[3] == group) ? pid : nil
        }
    }

    /// `cpuset` where the kernel offers the controller; where it does not (user-mode Linux), a refusal
    /// that names it, and nothing started.
    @Test func cpusetWhereTheControllerIsAndAClearRefusalWhereNot() throws {
        let p = try ProjectFixture("cpuset", compose: """
            services:
              pinned:
                image: swcompose/busybox
                command: ["sleep", "1000"]
                cpuset: "0"
                cpus: 0.5
                cpu_shares: 512
            """)
        let h = CgroupHierarchies.detect()
        let offered = h.isV2 ? h.unifiedControllers.contains("cpuset") : h.v1["cpuset"] != nil
        let up = try p.run(["up", "-d"])
        if offered {
            #expect(up.status == 0, "\(up.stderr)")
            let file = h.isV2 ? "/sys/fs/cgroup/cpuset.cpus" : "/sys/fs/cgroup/cpuset/cpuset.cpus"
            #expect(try p.run(["exec", "-T", "pinned", "cat", file]).stdout == "0\n")
            let quota = h.isV2 ? try p.run(["exec", "-T", "pinned", "cat", "/sys/fs/cgroup/cpu.max"]).stdout
                               : try p.run(["exec", "-T", "pinned", "cat", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us"]).stdout
            #expect(quota == (h.isV2 ? "50000 100000\n" : "50000\n"))
        } else {
            #expect(up.status == 1)
            #expect(up.stderr.contains("cpuset needs the cpuset cgroup controller, which this host does not offer"), "\(up.stderr)")
            #expect(p.store.list().allSatisfy { !p.store.state($0.id).isAlive })
        }
        #expect(try p.run(["down", "-t", "0"]).status == 0)
    }
}
