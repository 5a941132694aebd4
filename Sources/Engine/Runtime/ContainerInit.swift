#if canImport(Glibc)
import Glibc
#endif

/// A failed step of the start sequence, reported to the launcher as `<step>: <message>`.
struct StepFailure: Error {
    var step: String
    var message: String

    init(_ step: String, _ message: String) {
        self.step = step
        self.message = message
    }

    init(_ step: String, _ error: SystemError) {
        self.step = step
        self.message = error.description
    }
}

/// The container's start helper: the first process of the container, freshly exec'd (so single-threaded)
/// into new pid, mount, uts, ipc and net namespaces. It receives its `InitConfig` on the sync socket,
/// waits for the launcher's `go`, builds the container's filesystem view and confinement in runc's
/// order, and execs the container's process (or, with `init`, stays as a reaping PID 1).
public enum ContainerInit {
    /// The descriptor the launcher passes the sync socket on.
    public static let syncFD: Int32 = 3

    /// Entry point of `swcompose __init [--join TASKS_FILE…]`. Never returns on success. A helper
    /// started ahead of time (a spare) is given the v1 cgroup `tasks` files to join at once; it then
    /// waits, possibly for long, for the container it will become.
    public static func main(_ arguments: [String] = []) -> Int32 {
        let sync = PacketSocket(fd: syncFD)
        Sys.setCloseOnExec(syncFD)
        do {
            if arguments.first == "--join" {
                do { try Cgroup.joinSelf(taskFiles: Array(arguments.dropFirst())) } catch { return 1 }
            }
            guard let first = try sync.receive() else { return 1 }
            // From here on this process is a container: it outlives whoever started it.
            Sys.setParentDeathSignal(0)
            if first.fds.count == 3 {
                for (i, fd) in first.fds.enumerated() { try? Sys.duplicate(fd, to: Int32(i)) }
                first.fds.forEach(Sys.close)
            }
            let config = try Wire.decode(InitConfig.self, from: first.bytes)
            Trace.mark("helper: config received")
            do {
                try Cgroup.joinSelf(taskFiles: config.joinCgroups)
            } catch {
                throw StepFailure("join cgroup", error)
            }
            Trace.mark("helper: joined cgroups")
            // Compiled while the launcher moves us into the cgroup (a slow step on cgroup v1).
            let seccomp = try config.seccompProgram ?? ProcessSetup.seccompProgram(config.spec.security, stateRoot: config.stateRoot)
            Trace.mark("helper: seccomp program ready")
            guard let go = try sync.receive(maximum: 64), go.bytes == InitMessage.go else { return 1 }
            try run(config, seccomp: seccomp, sync: sync)
        } catch let failure as StepFailure {
            try? sync.send(InitMessage.error(step: failure.step, message: failure.message))
        } catch let error as SystemError {
            try? sync.send(InitMessage.error(step: "start", message: error.description))
        } catch {
            try? sync.send(InitMessage.error(step: "start", message: "\(error)"))
        }
        return 1
    }

    @discardableResult
    static func step<T>(_ name: String, _ body: () throws -> T) throws(StepFailure) -> T {
        do {
            return try body()
        } catch let error as SystemError {
            throw StepFailure(name, error)
        } catch let failure as StepFailure {
            throw failure
        } catch {
            throw StepFailure(name, "\(error)")
        }
    }

