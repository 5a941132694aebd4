#if canImport(Glibc)
import Glibc
#endif

/// Linux capabilities by name, docker's default set, and `cap_add`/`cap_drop` resolution.
public enum Capabilities {
    /// Index = capability number.
    public static let names = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
        "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
        "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
        "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
        "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
        "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
    ]

    /// docker's default set (CapEff 00000000a80425fb).
    public static let dockerDefault = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
        "CAP_AUDIT_WRITE",
    ]

    public static func number(_ name: String) -> Int? { names.firstIndex(of: canonical(name)) }

    /// `net_admin`, `NET_ADMIN` and `CAP_NET_ADMIN` all name CAP_NET_ADMIN.
    public static func canonical(_ name: String) -> String {
        let upper = name.uppercased()
        return upper.hasPrefix("CAP_") ? upper : "CAP_" + upper
    }

    /// The highest capability this kernel knows.
    public static var lastCap: Int {
        if let text = try? Files.readText("/proc/sys/kernel/cap_last_cap"),
           let n = Int(text.trimmingWhitespace()) {
            return n
        }
        return names.count - 1
    }

    /// The capabilities this process may hand on (its bounding set): a privileged container gets
    /// these, where docker would fail on a host that withholds some.
    public static var ownBounding: [String] {
        var result: [String] = []
        for cap in 0...min(lastCap, names.count - 1) where Sys.hasBoundingCapability(cap) {
            result.append(names[cap])
        }
        return result
    }

    public enum ResolutionError: Error, CustomStringConvertible {
        case unknown(String)

        public var description: String {
            switch self {
            case .unknown(let name): return "unknown capability \"\(name)\""
            }
        }
    }

    /// docker's rules: start from the default set (or everything when privileged); `ALL` in cap_add adds
    /// everything, `ALL` in cap_drop drops everything; then the other names, adds after drops.
    public static func resolve(add: [String], drop: [String], privileged: Bool) throws(ResolutionError) -> [String] {
        let available = ownBounding
        if privileged { return available }
        for name in add + drop where canonical(name) != "CAP_ALL" && number(name) == nil {
            throw .unknown(name)
        }
        let adds = Set(add.map(canonical))
        let drops = Set(drop.map(canonical))
        var set: [String]
        if adds.contains("CAP_ALL") {
            set = available
        } else if drops.contains("CAP_ALL") {
            set = []
        } else {
            set = dockerDefault.filter { !drops.contains($0) }
        }
        if adds.contains("CAP_ALL") {
            set.removeAll { drops.contains($0) }
        }
        for name in adds.sorted() where name != "CAP_ALL" && !set.contains(name) {
            set.append(name)
        }
        return set.sorted { (number($0) ?? 0) < (number($1) ?? 0) }
    }

    /// The two 32-bit words of a capability mask.
    static func mask(_ names: [String]) -> (UInt32, UInt32) {
        var low: UInt32 = 0, high: UInt32 = 0
        for name in names {
            guard let n = number(name) else { continue }
            if n < 32 { low |= 1 << UInt32(n) } else { high |= 1 << UInt32(n - 32) }
        }
        return (low, high)
    }
}
