#if canImport(Glibc)
import Glibc
#endif
import CLinux
import Synchronization

/// Namespaces, by their `CLONE_NEW*` flags.
public struct Namespaces: OptionSet, Sendable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    public static let mount = Namespaces(rawValue: UInt64(CL_CLONE_NEWNS))
    public static let uts = Namespaces(rawValue: UInt64(CL_CLONE_NEWUTS))
    public static let ipc = Namespaces(rawValue: UInt64(CL_CLONE_NEWIPC))
    public static let network = Namespaces(rawValue: UInt64(CL_CLONE_NEWNET))
    public static let pid = Namespaces(rawValue: UInt64(CL_CLONE_NEWPID))
    public static let cgroup = Namespaces(rawValue: UInt64(CL_CLONE_NEWCGROUP))
    public static let user = Namespaces(rawValue: UInt64(CL_CLONE_NEWUSER))
}

/// Processes: spawning (clone3 + execve in C, safe from a multithreaded parent), pidfds, signals,
/// namespaces, credentials, capabilities and the other per-process settings a container's first
/// process gets.
extension Sys {
    /// How processes are cloned: clone3 (Linux 5.3; born in their cgroup with CLONE_INTO_CGROUP, 5.7),
    /// or clone(2) where clone3 is missing or filtered (a seccomp profile such as docker's answers
    /// ENOSYS): the child then joins its cgroup itself before execve.
    public enum SpawnMethod: Int, Sendable {
        case clone3 = 0, legacyClone = 1

        /// The method to retry with after clone3 failed with `errno`, if any: ENOSYS (no clone3, or a
        /// filter), E2BIG (a clone3 older than CLONE_INTO_CGROUP's larger arguments).
        public static func fallback(afterClone3Error code: Int32) -> SpawnMethod? {
            code == ENOSYS || code == E2BIG ? .legacyClone : nil
        }
    }

    /// The method this process uses, learnt from the first clone3 that fails as `fallback` says.
    static let spawnMethod = Atomic<Int>(SpawnMethod.clone3.rawValue)

