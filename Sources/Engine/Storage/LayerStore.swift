#if canImport(Glibc)
import Glibc
#endif

/// Unpacked layers, one directory per chain id (`layers/<chain id>/diff`), shared by every image and
/// container that uses them. A layer is unpacked once, in a staging directory that is renamed into
/// place only when the whole layer is there and its diff_id checked; a lock per chain id lets two
/// processes ask for the same layer at once.
public struct LayerStore: Sendable {
    public let root: String

    public init(root: String) { self.root = root }

    public struct Layer: Sendable {
        public var chainID: Digest
        public var diffID: Digest
        public var blob: Digest
        /// Bytes of file content the layer holds.
        public var size: Int64
        public var directory: String { path + "/diff" }
        let path: String
    }

    public enum Failure: Error, Sendable, CustomStringConvertible {
        case system(SystemError)
        case unpack(blob: Digest, LayerUnpacker.Failure)
        case diffIDMismatch(blob: Digest, expected: Digest, actual: Digest)

        public var description: String {
            switch self {
            case .system(let e): return e.description
            case .unpack(let blob, let f): return "layer \(blob): \(f)"
            case .diffIDMismatch(let blob, let expected, let actual):
                return "layer \(blob) does not match the image: its content hashes to \(actual), the image expects \(expected)"
            }
        }
    }

    /// The chain ids of a stack of layers: the first is its diff_id, each next one the digest of
    /// "<parent chain id> <diff_id>".
    public static func chainIDs(_ diffIDs: [Digest]) -> [Digest] {
        var result: [Digest] = []
        for d in diffIDs {
            if let parent = result.last {
                result.append(Digest.of("\(parent) \(d)"))
            } else {
                result.append(d)
            }
        }
        return result
    }

    public func path(_ chainID: Digest) -> String { "\(root)/\(chainID.hex)" }

    public func layer(_ chainID: Digest) -> Layer? {
        let p = path(chainID)
        guard let bytes = try? Files.read(p + "/layer.json"), let meta = try? JSON.decode(LayerMeta.self, bytes) else { return nil }
        return Layer(chainID: chainID, diffID: meta.diffID, blob: meta.blob, size: meta.size, path: p)
    }

    struct LayerMeta: Codable {
        var diffID: Digest
        var blob: Digest
        var size: Int64
        var unpacked: String
    }

    /// Makes sure every layer of an image is unpacked, unpacking the missing ones from their blobs.
    public func ensure(diffIDs: [Digest], blobs: [String], blobDigests: [Digest]) throws(Failure) -> [Layer] {
        var none: [Digest: LayerReceiver.Outcome] = [:]
        return try ensure(diffIDs: diffIDs, blobs: blobs, blobDigests: blobDigests, received: &none)
    }

    /// `ensure`, taking a missing layer from what receivers unpacked while its blob arrived (by blob
    /// digest; each is used once and removed from `received`) before unpacking it from the blob.
    public func ensure(diffIDs: [Digest], blobs: [String], blobDigests: [Digest],
                       received: inout [Digest: LayerReceiver.Outcome]) throws(Failure) -> [Layer] {
        let chains = Self.chainIDs(diffIDs)
        var layers: [Layer] = []
        for i in chains.indices {
            layers.append(try ensureLayer(chainID: chains[i], diffID: diffIDs[i], blobPath: blobs[i], blob: blobDigests[i],
                                          received: received.removeValue(forKey: blobDigests[i])))
        }
        return layers
    }

    /// One layer of a stack, its chain id known: the store's, or the one a receiver staged (published),
    /// or unpacked from its blob. A staged copy the store does not need is removed.
    public func ensureLayer(chainID: Digest, diffID: Digest, blobPath: String, blob: Digest, received: LayerReceiver.Outcome?) throws(Failure) -> Layer {
        if let existing = layer(chainID) {
            if case .staged(let staged) = received { discard(staged) }
            return existing
        }
        switch received {
        case .staged(let staged):
            return try publish(staged, chainID: chainID, expectedDiffID: diffID)
        case .failed(let failure):
            throw .unpack(blob: blob, failure)
        case .skipped, nil:
            return try unpack(blobPath: blobPath, blob: blob, chainID: chainID, expectedDiffID: diffID)
        }
    }