    static func run(_ config: InitConfig, seccomp: [UInt8]?, sync: PacketSocket) throws(StepFailure) -> Never {
        let spec = config.spec
        let security = spec.security
        // Every container process leads its own session, as under runc.
        Sys.newSession()
        if let ns = config.networkNamespace {
            try step("join network namespace \(ns)") {
                let fd = try Sys.open(ns, O_RDONLY)
                defer { Sys.close(fd) }
                try Sys.enterNamespaces(fd, .network)
            }
        }
        if let ns = config.ipcNamespace {
            try step("join ipc namespace \(ns)") {
                let fd = try Sys.open(ns, O_RDONLY)
                defer { Sys.close(fd) }
                try Sys.enterNamespaces(fd, .ipc)
            }
        }
        if config.ownCgroupNamespace {
            try step("unshare cgroup namespace") { try Sys.unshare(.cgroup) }
        }
        try step("make mounts private") {
            try Sys.mount(source: "", target: "/", type: nil, flags: UInt(MS_REC) | UInt(MS_PRIVATE), data: nil)
        }
        if !config.sharedNetwork {
            // A network namespace of its own: at least loopback works.
            try step("bring up loopback") {
                let nl = try Netlink()
                if let lo = try nl.link(named: "lo"), !lo.up { try nl.setLink(lo.index, up: true) }
            }
        }
        let rootfs = RootFilesystem(directory: config.containerDirectory)
        Trace.mark("helper: released")
        try step("mount root filesystem") { try rootfs.mount(layers: config.layerDirectories) }
        Trace.mark("helper: root filesystem mounted")
        let root = rootfs.merged
        // The root must be a mount point of its own for pivot_root; the overlay is.
        try MountSetup.mountStandard(root: root, spec: spec, sharedNetwork: config.sharedNetwork, shm: config.shmSource,
                                     ownCgroupNamespace: config.ownCgroupNamespace)
        try MountSetup.mountUser(root: root, mounts: spec.mounts, copyUp: config.copyUp, scratch: config.containerDirectory)
        try MountSetup.writeFiles(root: root, spec.files)
        try MountSetup.makeRuntimeEntries(root: root)
        try MountSetup.mountEtcFiles(root: root, directory: config.etcDirectory ?? config.containerDirectory, mounts: spec.mounts,
                                     readOnly: spec.readOnlyRootfs)
        try MountSetup.makeDevices(root: root, spec: spec)
        if !spec.process.workingDir.isEmpty && spec.process.workingDir != "/" {
            try step("create working directory \(spec.process.workingDir)") {
                let dir = try ContainedPath.join(root: root, spec.process.workingDir)
                if !Sys.exists(dir) { try Sys.mkdirAll(dir) }
            }
        }

        var tty: PseudoTerminal?
        if spec.process.tty {
            let terminal = try step("allocate terminal") { try PseudoTerminal.open(devRoot: root + "/dev") }
            if config.terminalRows > 0 { TerminalIO.setWindowSize(terminal.master, rows: config.terminalRows, columns: config.terminalColumns) }
            try step("bind /dev/console") {
                let console = root + "/dev/console"
                if !Sys.exists(console) { _ = try FileHandle(path: console, flags: O_WRONLY | O_CREAT, mode: 0o600) }
                try Sys.mount(source: root + "/dev/pts/\(terminal.number)", target: console, type: nil, flags: UInt(MS_BIND), data: nil)
            }
            tty = terminal
        }

        Trace.mark("helper: mounts done")
        let hooks = spec.hooks ?? OCIHooks()
        func hookState(_ status: String) -> String {
            (config.hookState ?? "").replacing("%STATUS%", with: status)
        }
        if !hooks.createRuntime.isEmpty {
            // The launcher runs them on the host, now that the namespaces and mounts exist.
            let answer = try step("createRuntime hooks") { () throws(SystemError) -> [UInt8]? in
                try sync.send(InitMessage.hooks)
                return try sync.receive(maximum: 1 << 16)?.bytes
            }
            guard let answer else { throw StepFailure("createRuntime hooks", "the launcher went away") }
            if answer.first == InitMessage.errorPrefix {
                throw StepFailure("createRuntime hooks", InitMessage.parseError(answer).message)
            }
        }
        do { try HookRunner.runAll(hooks.createContainer, point: "createContainer", state: hookState("created")) } catch {
            throw StepFailure("createContainer hooks", error.description)
        }
        try step("pivot_root") { try MountSetup.pivot(to: root) }
        Trace.mark("helper: pivoted")
        try step("sysctl") {
            for (key, value) in spec.sysctls.sorted(by: { $0.key < $1.key }) {
                let path = "/proc/sys/" + key.replacingDots()
                do throws(SystemError) {
                    try FileHandle(path: path, flags: O_WRONLY | O_TRUNC).write(Array(value.utf8))
                } catch {
                    throw SystemError("write \(key)=\(value)", code: error.code)
                }
            }
        }
        if !security.privileged {
            try MountSetup.maskPaths(security.maskedPaths)
            try MountSetup.readonlyPaths(security.readonlyPaths)
        }
        if spec.readOnlyRootfs {
            try step("make root read-only") { try MountSetup.remountReadOnly("/", recursive: false) }
        }
        // With the host's UTS namespace (`uts: host`) the names are the host's: nothing is set.
        if spec.namespaces.uts == .own {
            try step("sethostname") {
                let h = spec.hostname
                try Sys.setHostname(h)
                if !spec.domainname.isEmpty {
                    let d = spec.domainname
                    try Sys.setDomainname(d)
                }
            }
        }
        if let adj = spec.process.oomScoreAdj {
            try step("oom_score_adj") { try FileHandle(path: "/proc/self/oom_score_adj", flags: O_WRONLY).write(Array(String(adj).utf8)) }
        }
        try step("setrlimit") { try ProcessSetup.applyRlimits(spec.rlimits) }

        if let tty {
            try step("send terminal") { try sync.send([InitMessage.ttyPrefix], fds: [tty.master]) }
            Sys.close(tty.master)
            try step("attach terminal") { try tty.makeControlling() }
        }

        do { try HookRunner.runAll(hooks.startContainer, point: "startContainer", state: hookState("created")) } catch {
            throw StepFailure("startContainer hooks", error.description)
        }
        let user = try ProcessSetup.resolveUser(spec.process.user, additional: spec.process.additionalGroups)
        ProcessSetup.giveStdio(to: user)
        var env = spec.process.env
        ProcessSetup.completeEnvironment(&env, home: user.home)
        try ProcessSetup.confine(security: security, user: user, workingDir: spec.process.workingDir.isEmpty ? "/" : spec.process.workingDir,
                                 seccomp: seccomp)
        let executable = try ProcessSetup.lookPath(spec.process.args.first ?? "", env: env)

        Trace.mark("helper: confined, exec \(executable)")
        try step("report") { try sync.send(InitMessage.exec) }
        if spec.initProcess {
            MiniInit.run(executable: executable, args: spec.process.args, env: env, sync: sync, foreground: spec.process.tty)
        }
        let failure = ProcessSetup.exec(executable, spec.process.args, env)
        throw StepFailure("exec", "exec: \"\(spec.process.args.first ?? "")\": \(ProcessSetup.goStyle(failure.code))")
    }
}

extension String {
    /// `net.ipv4.ip_forward` → `net/ipv4/ip_forward`.
    func replacingDots() -> String {
        String(map { $0 == "." ? "/" : $0 })
    }
}
