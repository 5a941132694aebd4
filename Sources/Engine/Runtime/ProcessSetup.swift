#if canImport(Glibc)
import Glibc
#endif
import CLinux

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
            var st = stat()
            guard stat(path, &st) == 0 else { return errno }
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
                if cl_prctl(PR_CAPBSET_DROP, UInt(cap), 0, 0, 0) != 0 && errno != EINVAL {
                    throw SystemError("prctl(PR_CAPBSET_DROP, \(Capabilities.names.indices.contains(cap) ? Capabilities.names[cap] : String(cap)))")
                }
            }
            try Sys.check("prctl(PR_SET_KEEPCAPS)") { cl_prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) }
        }
        try ContainerInit.step("set user \(user.uid):\(user.gid)") {
            var groups = user.groups
            try Sys.check("setgroups") { groups.withUnsafeMutableBufferPointer { cl_setgroups($0.count, $0.baseAddress) } }
            try Sys.check("setresgid") { cl_setresgid(user.gid, user.gid, user.gid) }
            try Sys.check("setresuid") { cl_setresuid(user.uid, user.uid, user.uid) }
        }
        try ContainerInit.step("set capabilities") {
            try Sys.check("prctl(PR_SET_KEEPCAPS)") { cl_prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) }
            let (low, high) = Capabilities.mask(security.capabilities)
            let set: [UInt32] = [low, high]
            let none: [UInt32] = [0, 0]
            try Sys.check("capset") { cl_capset(set, set, none) }
            _ = cl_prctl(PR_CAP_AMBIENT, UInt(PR_CAP_AMBIENT_CLEAR_ALL), 0, 0, 0)
        }
        try ContainerInit.step("chdir") {
            if chdir(workingDir) != 0 {
                throw SystemError("chdir to cwd (\"\(workingDir)\") set in config.json failed")
            }
        }
        if security.noNewPrivileges {
            try ContainerInit.step("no_new_privs") { try Sys.check("prctl(PR_SET_NO_NEW_PRIVS)") { cl_prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } }
            if let program {
                do { try loadSeccompProgram(program) } catch { throw StepFailure("seccomp", error) }
            }
        }
    }

    /// execve; returns only on failure.
    static func exec(_ path: String, _ args: [String], _ env: [String]) -> SystemError {
        var cargs = args.map { strdup($0) } + [nil]
        var cenv = env.map { strdup($0) } + [nil]
        execve(path, &cargs, &cenv)
        let error = SystemError("execve", path)
        for p in cargs { free(p) }
        for p in cenv { free(p) }
        return error
    }
}

/// A pseudo-terminal made in the container's own devpts instance, so that the container sees
/// `/dev/pts/0` and its /dev/console.
struct PseudoTerminal {
    let master: Int32
    let slave: Int32
    let number: Int32

    static func open(devRoot: String) throws(SystemError) -> PseudoTerminal {
        let master = try Sys.open(devRoot + "/pts/ptmx", O_RDWR | O_NOCTTY)
        var unlock: Int32 = 0
        try Sys.check("unlockpt") { cl_ioctl_int(master, CL_TIOCSPTLCK, &unlock) }
        var number: Int32 = 0
        try Sys.check("ptsname") { cl_ioctl_int(master, CL_TIOCGPTN, &number) }
        let slave = try Sys.open(devRoot + "/pts/\(number)", O_RDWR | O_NOCTTY)
        return PseudoTerminal(master: master, slave: slave, number: number)
    }

    /// Makes the slave the controlling terminal and the standard descriptors.
    func makeControlling() throws(SystemError) {
        try Sys.check("ioctl(TIOCSCTTY)") { cl_ioctl_int(slave, UInt(CL_TIOCSCTTY), nil) }
        for fd in Int32(0)...2 { try Sys.check("dup2") { dup2(slave, fd) } }
        if slave > 2 { Sys.close(slave) }
    }
}

/// `init: true`: PID 1 stays a small init that forwards signals to the container's process and reaps
/// every orphan, exiting with the process's status (as docker-init/tini do).
enum MiniInit {
    static func run(executable: String, args: [String], env: [String], sync: PacketSocket, foreground: Bool) -> Never {
        var all = sigset_t()
        sigfillset(&all)
        var old = sigset_t()
        sigprocmask(SIG_SETMASK, &all, &old)
        let child = fork()
        if child == 0 {
            setpgid(0, 0)
            var none = sigset_t()
            sigemptyset(&none)
            sigprocmask(SIG_SETMASK, &none, nil)
            let failure = ProcessSetup.exec(executable, args, env)
            try? sync.send(InitMessage.error(step: "exec", message: "exec: \"\(args.first ?? "")\": \(ProcessSetup.goStyle(failure.code))"))
            _exit(127)
        }
        if child < 0 {
            try? sync.send(InitMessage.error(step: "init", message: SystemError("fork").description))
            exit(1)
        }
        setpgid(child, child)
        if foreground { tcsetpgrp(0, child) }
        sync.close()
        while true {
            var info = siginfo_t()
            let sig = sigwaitinfo(&all, &info)
            if sig < 0 { continue }
            if sig == SIGCHLD {
                while true {
                    var status: Int32 = 0
                    let pid = waitpid(-1, &status, WNOHANG)
                    if pid <= 0 { break }
                    if pid == child {
                        let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
                        exit(code)
                    }
                }
            } else {
                kill(child, sig)
            }
        }
    }
}
