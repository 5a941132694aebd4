#if canImport(Glibc)
import Glibc
#endif

/// The last steps before a container process is exec'd, shared by the start helper and `exec`:
/// rlimits, the user, capabilities, no_new_privs, seccomp, the working directory and the PATH lookup.
enum ProcessSetup {
    /// Linux's RLIMIT_* numbers by compose's ulimit names.
    static let rlimitNames: [String: Int32] = [
        "cpu": 0, "fsize": 1, "data": 2, "stack": 3, "core": 4, "rss": 5, "nproc": 6, "nofile": 7, "memlock": 8,
        "as": 9, "locks": 10, "sigpending": 11, "msgqueue": 12, "nice": 13, "rtprio": 14, "rttime": 15,
    ]

    static func applyRlimits(_ limits: [ResourceLimit]) throws(SystemError) {
        for l in limits {
            guard let resource = rlimitNames[l.name] else { throw SystemError("setrlimit \(l.name)", code: EINVAL) }
            var value = rlimit(rlim_cur: rlim_t(l.soft), rlim_max: rlim_t(l.hard))
            try Sys.check("setrlimit \(l.name)=\(l.soft):\(l.hard)") { setrlimit(__rlimit_resource_t(UInt32(resource)), &value) }
        }
    }

    static func resolveUser(_ spec: String, additional: [String]) throws(StepFailure) -> ExecUser {
        let passwd = try? Files.readText("/etc/passwd")
        let group = try? Files.readText("/etc/group")
        do {
            return try UserDatabase.resolve(spec, additional: additional, passwd: passwd, group: group)
        } catch {
            throw StepFailure("resolve user", error.description)
        }
    }

    /// The container's standard input, output and error (pipes, FIFOs) become its user's, as runc
    /// makes them, so that a process that is not root can reopen `/dev/stdout` (nginx's access log,
    /// an entrypoint's `exec > /dev/stderr`). /dev/null and what the user owns already stay as they are.
    static func giveStdio(to user: ExecUser) {
        guard let null = try? Sys.fileStatus("/dev/null", follow: true) else { return }
        for fd: Int32 in 0...2 {
            guard let st = try? Sys.fstat(fd), st.st_uid != user.uid, st.st_rdev != null.st_rdev else { continue }
            try? Sys.fchown(fd, user.uid, gid_t.max)
        }
    }

    /// runc sets HOME from the passwd entry when the environment has none.
    static func completeEnvironment(_ env: inout [String], home: String) {
        if !env.contains(where: { $0.hasPrefix("HOME=") }) { env.append("HOME=" + home) }
    }

    static func value(_ name: String, in env: [String]) -> String? {
        let prefix = name + "="
        return env.last(where: { $0.hasPrefix(prefix) }).map { String($0.dropFirst(prefix.count)) }
    }

    /// The container's seccomp program, compiled (or taken from the cache under the state root).
    static func seccompProgram(_ security: SecuritySpec, stateRoot: String?) throws(StepFailure) -> [UInt8]? {
        guard let filter = security.seccomp else { return nil }
        do {
            return try filter.program(cacheDirectory: stateRoot.map { $0 + "/seccomp" })
        } catch {
            throw StepFailure("seccomp", error)
        }
    }

    /// Finds the program as runc does (`exec.LookPath` with the container's PATH).
    static func lookPath(_ name: String, env: [String]) throws(StepFailure) -> String {
        guard !name.isEmpty else { throw StepFailure("exec", "no command specified") }
        func executable(_ path: String) -> Int32 {
            let st: stat
            do { st = try Sys.fileStatus(path, follow: true) } catch { return error.code }
            if (st.st_mode & S_IFMT) == S_IFDIR { return EISDIR }
            if st.st_mode & 0o111 == 0 { return EACCES }
            return 0
        }
        if name.contains("/") {
            let e = executable(name)
            if e == 0 { return name }
            throw StepFailure("exec", "exec: \"\(name)\": \(goStyle(e))")
        }
        let path = value("PATH", in: env) ?? ""
        for dir in path.split(separator: ":", omittingEmptySubsequences: false) {
            let candidate = (dir.isEmpty ? "." : String(dir)) + "/" + name
            if executable(candidate) == 0 { return candidate }
        }
        throw StepFailure("exec", "exec: \"\(name)\": executable file not found in $PATH")
    }

