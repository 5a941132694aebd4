#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Compiled seccomp programs kept in memory by a long-lived launcher (the supervisor): containers with
/// the same capabilities share one filter, so it is compiled (or read from the disk cache) once.
final class SeccompCache: Sendable {
    static let shared = SeccompCache()
    let entries = Mutex<[(SeccompFilter, [UInt8])]>([])

    func program(_ filter: SeccompFilter, root: StateRoot) -> [UInt8]? {
        if let hit = entries.withLock({ $0.first(where: { $0.0 == filter }) }) { return hit.1 }
        guard let program = try? filter.program(cacheDirectory: root.path + "/seccomp") else { return nil }
        entries.withLock { entries in
            entries.append((filter, program))
            if entries.count > 16 { entries.removeFirst() }
        }
        return program
    }
}

/// Where the Engine finds its own executable (for the start and exec helpers) and its state.
public struct Runtime: Sendable {
    public var root: StateRoot
    /// The executable of the start, exec and supervisor helpers (`swcompose-runtime`, or `swcompose`).
    public var helper: String

    public init(root: StateRoot, helper: String = Runtime.defaultHelper) {
        self.root = root
        self.helper = helper
    }

    /// The name of the small executable that runs the supervisor and the helpers (RuntimeHelper).
    public static let helperName = "swcompose-runtime"

    /// `swcompose-runtime` beside the running executable (where `swift build` and the installation put
    /// it), else the running executable itself, which has the same hidden modes.
    public static let defaultHelper: String = {
        guard let exe = try? Sys.readlink("/proc/self/exe"), let slash = exe.lastIndex(of: "/") else { return "/proc/self/exe" }
        let sibling = String(exe[...slash]) + helperName
        return Sys.isExecutable(sibling) ? sibling : "/proc/self/exe"
    }()

    public func containerDirectory(_ id: String) -> String { root.containers + "/" + id }

    /// The container's json-file log, which its supervisor writes and `logs` and `attach` read.
    public func logPath(_ id: String) -> String { containerDirectory(id) + "/\(id)-json.log" }

    /// The cgroup a new container gets: `<parent>/<id>` in every hierarchy (`swcompose/`, or the
    /// supervisor's delegated systemd scope: `CgroupPlacement`).
    public func cgroup(_ id: String) -> Cgroup { Cgroup(path: CgroupPlacement.parent + "/" + id) }

    /// The cgroup a container is started in: under its `cgroupParent`, else swcompose's.
    public func cgroup(for spec: ContainerSpec) -> Cgroup {
        spec.cgroupParent.map { Cgroup(path: CgroupPlacement.path(parent: $0, id: spec.id)) } ?? cgroup(spec.id)
    }

    /// The cgroup a container was started in (recorded in its state; a pre-spawned helper brings its own).
    public func cgroup(id: String, state: ContainerState) -> Cgroup {
        state.cgroup.isEmpty ? cgroup(id) : Cgroup(path: state.cgroup)
    }

    public func cgroup(of record: ContainerRecord) -> Cgroup { cgroup(id: record.id, state: record.state) }
}

/// A start that failed at a named step of the sequence.
public struct StartError: Error, CustomStringConvertible, Sendable {
    public var step: String
    public var message: String

    public var description: String {
        message.hasPrefix(step) ? message : "\(step): \(message)"
    }
}

/// A container's first process, running.
public struct LaunchedProcess: Sendable {
    public var pid: Int32
    public var pidfd: Int32
    /// The pty master when the container has a terminal.
    public var terminal: Int32?
}

/// A start in progress: the helper is released and working; its sync socket tells how it ends.
public final class PendingLaunch {
    public let id: String
    public let pid: Int32
    public let pidfd: Int32
    /// Readable when the helper has news (poll it, then call `advance`).
    public var socket: Int32 { channel.fd }
    let channel: PacketSocket
    public let cgroup: Cgroup
    var terminal: Int32?
    var execing = false
    var finished = false
    /// The container's OCI hooks and the state they read (the createRuntime and poststart ones run here).
    var hooks = OCIHooks()
    var hookState = ""
    /// Poststart hooks that failed (a warning, not a failed start).
    public private(set) var warnings: [String] = []

    init(id: String, pid: Int32, pidfd: Int32, channel: PacketSocket, cgroup: Cgroup) {
        self.id = id
        self.pid = pid
        self.pidfd = pidfd
        self.channel = channel
        self.cgroup = cgroup
    }

    deinit {
        if !finished { _ = abort("start", "abandoned") }
    }

    public enum Progress {
        case waiting
        case started(LaunchedProcess)
    }

