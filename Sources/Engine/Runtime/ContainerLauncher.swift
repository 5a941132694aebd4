#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// Where the Engine finds its own executable (for the start and exec helpers) and its state.
public struct Runtime: Sendable {
    public var root: StateRoot
    /// The `swcompose` binary; `/proc/self/exe` when the running program is swcompose itself.
    public var helper: String

    public init(root: StateRoot, helper: String = "/proc/self/exe") {
        self.root = root
        self.helper = helper
    }

    public func containerDirectory(_ id: String) -> String { root.containers + "/" + id }

    /// The cgroup of a container: `swcompose/<id>` in every hierarchy.
    public func cgroup(_ id: String) -> Cgroup { Cgroup(path: "swcompose/" + id) }
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

/// Starts a container: creates its cgroup, spawns the start helper into new namespaces, hands it the
/// spec, joins it to the cgroup, releases it, and waits until its process is exec'd or a step failed.
public enum ContainerLauncher {
    public static func launch(_ spec: ContainerSpec, runtime: Runtime, stdio: (Int32, Int32, Int32),
                              layerDirectories: [String], joinNetworkOf: Int32? = nil,
                              beforeRelease: (Int32) throws -> Void = { _ in }) throws -> LaunchedProcess {
        let cgroup = runtime.cgroup(spec.id)
        do {
            try cgroup.create(resources: spec.resources, deviceRules: spec.deviceRules)
        } catch {
            try? cgroup.destroy()
            throw StartError(step: "create cgroup", message: error.description)
        }
        let (parentEnd, childEnd) = try PacketSocket.pair()
        defer { parentEnd.close() }

        var flags = UInt64(CL_CLONE_NEWPID) | UInt64(CL_CLONE_NEWNS) | UInt64(CL_CLONE_NEWUTS) | UInt64(CL_CLONE_NEWIPC)
        var sharedNetwork = true
        if case .isolated = spec.network {
            flags |= UInt64(CL_CLONE_NEWNET)
            sharedNetwork = false
        }
        var config = InitConfig(spec: spec, layerDirectories: layerDirectories,
                                containerDirectory: runtime.containerDirectory(spec.id), sharedNetwork: sharedNetwork)
        config.networkNamespace = joinNetworkOf.map { "/proc/\($0)/ns/net" }
        let payload = try Wire.encode(config)

        var pidfd: Int32 = -1
        let pid: Int32
        do {
            pid = try spawn(runtime.helper, ["swcompose", "__init"], env: [],
                            fds: [stdio.0, stdio.1, stdio.2, childEnd.fd], flags: flags, pidfd: &pidfd)
        } catch {
            childEnd.close()
            try? cgroup.destroy()
            throw StartError(step: "start container process", message: error.description)
        }
        childEnd.close()

        func abort(_ step: String, _ message: String) -> StartError {
            _ = cl_pidfd_send_signal(pidfd, SIGKILL, 0)
            var code: Int32 = 0, status: Int32 = 0
            _ = cl_waitid_pidfd(pidfd, &code, &status, WEXITED)
            Sys.close(pidfd)
            try? cgroup.destroy()
            return StartError(step: step, message: message)
        }

        do {
            try parentEnd.send(payload)
            try cgroup.join(pid: pid)
            try beforeRelease(pid)
            try parentEnd.send(InitMessage.go)
        } catch let error as SystemError {
            throw abort("prepare container", error.description)
        } catch {
            throw abort("prepare container", "\(error)")
        }

        var terminal: Int32?
        var execing = false
        while true {
            let message: (bytes: [UInt8], fds: [Int32])?
            do {
                message = try parentEnd.receive(maximum: 1 << 16)
            } catch {
                if let terminal { Sys.close(terminal) }
                throw abort("start container process", error.description)
            }
            guard let message else { break }
            if message.bytes.first == InitMessage.ttyPrefix, let fd = message.fds.first {
                terminal = fd
                continue
            }
            for fd in message.fds { Sys.close(fd) }
            if message.bytes == InitMessage.exec {
                execing = true
                continue
            }
            if message.bytes.first == InitMessage.errorPrefix {
                if let terminal { Sys.close(terminal) }
                let (step, text) = InitMessage.parseError(message.bytes)
                throw abort(step, text)
            }
        }
        // The socket closed (it is close-on-exec): the process was exec'd, unless the helper died first.
        guard execing else {
            if let terminal { Sys.close(terminal) }
            throw abort("start container process", "the start helper exited before the process started")
        }
        return LaunchedProcess(pid: pid, pidfd: pidfd, terminal: terminal)
    }

    /// clone3 + execve of `path` with the given descriptors as 0, 1, 2, 3…
    static func spawn(_ path: String, _ args: [String], env: [String], fds: [Int32], flags: UInt64,
                      pidfd: inout Int32, newSession: Bool = false) throws(SystemError) -> Int32 {
        var cargs = args.map { strdup($0) } + [nil]
        var cenv = env.map { strdup($0) } + [nil]
        defer {
            for p in cargs { free(p) }
            for p in cenv { free(p) }
        }
        var fdList = fds
        var outPidfd: Int32 = -1
        let pid = path.withCString { cpath in
            cargs.withUnsafeMutableBufferPointer { a in
                cenv.withUnsafeMutableBufferPointer { e in
                    fdList.withUnsafeMutableBufferPointer { f in
                        var attr = cl_spawn_attr()
                        attr.path = cpath
                        attr.argv = UnsafePointer(a.baseAddress)
                        attr.envp = UnsafePointer(e.baseAddress)
                        attr.fds = UnsafePointer(f.baseAddress)
                        attr.nfds = Int32(f.count)
                        attr.flags = flags
                        attr.cgroup_fd = -1
                        attr.new_session = newSession ? 1 : 0
                        attr.controlling_tty = -1
                        attr.parent_death_signal = 0
                        return cl_spawn(&attr, &outPidfd)
                    }
                }
            }
        }
        if pid < 0 { throw SystemError("spawn", path) }
        pidfd = outPidfd
        return pid
    }
}