    /// An errno's text the way Go (and so runc and docker) prints it: lower-case.
    static func goStyle(_ code: Int32) -> String {
        let text = String(cString: strerror(code))
        guard let first = text.first else { return text }
        return first.lowercased() + text.dropFirst()
    }

    /// Capabilities, user, no_new_privs, seccomp and the working directory, in runc's order. Without
    /// no_new_privileges the seccomp filter goes in first, while CAP_SYS_ADMIN is still held.
    static func confine(security: SecuritySpec, user: ExecUser, workingDir: String, seccomp program: [UInt8]?) throws(StepFailure) {
        if !security.noNewPrivileges, let program {
            do { try loadSeccompProgram(program) } catch { throw StepFailure("seccomp", error) }
        }
        let keep = Set(security.capabilities.compactMap(Capabilities.number))
        let last = Capabilities.lastCap
        try ContainerInit.step("drop bounding capabilities") {
            for cap in 0...last where !keep.contains(cap) {
                do throws(SystemError) {
                    try Sys.dropBoundingCapability(cap)
                } catch {
                    throw SystemError("prctl(PR_CAPBSET_DROP, \(Capabilities.names.indices.contains(cap) ? Capabilities.names[cap] : String(cap)))", code: error.code)
                }
            }
            try Sys.setKeepCapabilities(true)
        }
        try ContainerInit.step("set user \(user.uid):\(user.gid)") {
            try Sys.setCredentials(uid: user.uid, gid: user.gid, groups: user.groups)
        }
        try ContainerInit.step("set capabilities") {
            try Sys.setKeepCapabilities(false)
            let (low, high) = Capabilities.mask(security.capabilities)
            let set: [UInt32] = [low, high]
            let none: [UInt32] = [0, 0]
            try Sys.setCapabilities(effective: set, permitted: set, inheritable: none)
            Sys.clearAmbientCapabilities()
        }
        try ContainerInit.step("chdir") {
            do throws(SystemError) {
                try Sys.changeDirectory(workingDir)
            } catch {
                throw SystemError("chdir to cwd (\"\(workingDir)\") set in config.json failed", code: error.code)
            }
        }
        if security.noNewPrivileges {
            try ContainerInit.step("no_new_privs") { try Sys.setNoNewPrivileges() }
            if let program {
                do { try loadSeccompProgram(program) } catch { throw StepFailure("seccomp", error) }
            }
        }
    }

    /// execve; returns only on failure.
    static func exec(_ path: String, _ args: [String], _ env: [String]) -> SystemError {
        Sys.execute(path, args, env)
    }
}

/// `init: true`: PID 1 stays a small init that forwards signals to the container's process and reaps
/// every orphan, exiting with the process's status (as docker-init/tini do). Signals stay blocked and
/// are read from a signalfd, so that /proc shows them blocked: a stop then knows PID 1 takes its
/// signal (a `sigwait` unblocks them while it waits, and the stop would conclude they are dropped).
enum MiniInit {
    static func run(executable: String, args: [String], env: [String], sync: PacketSocket, foreground: Bool) -> Never {
        // Named as docker's init, which is what tools in the container look for.
        Sys.setProcessName("docker-init")
        Sys.setSignalMask(blockingAll: true)
        let catchable = (1...64).map(Int32.init).filter { $0 != SIGKILL && $0 != SIGSTOP }
        let signals: Int32
        do { signals = try Sys.signalDescriptor(catchable) } catch {
            try? sync.send(InitMessage.error(step: "init", message: error.description))
            Sys.exit(1)
        }
        let child: Int32
        do { child = try Sys.fork() } catch {
            try? sync.send(InitMessage.error(step: "init", message: error.description))
            Sys.exit(1)
        }
        if child == 0 {
            Sys.close(signals)
            Sys.setProcessGroup(0, 0)
            Sys.setSignalMask(blockingAll: false)
            let failure = ProcessSetup.exec(executable, args, env)
            try? sync.send(InitMessage.error(step: "exec", message: "exec: \"\(args.first ?? "")\": \(ProcessSetup.goStyle(failure.code))"))
            Sys.exit(127)
        }
        Sys.setProcessGroup(child, child)
        if foreground { TerminalIO.setForegroundGroup(child) }
        sync.close()
        while true {
            for sig in Sys.waitForSignals(signals) {
                if sig == SIGCHLD {
                    while let (pid, status) = Sys.reapAny() {
                        if pid == child { Sys.exit(status.code) }
                    }
                } else {
                    Sys.signal(child, sig)
                }
            }
        }
    }
}
