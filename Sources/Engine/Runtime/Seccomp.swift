#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import CSeccomp

/// A seccomp filter resolved for one container: docker's profile format with its `includes` and
/// `excludes` already decided for the container's capabilities, the host architecture and the kernel.
/// The container's start helper turns it into BPF with libseccomp.
public struct SeccompFilter: Codable, Sendable, Equatable {
    public var defaultAction: UInt32
    /// libseccomp architecture names (`x86_64`, `x86`, `x32`).
    public var architectures: [String]
    public var rules: [SeccompRule]

    public init(defaultAction: UInt32, architectures: [String], rules: [SeccompRule]) {
        self.defaultAction = defaultAction
        self.architectures = architectures
        self.rules = rules
    }
}

public struct SeccompRule: Codable, Sendable, Equatable {
    public var names: [String]
    public var action: UInt32
    public var args: [SeccompArgument]

    public init(names: [String], action: UInt32, args: [SeccompArgument] = []) {
        self.names = names
        self.action = action
        self.args = args
    }
}

public struct SeccompArgument: Codable, Sendable, Equatable {
    public var index: UInt32
    public var value: UInt64
    public var valueTwo: UInt64
    /// libseccomp's `scmp_compare`.
    public var op: UInt32

    public init(index: UInt32, value: UInt64, valueTwo: UInt64, op: UInt32) {
        self.index = index
        self.value = value
        self.valueTwo = valueTwo
        self.op = op
    }
}

public enum SeccompError: Error, CustomStringConvertible {
    case invalidProfile(String)

    public var description: String {
        switch self {
        case .invalidProfile(let s): return "seccomp profile: \(s)"
        }
    }
}

/// docker's seccomp profile JSON (moby/profiles), and its resolution for a container.
public struct SeccompProfile: Decodable, Sendable {
    struct Arch: Decodable, Sendable {
        var architecture: String
        var subArchitectures: [String]?
    }

    struct Filter: Decodable, Sendable {
        var caps: [String]?
        var arches: [String]?
        var minKernel: String?
    }

    struct Arg: Decodable, Sendable {
        var index: UInt32
        var value: UInt64
        var valueTwo: UInt64?
        var op: String
    }

    struct Syscall: Decodable, Sendable {
        var names: [String]?
        var name: String?
        var action: String
        var errnoRet: UInt32?
        var args: [Arg]?
        var includes: Filter?
        var excludes: Filter?
    }

    var defaultAction: String
    var defaultErrnoRet: UInt32?
    var architectures: [String]?
    var archMap: [Arch]?
    var syscalls: [Syscall]?

    /// docker's default profile.
    public static let dockerDefault: SeccompProfile = {
        // The embedded profile is known to parse; a failure here is a build defect.
        try! SeccompProfile.parse(Array(DefaultSeccompProfile.json.utf8))
    }()

    public static func parse(_ bytes: [UInt8]) throws(SeccompError) -> SeccompProfile {
        do {
            return try JSONDecoder().decode(SeccompProfile.self, from: Data(bytes))
        } catch let error as DecodingError {
            throw .invalidProfile(Self.describe(error))
        } catch {
            throw .invalidProfile("\(error)")
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ c: DecodingError.Context) -> String {
            c.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        }
        switch error {
        case .typeMismatch(_, let c), .valueNotFound(_, let c): return "\(path(c)): \(c.debugDescription)"
        case .keyNotFound(let key, let c): return "\(path(c)): missing \"\(key.stringValue)\""
        case .dataCorrupted(let c): return "\(path(c)): \(c.debugDescription)"
        @unknown default: return "\(error)"
        }
    }

    /// The host architecture in Go's naming, which docker's profiles use in `arches`.
    public static var hostGoArch: String {
        let machine = Sys.kernel.machine
        switch machine {
        case "x86_64": return "amd64"
        case "aarch64": return "arm64"
        case "i386", "i686": return "386"
        case "ppc64le": return "ppc64le"
        case "s390x": return "s390x"
        case "riscv64": return "riscv64"
        default: return machine
        }
    }

    /// The running kernel's version as numbers (`6.18.0` → [6, 18, 0]).
    public static var kernelVersion: [Int] {
        parseVersion(Sys.kernel.release)
    }

