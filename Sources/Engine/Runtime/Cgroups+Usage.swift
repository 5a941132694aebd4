#if canImport(Glibc)
import Glibc
#endif

/// What a container's cgroup has used, as `docker stats` reads it (cgroup v1 and v2).
public struct CgroupUsage: Sendable, Equatable {
    /// CPU time of all its processes.
    public var cpuNanoseconds: UInt64 = 0
    /// Memory in use less the inactive file cache, as docker's CLI shows it.
    public var memory: Int64 = 0
    /// Its memory limit; nil when it has none.
    public var memoryLimit: Int64?
    public var pids = 0
    public var readBytes: Int64 = 0
    public var writeBytes: Int64 = 0
}

extension Cgroup {
    public var usage: CgroupUsage {
        var u = CgroupUsage()
        func int(_ dir: String?, _ file: String) -> Int64? { dir.flatMap { read($0, file) }.flatMap { Int64($0.trimmingWhitespace()) } }
        if hierarchies.isV2 {
            let d = unifiedDirectory
            u.cpuNanoseconds = UInt64(max(0, d.flatMap { Self.field(read($0, "cpu.stat"), "usage_usec") } ?? 0)) * 1000
            let inactive = Int64(d.flatMap { Self.field(read($0, "memory.stat"), "inactive_file") } ?? 0)
            u.memory = max(0, (int(d, "memory.current") ?? 0) - inactive)
            u.memoryLimit = int(d, "memory.max")
            u.pids = Int(int(d, "pids.current") ?? Int64(processes().count))
            for line in (d.flatMap { read($0, "io.stat") } ?? "").split(separator: "\n") {
                for field in line.split(separator: " ").dropFirst() {
                    if field.hasPrefix("rbytes=") { u.readBytes += Int64(field.dropFirst(7)) ?? 0 }
                    if field.hasPrefix("wbytes=") { u.writeBytes += Int64(field.dropFirst(7)) ?? 0 }
                }
            }
        } else {
            u.cpuNanoseconds = UInt64(max(0, int(v1Directory("cpuacct"), "cpuacct.usage") ?? 0))
            let memory = v1Directory("memory")
            let inactive = Int64(memory.flatMap { Self.field(read($0, "memory.stat"), "total_inactive_file") } ?? 0)
            u.memory = max(0, (int(memory, "memory.usage_in_bytes") ?? 0) - inactive)
            // v1 writes "no limit" as the largest page-aligned value.
            if let limit = int(memory, "memory.limit_in_bytes"), limit < Int64(1) << 62 { u.memoryLimit = limit }
            u.pids = Int(int(v1Directory("pids"), "pids.current") ?? Int64(processes().count))
            for line in (v1Directory("blkio").flatMap { read($0, "blkio.throttle.io_service_bytes") } ?? "").split(separator: "\n") {
                let parts = line.split(separator: " ")
                guard parts.count == 3, let n = Int64(parts[2]) else { continue }
                if parts[1] == "Read" { u.readBytes += n }
                if parts[1] == "Write" { u.writeBytes += n }
            }
        }
        return u
    }
}

/// A network namespace's traffic, from a process in it (`/proc/PID/net/dev`), loopback left out.
public enum NetworkUsage {
    public static func of(pid: Int32) -> (received: Int64, sent: Int64) {
        guard pid > 0, let text = try? Files.readText("/proc/\(pid)/net/dev") else { return (0, 0) }
        var rx: Int64 = 0, tx: Int64 = 0
        for line in text.split(separator: "\n").dropFirst(2) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            if line[..<colon].trimmingWhitespace() == "lo" { continue }
            let fields = line[line.index(after: colon)...].split(separator: " ")
            if fields.count > 8 { rx += Int64(fields[0]) ?? 0; tx += Int64(fields[8]) ?? 0 }
        }
        return (rx, tx)
    }
}