    /// Unpacks a blob whose diff_id is not known yet (`image import`): returns the layer and its
    /// diff_id.
    public func unpackNew(blobPath: String, blob: Digest) throws(Failure) -> Layer {
        try unpack(blobPath: blobPath, blob: blob, chainID: nil, expectedDiffID: nil)
    }

    package func unpack(blobPath: String, blob: Digest, chainID: Digest?, expectedDiffID: Digest?) throws(Failure) -> Layer {
        // Without a chain id yet (a first layer whose diff_id is unknown), lock on the blob.
        try locked(chainID ?? blob) { () throws(Failure) -> Layer in
            if let chainID, let existing = layer(chainID) { return existing }
            let staging = "\(root)/tmp-\((chainID ?? blob).short)-\(Sys.pid)-\(UInt32.random(in: 0...UInt32.max))"
            do throws(SystemError) {
                try Sys.mkdir(staging, 0o700)
                try Sys.mkdir(staging + "/diff", 0o755)
            } catch {
                throw .system(error)
            }
            var unpacker: LayerUnpacker
            do throws(SystemError) { unpacker = try LayerUnpacker(root: staging + "/diff") } catch {
                try? Sys.removeAll(staging)
                throw .system(error)
            }
            let diffID: Digest
            do throws(LayerUnpacker.Failure) {
                let digest = try unpacker.unpackAll { () throws(ArchiveError) in try ArchiveReader(path: blobPath, hashingDecompressed: true) }
                guard let digest else { throw LayerUnpacker.Failure.archive(ArchiveError("no digest")) }
                diffID = digest
            } catch {
                try? Sys.removeAll(staging)
                throw .unpack(blob: blob, error)
            }
            if let expectedDiffID, expectedDiffID != diffID {
                try? Sys.removeAll(staging)
                throw .diffIDMismatch(blob: blob, expected: expectedDiffID, actual: diffID)
            }
            return try publish(staging, LayerMeta(diffID: diffID, blob: blob, size: unpacker.bytes, unpacked: Timestamp.rfc3339()), chain: chainID ?? diffID)
        }
    }

    /// Runs `body` holding the store's lock on `name` (a chain id; a blob's digest while the chain is
    /// not known), so that two processes never make the same layer at once; the lock file goes after.
    func locked(_ name: Digest, _ body: () throws(Failure) -> Layer) throws(Failure) -> Layer {
        do { try Sys.mkdirAll(root, 0o700) } catch { throw .system(error) }
        let lockName = "\(root)/\(name.hex).lock"
        let lock: FileLock
        do { lock = try FileLock(lockName) } catch { throw .system(error) }
        defer { _ = lock; try? Sys.unlink(lockName) }
        return try body()
    }

    /// Makes a staged layer (its `diff` complete) visible: layer.json written, the tree durable, then
    /// renamed into place (when another process got there first, its copy stays and this one goes).
    func publish(_ staging: String, _ meta: LayerMeta, chain: Digest) throws(Failure) -> Layer {
        do {
            try Files.writeAtomically(staging + "/layer.json", try JSON.encode(meta))
            // Make the tree durable before it becomes visible.
            try? Sys.syncFileSystem(staging)
            if !(try Sys.renameNoReplace(staging, path(chain))) {
                try? Sys.removeAll(staging)
            }
        } catch let error as SystemError {
            try? Sys.removeAll(staging)
            throw .system(error)
        } catch {
            try? Sys.removeAll(staging)
            throw .system(SystemError("write layer.json", staging, code: EIO))
        }
        guard let result = layer(chain) else { throw .system(SystemError("read layer.json", path(chain), code: ENOENT)) }
        return result
    }

