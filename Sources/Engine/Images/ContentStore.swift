#if canImport(Glibc)
import Glibc
#endif

/// Content-addressed blobs (`blobs/sha256/<hex>`), every one verified against its digest on write.
/// Writes go to a staging file in `tmp/` that is renamed into place once complete, so a blob is either
/// whole or absent, whatever happens to the writer.
public struct ContentStore: Sendable {
    public let root: String

    public init(root: String) { self.root = root }

    var blobDirectory: String { root + "/blobs/sha256" }
    var stagingDirectory: String { root + "/tmp" }

    public func path(_ digest: Digest) -> String { "\(blobDirectory)/\(digest.hex)" }

    public func contains(_ digest: Digest) -> Bool { Sys.exists(path(digest)) }

    public func size(_ digest: Digest) -> Int64? {
        guard let st = try? Sys.fileStatus(path(digest)) else { return nil }
        return Int64(st.st_size)
    }

    public func read(_ digest: Digest) throws(SystemError) -> [UInt8] { try Files.read(path(digest)) }

    func prepare() throws(SystemError) {
        try Sys.mkdirAll(blobDirectory, 0o700)
        try Sys.mkdirAll(stagingDirectory, 0o700)
    }

    /// A staging file; the name carries the pid so that leftovers of dead writers can be removed.
    func stagingPath(_ label: String) -> String {
        "\(stagingDirectory)/\(label)-\(Sys.pid)-\(UInt64.random(in: 0...UInt64.max))"
    }

    public struct Mismatch: Error, Sendable, CustomStringConvertible {
        public var expected: Digest
        public var actual: Digest
        public var description: String { "blob \(expected) is corrupt: its content hashes to \(actual)" }
    }

    public enum Failure: Error, Sendable, CustomStringConvertible {
        case system(SystemError)
        case mismatch(Mismatch)
        public var description: String {
            switch self {
            case .system(let e): return e.description
            case .mismatch(let m): return m.description
            }
        }
    }

    /// Writes `bytes` as a blob and returns its digest.
    @discardableResult
    public func put(_ bytes: [UInt8], expected: Digest? = nil) throws(Failure) -> Digest {
        var writer = try BlobWriter(store: self)
        do { try writer.write(bytes) } catch { writer.abandon(); throw .system(error) }
        return try writer.commit(expected: expected)
    }

    /// Moves a staging file whose digest is known into place (or drops it when the blob exists).
    /// Returns whether the blob is new.
    @discardableResult
    func commit(staging: String, digest: Digest) throws(SystemError) -> Bool {
        if contains(digest) {
            try? Sys.unlink(staging)
            return false
        }
        try Sys.rename(staging, path(digest))
        return true
    }

    /// Removes staging files left behind by processes that no longer exist.
    public func removeStaleStaging() {
        guard let names = try? Sys.list(stagingDirectory) else { return }
        for name in names {
            let parts = name.split(separator: "-")
            guard parts.count >= 3, let pid = Int32(parts[parts.count - 2]) else { continue }
            if !Sys.processExists(pid) { try? Sys.removeAll("\(stagingDirectory)/\(name)") }
        }
    }

    public func allBlobs() -> [Digest] {
        ((try? Sys.list(blobDirectory)) ?? []).compactMap { Digest("sha256:\($0)") }
    }

    public func remove(_ digest: Digest) throws(SystemError) { try Sys.unlink(path(digest)) }

    /// Flushes everything written to the store's file system (one sync for a batch of blobs).
    public func syncAll() throws(SystemError) {
        try Sys.syncFileSystem(root)
    }
}

/// Streams a blob into the content store while hashing it.
public struct BlobWriter {
    let store: ContentStore
    let staging: String
    let fd: Int32
    var hasher = Hasher256()
    var open = true
    /// Whether the last commit added a blob the store did not have.
    public private(set) var addedNewBlob = false

    public init(store: ContentStore) throws(ContentStore.Failure) {
        self.store = store
        do {
            try store.prepare()
            staging = store.stagingPath("blob")
            fd = try Sys.open(staging, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        } catch {
            throw .system(error)
        }
    }

    /// Continues a blob kept at `path` between attempts (a download to resume): what is there is
    /// hashed again and writing goes on after it (`size` says how much that is). A file of `limit`
    /// bytes or more, or one that cannot be read, starts over. `commit` moves it into place as any
    /// blob; `suspend` leaves it for the next attempt.
    public init(store: ContentStore, resuming path: String, limit: Int64) throws(ContentStore.Failure) {
        self.store = store
        staging = path
        do {
            try store.prepare()
            fd = try Sys.open(path, O_RDWR | O_CREAT, 0o644)
        } catch {
            throw .system(error)
        }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while hasher.count < limit {
            guard let n = try? Sys.read(fd, into: &buffer) else { hasher = Hasher256(); break }
            if n == 0 { break }
            buffer.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
        if hasher.count >= limit || hasher.count == 0 {
            do { try restart() } catch { Sys.close(fd); throw .system(error) }
        }
    }

    /// Drops what was written and starts the blob again from its first byte.
    public mutating func restart() throws(SystemError) {
        try Sys.ftruncate(fd, 0)
        try Sys.seek(fd, 0)
        hasher = Hasher256()
    }

    /// Closes the file and keeps it, for a later `init(store:resuming:limit:)`.
    public mutating func suspend() {
        guard open else { return }
        Sys.close(fd)
        open = false
    }

    public mutating func write(_ bytes: UnsafeRawBufferPointer) throws(SystemError) {
        try Sys.write(fd, bytes)
        hasher.update(bytes)
    }

    public mutating func write(_ bytes: [UInt8]) throws(SystemError) {
        var failure: SystemError?
        bytes.withUnsafeBytes { b in
            do throws(SystemError) { try write(b) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    public var size: Int64 { hasher.count }

    /// Verifies the digest (when one is expected) and moves the blob into place. With `durable`, the
    /// blob is fsynced first; a caller committing many blobs can instead sync the file system once
    /// before anything refers to them (`ContentStore.syncAll`).
    public mutating func commit(expected: Digest?, durable: Bool = true) throws(ContentStore.Failure) -> Digest {
        let digest = hasher.finalize()
        defer { open = false }
        if let expected, expected != digest {
            Sys.close(fd)
            try? Sys.unlink(staging)
            throw .mismatch(ContentStore.Mismatch(expected: expected, actual: digest))
        }
        do {
            if durable { try Sys.fsync(fd) }
            Sys.close(fd)
            addedNewBlob = try store.commit(staging: staging, digest: digest)
        } catch {
            try? Sys.unlink(staging)
            throw .system(error)
        }
        return digest
    }

    public mutating func abandon() {
        guard open else { return }
        Sys.close(fd)
        try? Sys.unlink(staging)
        open = false
    }
}
