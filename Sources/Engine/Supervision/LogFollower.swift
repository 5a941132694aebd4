#if canImport(Glibc)
import Glibc
#endif

/// Reads the json logs of several containers as `logs` shows them: what they hold now, merged by
/// time (a tail read from each log's end), then what is appended, following rotation. It reads; the
/// caller formats.
public final class LogFollower {
    struct Tracked {
        var id: String
        var path: String
        var offset: UInt64 = 0
        var pending: [UInt8] = []
        var inode: UInt64 = 0
    }

    var tracked: [Tracked] = []
    /// Entries outside `--since`/`--until` are left out.
    let accept: (LogEntry) -> Bool
    /// `--tail`: at most this many of each log's existing entries.
    let tail: Int?

    public init(tail: Int?, accept: @escaping (LogEntry) -> Bool = { _ in true }) {
        self.tail = tail
        self.accept = accept
    }

    /// Starts following a container's log (new containers can be added while following).
    public func add(id: String, path: String) {
        guard !tracked.contains(where: { $0.id == id }) else { return }
        tracked.append(Tracked(id: id, path: path))
    }

    public var ids: [String] { tracked.map(\.id) }

    /// What the logs of the containers added so far hold now, merged by time (ties in the order the
    /// containers were added); following starts after it. Streamed: a log of gigabytes costs the
    /// memory of a chunk and a line.
    public func existing(_ body: (String, LogEntry) -> Void) {
        var sources: [(id: String, next: () -> LogEntry?)] = []
        for i in tracked.indices {
            let t = tracked[i]
            if let st = try? Sys.fileStatus(t.path) {
                tracked[i].offset = UInt64(st.st_size)
                tracked[i].inode = UInt64(st.st_ino)
            }
            if let tail {
                var entries = LogReader.tail(t.path, tail, accept: accept)[...]
                sources.append((t.id, { entries.popFirst() }))
            } else {
                let reader = LogReader.Forward(t.path)
                let accept = self.accept
                sources.append((t.id, {
                    while let e = reader.next() { if accept(e) { return e } }
                    return nil
                }))
            }
        }
        var heads: [LogEntry?] = sources.map { $0.next() }
        while true {
            var best: Int?
            for i in heads.indices {
                guard let e = heads[i] else { continue }
                if best == nil || e.time < heads[best!]!.time { best = i }
            }
            guard let i = best, let e = heads[i] else { return }
            body(sources[i].id, e)
            heads[i] = sources[i].next()
        }
    }

    /// Reads what was appended since the last look (a rotated log from its new file's start); true
    /// if anything was.
    @discardableResult
    public func poll(_ body: (String, LogEntry) -> Void) -> Bool {
        var any = false
        for i in tracked.indices {
            var t = tracked[i]
            guard let st = try? Sys.fileStatus(t.path) else { continue }
            if UInt64(st.st_ino) != t.inode || UInt64(st.st_size) < t.offset {
                t.offset = 0
                t.inode = UInt64(st.st_ino)
                t.pending = []
            }
            if UInt64(st.st_size) > t.offset, let handle = try? FileHandle(path: t.path, flags: O_RDONLY) {
                var buffer = [UInt8](repeating: 0, count: Int(min(UInt64(st.st_size) - t.offset, 1 << 20)))
                let n = buffer.withUnsafeMutableBytes { (try? Sys.read(handle.fd, into: $0, at: Int64(t.offset))) ?? 0 }
                if n > 0 {
                    t.offset += UInt64(n)
                    t.pending += buffer[0..<n]
                    while let nl = t.pending.firstIndex(of: 0x0a) {
                        let line = String(decoding: t.pending[..<nl], as: UTF8.self)
                        t.pending.removeFirst(nl + 1)
                        if let e = LogEntry.parse(Substring(line)), accept(e) { body(t.id, e) }
                    }
                    any = true
                }
            }
            tracked[i] = t
        }
        return any
    }

    /// Follows until `shouldStop` says so: what is appended goes to `body` as it is written (woken by
    /// inotify on the logs' directories, and on `alsoWatching`, where the caller expects the changes
    /// `shouldStop` looks at). `shouldStop` is asked after each batch, and at least every quarter
    /// second.
    public func follow(until shouldStop: () -> Bool, alsoWatching: [String] = [], _ body: (String, LogEntry) -> Void) {
        let watch = DirectoryWatch()
        for directory in alsoWatching { watch.add(directory) }
        while true {
            for t in tracked { watch.add(String(t.path[..<(t.path.lastIndex(of: "/") ?? t.path.endIndex)])) }
            let got = poll(body)
            if shouldStop() {
                poll(body)
                return
            }
            if !got { watch.wait(0.25) }
        }
    }
}