    /// Takes a directory that already holds a layer in the store's form — a build step's overlay upper
    /// directory or the tree a COPY wrote, exactly the entries its tar (`diffID`, packed from it) holds —
    /// as the layer, by renaming it into place instead of unpacking the tar again. What overlayfs
    /// recorded there for its own use (`trusted.overlay.origin`, `impure`, `uuid`…, all but `opaque`)
    /// and sockets (no tar holds them) are removed first. The directory is gone afterwards, also when
    /// the store had the layer already.
    public func adopt(_ directory: String, diffID: Digest, blob: Digest, chainID: Digest) throws(Failure) -> Layer {
        try locked(chainID) { () throws(Failure) -> Layer in
            if let existing = layer(chainID) {
                try? Sys.removeAll(directory)
                return existing
            }
            let staging = "\(root)/tmp-\(chainID.short)-\(Sys.pid)-\(UInt32.random(in: 0...UInt32.max))"
            let size: Int64
            do throws(SystemError) {
                size = try Self.normalize(directory)
                try Sys.mkdir(staging, 0o700)
                try Sys.rename(directory, staging + "/diff")
            } catch {
                try? Sys.removeAll(staging)
                throw .system(error)
            }
            return try publish(staging, LayerMeta(diffID: diffID, blob: blob, size: size, unpacked: Timestamp.rfc3339()), chain: chainID)
        }
    }

    /// Overlay's bookkeeping xattrs and sockets out of a tree; the bytes of file content it holds
    /// (each hard-linked file once), as an unpack counts them.
    static func normalize(_ root: String) throws(SystemError) -> Int64 {
        var bytes: Int64 = 0
        var seen: Set<String> = []
        func clean(_ path: String) {
            for name in Sys.listXattrs(path) where name.hasPrefix("trusted.overlay.") || name.hasPrefix("user.overlay.") {
                if name == "trusted.overlay.opaque" { continue }
                // An opaque directory in the form the store's mounts read (as an unpack writes it).
                if name == "user.overlay.opaque", let value = Sys.getXattr(path, name) { try? Sys.setXattr(path, "trusted.overlay.opaque", value) }
                try? Sys.removeXattr(path, name)
            }
        }
        func visit(_ directory: String) throws(SystemError) {
            clean(directory)
            for name in try Sys.list(directory) {
                let full = directory + "/" + name
                let st = try Sys.fileStatus(full)
                switch st.st_mode & S_IFMT {
                case S_IFDIR: try visit(full)
                case S_IFSOCK: try Sys.unlink(full)
                case S_IFREG:
                    if st.st_nlink < 2 || seen.insert("\(st.st_ino)").inserted { bytes += Int64(st.st_size) }
                    clean(full)
                default: clean(full)
                }
            }
        }
        try visit(root)
        return bytes
    }

    public func allChainIDs() -> [Digest] {
        ((try? Sys.list(root)) ?? []).compactMap { name in
            guard name.count == 64 else { return nil }
            return Digest("sha256:\(name)")
        }
    }

    public func remove(_ chainID: Digest) throws(SystemError) {
        let p = path(chainID)
        // Rename first so that a crash never leaves a half-removed layer that looks complete.
        let doomed = "\(root)/removing-\(chainID.short)-\(Sys.pid)"
        try Sys.rename(p, doomed)
        // Its short link (`l/<id>`, for kernels that mount layers by option string) goes with it.
        let target = "../\(chainID.hex)/diff"
        for link in (try? Sys.list(root + "/l")) ?? [] where link.count >= 12 && chainID.hex.hasPrefix(link) {
            if (try? Sys.readlink(root + "/l/" + link)) == target { try? Sys.unlink(root + "/l/" + link) }
        }
        try Sys.removeAll(doomed)
    }

    /// Removes staging directories of processes that no longer exist.
    public func removeStaleStaging() {
        for name in (try? Sys.list(root)) ?? [] where name.hasPrefix("tmp-") || name.hasPrefix("removing-") {
            let parts = name.split(separator: "-")
            let pidPart = name.hasPrefix("tmp-") ? parts.dropLast().last : parts.last
            guard let pidPart, let pid = Int32(pidPart), !Sys.processExists(pid) else { continue }
            try? Sys.removeAll("\(root)/\(name)")
        }
    }
}