    /// Reads one message from the helper.
    public func advance() throws(StartError) -> Progress {
        let message: (bytes: [UInt8], fds: [Int32])?
        do {
            message = try channel.receive(maximum: 1 << 16)
        } catch {
            throw abort("start container process", error.description)
        }
        guard let message else {
            // The socket closed (it is close-on-exec): the process was exec'd, unless the helper died first.
            guard execing else { throw abort("start container process", "the start helper exited before the process started") }
            finished = true
            channel.close()
            if !hooks.poststart.isEmpty {
                warnings += HookRunner.runEach(hooks.poststart, point: "poststart",
                                               state: hookState.replacing("%STATUS%", with: "running")).map(\.description)
            }
            return .started(LaunchedProcess(pid: pid, pidfd: pidfd, terminal: terminal))
        }
        if message.bytes.first == InitMessage.ttyPrefix, let fd = message.fds.first {
            terminal = fd
            return .waiting
        }
        for fd in message.fds { Sys.close(fd) }
        if message.bytes == InitMessage.hooks {
            // The helper's mounts are made: the createRuntime hooks run on the host while it waits.
            var answer = InitMessage.go
            do {
                try HookRunner.runAll(hooks.createRuntime, point: "createRuntime", state: hookState.replacing("%STATUS%", with: "creating"))
            } catch {
                answer = InitMessage.error(step: "createRuntime hooks", message: error.description)
            }
            do { try channel.send(answer) } catch { throw abort("createRuntime hooks", error.description) }
            return .waiting
        }
        if message.bytes == InitMessage.exec {
            execing = true
            return .waiting
        }
        if message.bytes.first == InitMessage.errorPrefix {
            let (step, text) = InitMessage.parseError(message.bytes)
            throw abort(step, text)
        }
        return .waiting
    }

    /// Blocks until the process is exec'd (or the start failed).
    public func finish() throws(StartError) -> LaunchedProcess {
        while true {
            if case .started(let p) = try advance() { return p }
        }
    }

    func abort(_ step: String, _ message: String) -> StartError {
        finished = true
        Sys.killAndReap(pidfd: pidfd)
        channel.close()
        if let terminal { Sys.close(terminal) }
        terminal = nil
        try? cgroup.destroy()
        return StartError(step: step, message: message)
    }
}

/// A start helper spawned ahead of time, in fresh namespaces (for an isolated network) and in a cgroup
/// of its own, waiting for a container to become. Taking one off the shelf removes the helper's exec
/// and the cgroup creation from a container's start.
public final class SpareHelper {
    let pid: Int32
    let pidfd: Int32
    let channel: PacketSocket
    let cgroup: Cgroup
    var taken = false

    init(pid: Int32, pidfd: Int32, channel: PacketSocket, cgroup: Cgroup) {
        self.pid = pid
        self.pidfd = pidfd
        self.channel = channel
        self.cgroup = cgroup
    }

    /// Still waiting (not dead).
    public var isAlive: Bool { (try? Sys.wait(pidfd: pidfd, block: false)) == .some(nil) }

    /// Kills an unused spare and removes its cgroup.
    public func discard() {
        guard !taken else { return }
        taken = true
        Sys.killAndReap(pidfd: pidfd)
        channel.close()
        try? cgroup.destroy()
    }

    deinit { discard() }
}

/// Starts a container: creates its cgroup, spawns the start helper into new namespaces, hands it the
/// spec, joins it to the cgroup, releases it, and (in `finish`/`advance`) waits until its process is
/// exec'd or a step failed.
public enum ContainerLauncher {
    public static func launch(_ spec: ContainerSpec, runtime: Runtime, stdio: (Int32, Int32, Int32),
                              layerDirectories: [String], joinNetworkOf: Int32? = nil, peers: NamespacePeers = NamespacePeers(),
                              beforeRelease: (Int32) throws -> Void = { _ in }) throws -> LaunchedProcess {
        var peers = peers
        if let joinNetworkOf { peers.network = joinNetworkOf }
        return try begin(spec, runtime: runtime, stdio: stdio, layerDirectories: layerDirectories,
                         peers: peers, beforeRelease: beforeRelease).finish()
    }

    /// The processes whose namespaces a container joins (`network_mode`, `pid` and `ipc` of
    /// `service:`/`container:` kind), and where its /dev/shm comes from.
    public struct NamespacePeers: Sendable {
        public var network: Int32?
        public var pid: Int32?
        public var ipc: Int32?
        /// A host path bound at /dev/shm (the host's, or a shareable one).
        public var shm: String?

        public init(network: Int32? = nil, pid: Int32? = nil, ipc: Int32? = nil, shm: String? = nil) {
            self.network = network
            self.pid = pid
            self.ipc = ipc
            self.shm = shm
        }
    }

