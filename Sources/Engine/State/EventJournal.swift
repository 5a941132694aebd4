#if canImport(Glibc)
import Glibc
#endif

/// One container event, as docker reports it: `create`, `start`, `health_status: healthy`, `kill`,
/// `die`, `stop`, `pause`, `unpause`, `destroy`, `oom`… with the container's name, image and labels
/// (and `exitCode`, `signal` where they apply) as attributes.
public struct ContainerEvent: Codable, Sendable, Equatable {
    /// RFC 3339 with nanoseconds, UTC.
    public var time: String
    public var action: String
    public var id: String
    public var attributes: [String: String]
}

/// The state root's record of container events, there being no daemon to ask: each command and
/// supervisor appends a JSON line as things happen (one `write` with O_APPEND under an exclusive
/// lock, so writers never interleave and lines are in time order), and `events` reads it back and
/// follows it. Past 8 MiB it is rotated to
/// `events.jsonl.1`, so it never grows without bound.
public struct EventJournal: Sendable {
    public let path: String
    static let rotateAt: Int64 = 8 << 20

    public init(root: StateRoot) { path = root.path + "/events.jsonl" }

    /// Appends `action` for the container `spec` describes; failures are not the caller's problem
    /// (an event lost is better than a container not started).
    public func record(_ action: String, _ spec: ContainerSpec, _ extra: [String: String] = [:]) {
        var attributes = spec.labels
        attributes["name"] = spec.name
        attributes["image"] = spec.image.reference
        for (k, v) in extra { attributes[k] = v }
        if let st = try? Sys.fileStatus(path), Int64(st.st_size) > Self.rotateAt { try? Sys.rename(path, path + ".1") }
        guard let fd = try? Sys.open(path, O_WRONLY | O_APPEND | O_CREAT, 0o600) else { return }
        defer { Sys.close(fd) }
        // One writer at a time, its time read under the lock: the journal's order is its events' time
        // order across the threads and processes that write it (containers removed side by side).
        try? Sys.lock(fd)
        let event = ContainerEvent(time: Timestamp.rfc3339(), action: action, id: spec.id, attributes: attributes)
        guard var line = try? JSON.encode(event) else { return }
        line.append(0x0a)
        line.withUnsafeBytes { try? Sys.write(fd, $0) }
    }

    /// docker's events for an exec (a user's or a healthcheck's): `exec_create: CMD ARGS` and
    /// `exec_start: …` now (with docker's odd spacing for a lone command: `exec_create: true `);
    /// the returned closure records `exec_die` with the exit code.
    public func recordExec(_ args: [String], _ spec: ContainerSpec) -> (Int32) -> Void {
        let id = ContainerStore.newID()
        let described = args.count == 1 ? args[0] + " " : args.joined(separator: " ")
        record("exec_create: " + described, spec, ["execID": id])
        record("exec_start: " + described, spec, ["execID": id])
        return { code in self.record("exec_die", spec, ["execID": id, "exitCode": String(code)]) }
    }

    /// Where a reader stands: the file it read (by inode) and how far.
    public struct Position: Sendable {
        var inode: UInt64 = 0
        var offset: Int64 = 0
        var pending: [UInt8] = []
        public init() {}
    }

    /// The events written after `position` (whole lines only), moving it on. A rotation meanwhile is
    /// followed: the rest of the old file, then the new one from its start.
    public func read(from position: inout Position) -> [ContainerEvent] {
        var events: [ContainerEvent] = []
        guard let st = try? Sys.fileStatus(path) else { return [] }
        if position.inode != 0 && UInt64(st.st_ino) != position.inode {
            if let old = try? Sys.fileStatus(path + ".1"), UInt64(old.st_ino) == position.inode {
                events += read(path + ".1", from: &position)
            }
            position = Position()
        }
        position.inode = UInt64(st.st_ino)
        return events + read(path, from: &position)
    }

    /// Where the journal ends now: a reader that starts there sees only what happens next.
    public func end() -> Position {
        var p = Position()
        if let st = try? Sys.fileStatus(path) {
            p.inode = UInt64(st.st_ino)
            p.offset = Int64(st.st_size)
        }
        return p
    }

    func read(_ file: String, from position: inout Position) -> [ContainerEvent] {
        guard let handle = try? FileHandle(path: file, flags: O_RDONLY) else { return [] }
        var events: [ContainerEvent] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { (try? Sys.read(handle.fd, into: $0, at: position.offset)) ?? 0 }
            if n <= 0 { break }
            position.offset += Int64(n)
            position.pending += buffer[0..<n]
            while let nl = position.pending.firstIndex(of: 0x0a) {
                if let e = try? JSON.decode(ContainerEvent.self, Array(position.pending[..<nl])) { events.append(e) }
                position.pending.removeFirst(nl + 1)
            }
        }
        return events
    }
}
