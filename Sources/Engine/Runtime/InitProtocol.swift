#if canImport(Glibc)
import Glibc
#endif

/// What the launcher hands the container's start helper over the sync socket.
struct InitConfig: Codable {
    var spec: ContainerSpec
    /// Unpacked layer directories, bottom first.
    var layerDirectories: [String]
    /// The container's directory (upper, work, merged, hostname, hosts, resolv.conf).
    var containerDirectory: String
    /// The container shares the host's (or another container's) network namespace.
    var sharedNetwork: Bool
    /// A network namespace to join (`/proc/<pid>/ns/net` of another container).
    var networkNamespace: String?
    /// The directory whose hostname, hosts and resolv.conf the container mounts, when it is not the
    /// container's own (that of the container whose network it joins).
    var etcDirectory: String?
    /// An IPC namespace to join (`/proc/<pid>/ns/ipc` of another container).
    var ipcNamespace: String?
    /// A cgroup namespace of its own (else the host's, as dockerd on cgroup v1).
    var ownCgroupNamespace = true
    /// A host path bound at /dev/shm instead of a tmpfs of its own (the host's /dev/shm, or the
    /// shareable /dev/shm of the container whose IPC namespace it joins, or its own shareable one).
    var shmSource: String?
    /// Mount points whose new, empty volume is filled from the image first (docker's copy-up).
    var copyUp: [String] = []
    /// cgroup v1 `tasks` files the helper moves itself into (it was born in the cgroup2 one).
    var joinCgroups: [String] = []
    /// The seccomp filter already compiled to BPF by the launcher (nil: the helper compiles it).
    var seccompProgram: [UInt8]?
    /// `$SWCOMPOSE_ROOT` (compiled seccomp programs are cached under it).
    var stateRoot: String?
    /// The OCI state hooks read on their stdin (the helper's pid, as the host sees it), with `%STATUS%`
    /// for the lifecycle point; nil when the container has no hooks.
    var hookState: String?
    /// The terminal's size, when the caller attaches one.
    var terminalRows: UInt16 = 0
    var terminalColumns: UInt16 = 0
}

/// Messages on the sync socket (a SOCK_SEQPACKET pair: one message per packet).
///
///   launcher → helper: the `InitConfig`, then `go` once the cgroup is joined and the network is ready
///   helper → launcher: `T` with the pty master attached; `E` naming a failed step; `hooks` when its
///   mounts are made and the launcher is to run the createRuntime hooks (it answers `go` or an `E`);
///   `exec` right before execve, after which the socket closing (it is close-on-exec) means the
///   process was exec'd.
enum InitMessage {
    static let go: [UInt8] = Array("go".utf8)
    static let hooks: [UInt8] = Array("hooks".utf8)
    /// Sent right before execve: a closed socket after it means the exec succeeded.
    static let exec: [UInt8] = Array("exec".utf8)
    static let ttyPrefix: UInt8 = UInt8(ascii: "T")
    static let errorPrefix: UInt8 = UInt8(ascii: "E")

    /// An error report: `E<step>\t<message>`.
    static func error(step: String, message: String) -> [UInt8] {
        [errorPrefix] + Array(step.utf8) + [9] + Array(message.utf8)
    }

    static func parseError(_ bytes: [UInt8]) -> (step: String, message: String) {
        let body = bytes.dropFirst()
        if let tab = body.firstIndex(of: 9) {
            return (String(decoding: body[..<tab], as: UTF8.self), String(decoding: body[(tab + 1)...], as: UTF8.self))
        }
        return ("start", String(decoding: body, as: UTF8.self))
    }
}