    /// Spawns a spare start helper for containers with an isolated (or bridged) network.
    public static func spawnSpare(runtime: Runtime) throws -> SpareHelper {
        let cgroup = runtime.cgroup(ContainerStore.newID())
        do {
            try cgroup.prepare()
        } catch {
            try? cgroup.destroy()
            throw error
        }
        let (parentEnd, childEnd) = try PacketSocket.pair()
        let null = try Sys.open("/dev/null", O_RDWR)
        defer { Sys.close(null) }
        let namespaces: Namespaces = [.pid, .mount, .uts, .ipc, .network]
        let pid: Int32, pidfd: Int32
        let unified = cgroup.openUnified()
        defer { if let unified { Sys.close(unified) } }
        // Born in the cgroup2 directory; the v1 hierarchies it joins itself (the fast way).
        let args = HelperMode.containerInit.arguments(["--join"] + cgroup.v1TaskFiles)
        do {
            (pid, pidfd) = try Sys.spawn(runtime.helper, args, environment: Trace.environment, fds: [null, null, null, childEnd.fd],
                                         namespaces: namespaces, cgroup: unified ?? -1, parentDeathSignal: SIGKILL)
        } catch {
            childEnd.close()
            parentEnd.close()
            try? cgroup.destroy()
            throw error
        }
        childEnd.close()
        return SpareHelper(pid: pid, pidfd: pidfd, channel: parentEnd, cgroup: cgroup)
    }

    /// Writes the bundle hooks read (`<container>/bundle/config.json`) and hands the launch its hooks;
    /// the state document, with `%STATUS%` for the point that runs it.
    static func prepareHooks(_ spec: ContainerSpec, _ hooks: OCIHooks, pending: PendingLaunch, runtime: Runtime) throws(SystemError) -> String {
        let directory = runtime.containerDirectory(spec.id)
        let bundle = directory + "/bundle"
        if !Sys.isDirectory(bundle) { try Sys.mkdir(bundle, 0o700) }
        try Files.writeAtomically(bundle + "/config.json", HookRunner.bundleConfig(spec, root: RootFilesystem(directory: directory).merged), durable: false)
        let state = HookRunner.state(id: spec.id, status: "%STATUS%", pid: pending.pid, bundle: bundle, annotations: spec.annotations)
        pending.hooks = hooks
        pending.hookState = state
        return state
    }