    static func parseVersion(_ s: String) -> [Int] {
        var parts: [Int] = []
        for piece in s.split(separator: ".").prefix(3) {
            let digits = piece.prefix(while: { $0.isNumber })
            guard let n = Int(digits) else { break }
            parts.append(n)
            if digits.count != piece.count { break }
        }
        return parts
    }

    static func action(_ name: String, errno: UInt32?, defaultErrno: UInt32) throws(SeccompError) -> UInt32 {
        switch name {
        case "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD": return 0
        case "SCMP_ACT_KILL_PROCESS": return 0x8000_0000
        case "SCMP_ACT_TRAP": return 0x0003_0000
        case "SCMP_ACT_ERRNO": return 0x0005_0000 | ((errno ?? defaultErrno) & 0xffff)
        case "SCMP_ACT_TRACE": return 0x7ff0_0000 | ((errno ?? defaultErrno) & 0xffff)
        case "SCMP_ACT_LOG": return 0x7ffc_0000
        case "SCMP_ACT_ALLOW": return 0x7fff_0000
        default: throw .invalidProfile("unknown action \"\(name)\"")
        }
    }

    static func compare(_ op: String) throws(SeccompError) -> UInt32 {
        switch op {
        case "SCMP_CMP_NE": return 1
        case "SCMP_CMP_LT": return 2
        case "SCMP_CMP_LE": return 3
        case "SCMP_CMP_EQ": return 4
        case "SCMP_CMP_GE": return 5
        case "SCMP_CMP_GT": return 6
        case "SCMP_CMP_MASKED_EQ": return 7
        default: throw .invalidProfile("unknown comparison \"\(op)\"")
        }
    }

    /// `SCMP_ARCH_X86_64` → `x86_64`, as libseccomp names architectures.
    static func libseccompArch(_ name: String) -> String {
        name.hasPrefix("SCMP_ARCH_") ? String(name.dropFirst("SCMP_ARCH_".count)).lowercased() : name.lowercased()
    }

    static func hostSeccompArch(_ goArch: String) -> String {
        switch goArch {
        case "amd64": return "x86_64"
        case "arm64": return "aarch64"
        case "386": return "x86"
        default: return goArch
        }
    }

    /// Decides includes and excludes as moby does: a rule applies when every included capability is in
    /// the container's set, the host architecture is among the included ones, and the kernel is at least
    /// `minKernel`; and when no excluded capability is in the set and the architecture is not excluded.
    public func resolve(capabilities: [String], goArch: String = SeccompProfile.hostGoArch, kernel: [Int] = SeccompProfile.kernelVersion) throws(SeccompError) -> SeccompFilter {
        let defaultErrno = defaultErrnoRet ?? 1
        let caps = Set(capabilities.map(Capabilities.canonical))
        let def = try Self.action(defaultAction, errno: nil, defaultErrno: defaultErrno)

        var arches: [String] = []
        let native = Self.hostSeccompArch(goArch)
        if let archMap {
            for entry in archMap where Self.libseccompArch(entry.architecture) == native {
                arches.append(Self.libseccompArch(entry.architecture))
                arches += (entry.subArchitectures ?? []).map(Self.libseccompArch)
            }
        } else if let architectures {
            arches = architectures.map(Self.libseccompArch)
        }
        if arches.isEmpty { arches = [native] }

        var rules: [SeccompRule] = []
        for call in syscalls ?? [] {
            if let inc = call.includes {
                if let need = inc.caps, !need.allSatisfy({ caps.contains(Capabilities.canonical($0)) }) { continue }
                if let a = inc.arches, !a.isEmpty, !a.contains(goArch) { continue }
                if let k = inc.minKernel, !Self.atLeast(kernel, Self.parseVersion(k)) { continue }
            }
            if let exc = call.excludes {
                if let some = exc.caps, some.contains(where: { caps.contains(Capabilities.canonical($0)) }) { continue }
                if let a = exc.arches, a.contains(goArch) { continue }
                if let k = exc.minKernel, Self.atLeast(kernel, Self.parseVersion(k)) { continue }
            }
            var names = call.names ?? []
            if let n = call.name { names.append(n) }
            guard !names.isEmpty else { throw .invalidProfile("a syscall rule names no syscalls") }
            let action = try Self.action(call.action, errno: call.errnoRet, defaultErrno: defaultErrno)
            var args: [SeccompArgument] = []
            for a in call.args ?? [] {
                guard a.index < 6 else { throw .invalidProfile("argument index \(a.index) of \(names[0]) is out of range") }
                args.append(SeccompArgument(index: a.index, value: a.value, valueTwo: a.valueTwo ?? 0, op: try Self.compare(a.op)))
            }
            rules.append(SeccompRule(names: names, action: action, args: args))
        }
        return SeccompFilter(defaultAction: def, architectures: arches, rules: rules)
    }