    /// clone3 + execve of `path` with `fds` as its descriptors 0, 1, 2, 3…, in new `namespaces`, born
    /// in the cgroup2 directory `cgroup` (CLONE_INTO_CGROUP) when one is given. The child runs only C
    /// until execve. Returns its pid and pidfd.
    /// `pidNamespace` (a descriptor of an existing pid namespace) makes the child a member of it (it is
    /// then not that namespace's init).
    public static func spawn(_ path: String, _ args: [String], environment: [String], fds: [Int32], namespaces: Namespaces = [],
                             cgroup: Int32 = -1, newSession: Bool = false, parentDeathSignal: Int32 = 0,
                             pidNamespace: Int32 = -1) throws(SystemError) -> (pid: Int32, pidfd: Int32) {
        var cargs = args.map { strdup($0) } + [nil]
        var cenv = environment.map { strdup($0) } + [nil]
        defer {
            for p in cargs { free(p) }
            for p in cenv { free(p) }
        }
        var fdList = fds
        func attempt(_ method: SpawnMethod) -> (pid: Int32, pidfd: Int32, error: Int32) {
            var outPidfd: Int32 = -1
            var error: Int32 = 0
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
                            attr.flags = namespaces.rawValue
                            attr.cgroup_fd = cgroup
                            attr.new_session = newSession ? 1 : 0
                            attr.controlling_tty = -1
                            attr.parent_death_signal = parentDeathSignal
                            attr.legacy_clone = method == .legacyClone ? 1 : 0
                            attr.pid_namespace_fd = pidNamespace
                            let pid = cl_spawn(&attr, &outPidfd)
                            error = errno
                            return pid
                        }
                    }
                }
            }
            return (pid, outPidfd, error)
        }
        let method = SpawnMethod(rawValue: spawnMethod.load(ordering: .relaxed)) ?? .clone3
        var result = attempt(method)
        if result.pid == -1, method == .clone3, let fallback = SpawnMethod.fallback(afterClone3Error: result.error) {
            spawnMethod.store(fallback.rawValue, ordering: .relaxed)
            result = attempt(fallback)
        }
        if result.pid < 0 { throw SystemError(result.pid == -1 ? "clone" : "spawn", path, code: result.error) }
        return (result.pid, result.pidfd)
    }

    /// fork() for the single-threaded helpers (never from a process with other threads).
    public static func fork() throws(SystemError) -> Int32 {
        try check("fork") { Glibc.fork() }
    }

    /// Waits for a child by pid; its status word.
    @discardableResult
    public static func waitpid(_ pid: Int32, nonBlocking: Bool = false) -> (pid: Int32, status: ExitStatus)? {
        var status: Int32 = 0
        while true {
            let r = Glibc.waitpid(pid, &status, nonBlocking ? WNOHANG : 0)
            if r < 0 && errno == EINTR { continue }
            return r > 0 ? (r, ExitStatus(waitStatus: status)) : nil
        }
    }

    public static func exit(_ code: Int32) -> Never { _exit(code) }

    /// execve; returns only on failure, with the error.
    public static func execute(_ path: String, _ args: [String], _ environment: [String]) -> SystemError {
        var cargs = args.map { strdup($0) } + [nil]
        var cenv = environment.map { strdup($0) } + [nil]
        execve(path, &cargs, &cenv)
        let error = SystemError("execve", path)
        for p in cargs { free(p) }
        for p in cenv { free(p) }
        return error
    }

    /// Kills a child that is no longer wanted, reaps it and closes its pidfd.
    public static func killAndReap(pidfd: Int32) {
        signal(pidfd: pidfd, SIGKILL)
        _ = try? wait(pidfd: pidfd)
        close(pidfd)
    }

    /// Any child that has exited, without waiting (as an init reaps): its pid and status.
    public static func reapAny() -> (pid: Int32, status: ExitStatus)? {
        var status: Int32 = 0
        let pid = Glibc.waitpid(-1, &status, WNOHANG)
        return pid > 0 ? (pid, ExitStatus(waitStatus: status)) : nil
    }

    /// Puts `pid` (0: this process) in the process group `group` (0: its own).
    public static func setProcessGroup(_ pid: Int32, _ group: Int32) { _ = setpgid(pid, group) }

    /// Blocks every signal (or, with `all: false`, none); the mask before.
    @discardableResult
    public static func setSignalMask(blockingAll all: Bool) -> sigset_t {
        var set = sigset_t(), old = sigset_t()
        if all { sigfillset(&set) } else { sigemptyset(&set) }
        sigprocmask(SIG_SETMASK, &set, &old)
        return old
    }

    /// Waits for any of the blocked signals in `mask`; the signal.
    public static func waitForSignal(in mask: sigset_t) -> Int32 {
        var m = mask
        var sig: Int32 = 0
        while sigwait(&m, &sig) != 0 {}
        return sig
    }

    public static func pidfd(_ pid: Int32) throws(SystemError) -> Int32 {
        try check("pidfd_open") { cl_pidfd_open(pid, 0) }
    }

    /// Sends a signal through a pidfd (never to a recycled pid); false when it could not be sent.
    @discardableResult
    public static func signal(pidfd: Int32, _ signal: Int32) -> Bool {
        cl_pidfd_send_signal(pidfd, signal, 0) == 0
    }

    // MARK: Signals

    public static func blockSignals(_ signals: [Int32]) {
        _ = signals.withUnsafeBufferPointer { cl_block_signals($0.baseAddress, Int32($0.count)) }
    }

    public static func unblockAllSignals() { _ = cl_unblock_all_signals() }

    /// A signalfd for `signals` (which must be blocked), close-on-exec and non-blocking.
    public static func signalDescriptor(_ signals: [Int32]) throws(SystemError) -> Int32 {
        try check("signalfd") { signals.withUnsafeBufferPointer { cl_signalfd(-1, $0.baseAddress, Int32($0.count), O_CLOEXEC | O_NONBLOCK) } }
    }

    /// The signals waiting on a signalfd (each 128-byte record starts with the signal number).
    public static func readSignals(_ fd: Int32) -> [Int32] {
        var signals: [Int32] = []
        var info = [UInt8](repeating: 0, count: 128)
        while info.withUnsafeMutableBytes({ Glibc.read(fd, $0.baseAddress, 128) }) == 128 {
            signals.append(info.withUnsafeBytes { Int32(bitPattern: $0.load(as: UInt32.self)) })
        }
        return signals
    }

    /// Blocks until signals arrive on a (non-blocking) signalfd; the signals read.
    public static func waitForSignals(_ fd: Int32) -> [Int32] {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while true {
            let got = readSignals(fd)
            if !got.isEmpty { return got }
            _ = Glibc.poll(&p, 1, -1)
        }
    }

    public static func ignore(_ signal: Int32) { Glibc.signal(signal, SIG_IGN) }

    /// Ignores `signals` until `restoreSignals` puts back what was there.
    public static func ignoreSignals(_ signals: [Int32]) -> [(Int32, sigaction)] {
        var ignore = sigaction()
        ignore.__sigaction_handler.sa_handler = SIG_IGN
        var saved: [(Int32, sigaction)] = []
        for sig in signals {
            var old = sigaction()
            sigaction(sig, &ignore, &old)
            saved.append((sig, old))
        }
        return saved
    }

    public static func restoreSignals(_ saved: [(Int32, sigaction)]) {
        for (sig, action) in saved {
            var a = action
            sigaction(sig, &a, nil)
        }
    }

    // MARK: Namespaces

    /// Joins the namespaces of the process behind `fd` (a pidfd: several at once, Linux 5.8+) or of
    /// one namespace file.
    public static func enterNamespaces(_ fd: Int32, _ namespaces: Namespaces) throws(SystemError) {
        try check("setns") { cl_setns(fd, Int32(truncatingIfNeeded: namespaces.rawValue)) }
    }

    /// How to join several namespaces of a process: one setns on its pidfd (Linux 5.8), or one per
    /// `/proc/<pid>/ns/<name>` file on kernels whose setns takes no pidfd (they answer EINVAL).
    public enum NamespaceJoin: Sendable, Equatable {
        case pidfd, files

        public static func fallback(afterPidfdSetnsError code: Int32) -> NamespaceJoin? { code == EINVAL ? .files : nil }

        /// `/proc/<pid>/ns` names in the order they are joined: the mount namespace last, since joining
        /// it changes what paths mean (every file is opened before any is joined).
        static let order: [(Namespaces, String)] = [(.ipc, "ipc"), (.uts, "uts"), (.network, "net"), (.pid, "pid"),
                                                    (.cgroup, "cgroup"), (.mount, "mnt")]
    }

    /// Joins `namespaces` of process `pid` (whose pidfd is `pidfd`): with one setns on the pidfd, or,
    /// where the kernel's setns takes no pidfd, one per namespace file.
    public static func enterNamespaces(of pid: Int32, pidfd: Int32, _ namespaces: Namespaces) throws(SystemError) {
        if cl_setns(pidfd, Int32(truncatingIfNeeded: namespaces.rawValue)) == 0 { return }
        let code = errno
        guard NamespaceJoin.fallback(afterPidfdSetnsError: code) == .files else { throw SystemError("setns", code: code) }
        var files: [(Int32, String)] = []
        defer { for (fd, _) in files { close(fd) } }
        for (kind, name) in NamespaceJoin.order where namespaces.contains(kind) {
            files.append((try open("/proc/\(pid)/ns/\(name)", O_RDONLY), name))
        }
        for (fd, name) in files {
            try check("setns", name) { cl_setns(fd, 0) }
        }
    }

    public static func unshare(_ namespaces: Namespaces) throws(SystemError) {
        try check("unshare") { cl_unshare(Int32(truncatingIfNeeded: namespaces.rawValue)) }
    }

    public static func setHostname(_ name: String) throws(SystemError) {
        try check("sethostname") { cl_sethostname(name, name.utf8.count) }
    }

    public static func setDomainname(_ name: String) throws(SystemError) {
        try check("setdomainname") { cl_setdomainname(name, name.utf8.count) }
    }

    public static func newSession() { _ = setsid() }

    public static func changeDirectory(_ path: String) throws(SystemError) {
        try check("chdir", path) { chdir(path) }
    }

    // MARK: Credentials and capabilities

    /// setgroups, setresgid, setresuid, as raw system calls (glibc's wrappers would broadcast the
    /// change to threads a single-threaded helper does not have).
    public static func setCredentials(uid: UInt32, gid: UInt32, groups: [UInt32]) throws(SystemError) {
        var list = groups
        try check("setgroups") { list.withUnsafeMutableBufferPointer { cl_setgroups($0.count, $0.baseAddress) } }
        try check("setresgid") { cl_setresgid(gid, gid, gid) }
        try check("setresuid") { cl_setresuid(uid, uid, uid) }
    }

    /// The three capability sets, as two 32-bit words each (capset's version 3).
    public static func setCapabilities(effective: [UInt32], permitted: [UInt32], inheritable: [UInt32]) throws(SystemError) {
        try check("capset") { cl_capset(effective, permitted, inheritable) }
    }

    public static func capabilities() -> (effective: [UInt32], permitted: [UInt32], inheritable: [UInt32])? {
        var e: [UInt32] = [0, 0], p: [UInt32] = [0, 0], i: [UInt32] = [0, 0]
        guard cl_capget(&e, &p, &i) == 0 else { return nil }
        return (e, p, i)
    }

    /// Whether `capability` is in the bounding set (false past the kernel's last one).
    public static func hasBoundingCapability(_ capability: Int) -> Bool {
        cl_prctl(PR_CAPBSET_READ, UInt(capability), 0, 0, 0) == 1
    }

    /// Drops a capability from the bounding set; unknown ones (EINVAL) are fine.
    public static func dropBoundingCapability(_ capability: Int) throws(SystemError) {
        if cl_prctl(PR_CAPBSET_DROP, UInt(capability), 0, 0, 0) != 0 && errno != EINVAL { throw SystemError("prctl(PR_CAPBSET_DROP)") }
    }

    public static func setKeepCapabilities(_ keep: Bool) throws(SystemError) {
        try check("prctl(PR_SET_KEEPCAPS)") { cl_prctl(PR_SET_KEEPCAPS, keep ? 1 : 0, 0, 0, 0) }
    }

    public static func clearAmbientCapabilities() {
        _ = cl_prctl(PR_CAP_AMBIENT, UInt(PR_CAP_AMBIENT_CLEAR_ALL), 0, 0, 0)
    }

    public static func setNoNewPrivileges() throws(SystemError) {
        try check("prctl(PR_SET_NO_NEW_PRIVS)") { cl_prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) }
    }

    /// The signal the process gets when its parent dies (0: none).
    /// The calling thread's name (`comm`, at most 15 bytes), as `ps` and /proc/PID/comm show it.
    public static func setProcessName(_ name: String) {
        var bytes = Array(name.utf8.prefix(15)) + [0]
        _ = bytes.withUnsafeMutableBytes { cl_prctl(PR_SET_NAME, UInt(bitPattern: $0.baseAddress), 0, 0, 0) }
    }

    public static func setParentDeathSignal(_ signal: Int32) {
        _ = cl_prctl(PR_SET_PDEATHSIG, UInt(signal), 0, 0, 0)
    }

    public static func setResourceLimit(_ resource: Int32, soft: UInt64, hard: UInt64) throws(SystemError) {
        var limit = rlimit(rlim_cur: rlim_t(soft), rlim_max: rlim_t(hard))
        try check("setrlimit") { setrlimit(__rlimit_resource_t(UInt32(resource)), &limit) }
    }

    /// Loads a classic BPF seccomp program (8 bytes per instruction).
    public static func loadSeccomp(_ program: [UInt8]) throws(SystemError) {
        try check("seccomp") { program.withUnsafeBytes { cl_seccomp_load($0.baseAddress, $0.count) } }
    }

    /// Loads a BPF_PROG_TYPE_CGROUP_DEVICE program and attaches it to a cgroup2 directory; on failure
    /// the error and the verifier's log.
    /// Loads an eBPF program of `type` and attaches it to a cgroup2 directory at `attachType`; on failure
    /// the error and the verifier's log.
    static func attachCgroupProgram(cgroup fd: Int32, type: Int32, attachType: Int32, instructions: [UInt8]) -> (error: SystemError, log: String)? {
        var log = [CChar](repeating: 0, count: 1 << 14)
        let r = instructions.withUnsafeBytes { b in
            cl_attach_cgroup_program(fd, type, attachType, b.baseAddress, instructions.count / 8, &log, log.count)
        }
        if r == 0 { return nil }
        return (SystemError("attach cgroup program"), String(cString: log))
    }

    public static func attachDeviceFilter(cgroup fd: Int32, instructions: [UInt8]) -> (error: SystemError, log: String)? {
        var log = [CChar](repeating: 0, count: 1 << 16)
        let r = instructions.withUnsafeBytes { b in cl_attach_device_filter(fd, b.baseAddress, instructions.count / 8, &log, log.count) }
        if r == 0 { return nil }
        let error = SystemError("attach device filter")
        return (error, String(cString: log))
    }
}