    public static func begin(_ spec: ContainerSpec, runtime: Runtime, stdio: (Int32, Int32, Int32),
                             layerDirectories: [String], peers: NamespacePeers = NamespacePeers(), terminalSize: (UInt16, UInt16)? = nil,
                             spare: SpareHelper? = nil,
                             beforeRelease: (Int32) throws -> Void = { _ in }) throws -> PendingLaunch {
        let cgroup = runtime.cgroup(for: spec)
        Trace.mark("begin \(spec.name)")
        // Volumes by name become their data directories; new ones are filled from the image on mount.
        var spec = spec
        var copyUp: [String] = []
        // Mounts made now in the host's namespace (volume driver options, a shareable /dev/shm) are
        // not in the namespace a spare helper copied earlier: such a container takes a fresh helper.
        var madeHostMounts = peers.shm != nil && peers.shm != "/dev/shm"
        let volumes = VolumeStore(root: runtime.root)
        for m in spec.mounts where m.kind == .bind {
            guard let relabel = m.selinuxRelabel else { continue }
            do { try SELinux.relabel(m.source, shared: relabel == "z", containerID: spec.id) } catch {
                throw StartError(step: "relabel \(m.source)", message: error.description)
            }
        }
        for i in spec.mounts.indices where spec.mounts[i].kind == .volume {
            let name = spec.mounts[i].source
            do {
                try volumes.create(name, anonymous: true)
                try volumes.mountIfConfigured(name)
                if volumes.isMounted(name) { madeHostMounts = true }
            } catch {
                throw StartError(step: "create volume \(name)", message: error.description)
            }
            spec.mounts[i].source = volumes.dataPath(name)
            if !spec.mounts[i].noCopy && spec.mounts[i].subpath.isEmpty && !volumes.isInitialized(name) {
                copyUp.append(spec.mounts[i].destination)
            }
        }
        let (parentEnd, childEnd) = try PacketSocket.pair()

        var namespaces: Namespaces = [.mount]
        if spec.namespaces.pid == .own { namespaces.insert(.pid) }
        if spec.namespaces.ipc == .own { namespaces.insert(.ipc) }
        if spec.namespaces.uts == .own { namespaces.insert(.uts) }
        var sharedNetwork = true
        switch spec.network {
        case .isolated, .bridged:
            namespaces.insert(.network)
            sharedNetwork = false
        case .host, .container:
            break
        }
        var config = InitConfig(spec: spec, layerDirectories: layerDirectories,
                                containerDirectory: runtime.containerDirectory(spec.id), sharedNetwork: sharedNetwork)
        config.networkNamespace = peers.network.map { "/proc/\($0)/ns/net" }
        config.ipcNamespace = peers.ipc.map { "/proc/\($0)/ns/ipc" }
        config.ownCgroupNamespace = spec.namespaces.cgroup == .own
        config.shmSource = peers.shm
        var pidNamespace: Int32 = -1
        if let pid = peers.pid {
            do { pidNamespace = try Sys.open("/proc/\(pid)/ns/pid", O_RDONLY) } catch {
                throw StartError(step: "join pid namespace", message: error.description)
            }
        }
        defer { if pidNamespace >= 0 { Sys.close(pidNamespace) } }
        if case .container(let other) = spec.network { config.etcDirectory = runtime.containerDirectory(other) }
        config.copyUp = copyUp
        config.stateRoot = runtime.root.path
        if let filter = spec.security.seccomp { config.seccompProgram = SeccompCache.shared.program(filter, root: runtime.root) }

        if let terminalSize {
            config.terminalRows = terminalSize.0
            config.terminalColumns = terminalSize.1
        }

        if let spare, !spare.taken, !sharedNetwork, spec.namespaces.allOwn, !madeHostMounts, spec.cgroupParent == nil, spare.isAlive {
            spare.taken = true
            let pending = PendingLaunch(id: spec.id, pid: spare.pid, pidfd: spare.pidfd, channel: spare.channel, cgroup: spare.cgroup)
            Trace.mark("took spare helper \(spare.pid)")
            if let hooks = spec.hooks, !hooks.isEmpty {
                do { config.hookState = try prepareHooks(spec, hooks, pending: pending, runtime: runtime) } catch {
                    throw pending.abort("prepare hooks", error.description)
                }
            }
            do {
                try spare.cgroup.apply(resources: spec.resources, deviceRules: spec.deviceRules)
            } catch {
                throw pending.abort("create cgroup", error.description)
            }
            do {
                try spare.channel.send(try Wire.encode(config), fds: [stdio.0, stdio.1, stdio.2])
                try beforeRelease(spare.pid)
                try spare.channel.send(InitMessage.go)
            } catch let error as SystemError {
                throw pending.abort("prepare container", error.description)
            } catch {
                throw pending.abort("prepare container", "\(error)")
            }
            return pending
        }

        do {
            try cgroup.create(resources: spec.resources, deviceRules: spec.deviceRules)
        } catch {
            childEnd.close()
            parentEnd.close()
            try? cgroup.destroy()
            throw StartError(step: "create cgroup", message: error.description)
        }
        Trace.mark("created cgroup")
        // Born in the cgroup2 directory (CLONE_INTO_CGROUP); the helper moves itself into the v1
        // hierarchies. Kernels without CLONE_INTO_CGROUP get the classic cgroup.procs writes.
        var pidfd: Int32 = -1
        var pid: Int32 = -1
        var joinedAtBirth = false
        if let unified = cgroup.openUnified() {
            defer { Sys.close(unified) }
            if let spawned = try? Sys.spawn(runtime.helper, HelperMode.containerInit.arguments(), environment: Trace.environment,
                                            fds: [stdio.0, stdio.1, stdio.2, childEnd.fd], namespaces: namespaces, cgroup: unified,
                                            pidNamespace: pidNamespace) {
                (pid, pidfd) = spawned
                joinedAtBirth = true
            }
        }
        if pid < 0 {
            do {
                (pid, pidfd) = try Sys.spawn(runtime.helper, HelperMode.containerInit.arguments(), environment: Trace.environment,
                                             fds: [stdio.0, stdio.1, stdio.2, childEnd.fd], namespaces: namespaces,
                                             pidNamespace: pidNamespace)
            } catch {
                childEnd.close()
                parentEnd.close()
                try? cgroup.destroy()
                throw StartError(step: "start container process", message: error.description)
            }
        }
        childEnd.close()
        let pending = PendingLaunch(id: spec.id, pid: pid, pidfd: pidfd, channel: parentEnd, cgroup: cgroup)
        Trace.mark("spawned start helper \(pid)")
        config.joinCgroups = joinedAtBirth ? cgroup.v1TaskFiles : []
        if let hooks = spec.hooks, !hooks.isEmpty {
            do { config.hookState = try prepareHooks(spec, hooks, pending: pending, runtime: runtime) } catch {
                throw pending.abort("prepare hooks", error.description)
            }
        }
        do {
            try parentEnd.send(try Wire.encode(config))
            if !joinedAtBirth { try cgroup.join(pid: pid) }
            Trace.mark("config sent")
            try beforeRelease(pid)
            Trace.mark("networks attached")
            try parentEnd.send(InitMessage.go)
        } catch let error as SystemError {
            throw pending.abort("prepare container", error.description)
        } catch {
            throw pending.abort("prepare container", "\(error)")
        }
        return pending
    }
}