    static func atLeast(_ have: [Int], _ want: [Int]) -> Bool {
        for i in 0..<max(have.count, want.count) {
            let a = i < have.count ? have[i] : 0
            let b = i < want.count ? want[i] : 0
            if a != b { return a > b }
        }
        return true
    }
}

extension SeccompFilter {
    /// The filter compiled to classic BPF by libseccomp (what the kernel loads).
    func compile() throws(SystemError) -> [UInt8] {
        guard let ctx = seccomp_init(defaultAction) else { throw SystemError("seccomp_init", code: EINVAL) }
        defer { seccomp_release(ctx) }
        let native = seccomp_arch_native()
        var r: Int32
        for arch in architectures {
            let token = seccomp_arch_resolve_name(arch)
            guard token != 0, token != native else { continue }
            r = seccomp_arch_add(ctx, token)
            if r != 0 && r != -EEXIST { throw SystemError("seccomp: add architecture", arch, code: -r) }
        }
        for rule in rules where rule.action != defaultAction {
            var cmps = rule.args.map { a in
                scmp_arg_cmp(arg: a.index, op: scmp_compare(rawValue: a.op), datum_a: a.value, datum_b: a.valueTwo)
            }
            for name in rule.names {
                let nr = seccomp_syscall_resolve_name(name)
                // Names this libseccomp does not know (or that do not exist here) are skipped, as runc does.
                if nr == __NR_SCMP_ERROR { continue }
                r = cmps.withUnsafeMutableBufferPointer { buf in
                    seccomp_rule_add_array(ctx, rule.action, nr, UInt32(buf.count), buf.baseAddress)
                }
                if r != 0 { throw SystemError("seccomp: rule for \(name)", code: -r) }
            }
        }
        // Export through a memory file: libseccomp 2.5 writes BPF to a descriptor only.
        let fd = try Sys.memoryFile("seccomp")
        defer { Sys.close(fd) }
        r = seccomp_export_bpf(ctx, fd)
        if r != 0 { throw SystemError("seccomp: export filter", code: -r) }
        let size = try Sys.fstat(fd).st_size
        var program = [UInt8](repeating: 0, count: Int(size))
        var failure: SystemError?
        program.withUnsafeMutableBytes { b in
            do throws(SystemError) { _ = try Sys.read(fd, into: b, at: 0) } catch { failure = error }
        }
        if let failure { throw failure }
        return program
    }

    /// The compiled program, from the cache under `directory` (keyed by the filter's content) or
    /// compiled and cached now. Every container with the same capabilities shares one program.
    func program(cacheDirectory: String?) throws(SystemError) -> [UInt8] {
        guard let cacheDirectory, let encoded = try? Wire.encode(self) else { return try compile() }
        let path = cacheDirectory + "/" + Digest.of(encoded).hex + ".bpf"
        if let cached = try? Files.read(path), !cached.isEmpty, cached.count % 8 == 0 { return cached }
        let program = try compile()
        try? Sys.mkdirAll(cacheDirectory, 0o700)
        try? Files.writeAtomically(path, program, mode: 0o600, durable: false)
        return program
    }
}

/// Installs a compiled seccomp program on the calling thread. Without no_new_privs the caller must
/// still hold CAP_SYS_ADMIN (it runs before capabilities are dropped, as runc does).
func loadSeccompProgram(_ program: [UInt8]) throws(SystemError) {
    do { try Sys.loadSeccomp(program) } catch { throw SystemError("seccomp: load filter", code: error.code) }
}

extension SeccompFilter {
    /// libseccomp's version (`2.5.4`).
    public static var libraryVersion: String {
        guard let v = seccomp_version() else { return "?" }
        return "\(v.pointee.major).\(v.pointee.minor).\(v.pointee.micro)"
    }
}
