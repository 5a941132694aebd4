#if canImport(Glibc)
import Glibc
#endif

/// A layer unpacked while its blob is still arriving (read from an archive being loaded, downloaded
/// from a registry): each block written to the blob is also handed to an unpacker on a thread of its
/// own, through a pipe, so the layer is never read back from the blob and the two run side by side.
///
/// The unpacked tree waits in a staging directory of the layer store until the image says which chain
/// it belongs to (`LayerStore.publish(_:…)`), or is removed (`discard`). What the receiver sees is
/// checked as an unpack from the blob would be: the tree is refused entry by entry, and the diff_id —
/// the digest of the decompressed stream (for an uncompressed blob, the blob's own digest, hashed once
/// by the blob's writer) — is compared with the image's before the layer is published.
///
/// A blob that turns out not to be a layer (its first bytes are neither a tar header nor a compressed
/// stream) is not unpacked: `feed` ignores it and `finish` reports nothing staged.
public final class LayerReceiver {
    let store: LayerStore
    let label: String
    var pipe: (read: Int32, write: Int32)?
    var thread: BackgroundThread?
    var staging: String?
    var declined = false
    var compressed = false
    /// Filled by the unpacking thread; read after it is joined.
    var failure: LayerUnpacker.Failure?
    var decompressedDigest: Digest?
    var unpackedBytes: Int64 = 0
    var broken = false

    /// The first bytes decide whether the blob is a layer: a tar header (`ustar` at 257) or the magic
    /// of a stream libarchive decompresses (gzip, zstd, xz, bzip2).
    static func looksLikeLayer(_ head: UnsafeRawBufferPointer) -> (layer: Bool, compressed: Bool) {
        let b = Array(head.prefix(512))
        if b.count >= 2 && b[0] == 0x1f && b[1] == 0x8b { return (true, true) }
        if b.count >= 4 && b[0] == 0x28 && b[1] == 0xb5 && b[2] == 0x2f && b[3] == 0xfd { return (true, true) }
        if b.count >= 6 && b[0] == 0xfd && b[1] == 0x37 && b[2] == 0x7a && b[3] == 0x58 && b[4] == 0x5a && b[5] == 0x00 { return (true, true) }
        if b.count >= 3 && b[0] == 0x42 && b[1] == 0x5a && b[2] == 0x68 { return (true, true) }
        if b.count >= 262 && b[257] == 0x75 && b[258] == 0x73 && b[259] == 0x74 && b[260] == 0x61 && b[261] == 0x72 { return (true, false) }
        return (false, false)
    }

    public init(store: LayerStore, label: String) {
        self.store = store
        self.label = label
    }

    /// Whether the receiver is unpacking (it saw a layer's first bytes and nothing has gone wrong
    /// with the pipe).
    public var active: Bool { pipe != nil && !broken }

    /// Hands the next bytes of the blob to the unpacker (the first call decides whether there is
    /// one). Never fails: a receiver that cannot go on stops, and the layer is unpacked from the blob.
    public func feed(_ bytes: UnsafeRawBufferPointer) {
        if declined || broken || bytes.isEmpty { return }
        if pipe == nil {
            let (layer, compressed) = Self.looksLikeLayer(bytes)
            guard layer, start(compressed: compressed) else {
                declined = true
                return
            }
        }
        do { try Sys.write(pipe!.write, bytes) } catch { broken = true }
    }

    /// Makes the staging directory and the pipe, and starts the unpacking thread.
    func start(compressed: Bool) -> Bool {
        self.compressed = compressed
        let staging = "\(store.root)/tmp-recv-\(Sys.pid)-\(UInt32.random(in: 0...UInt32.max))"
        let ends: (read: Int32, write: Int32)
        do {
            try Sys.mkdirAll(store.root, 0o700)
            try Sys.mkdir(staging, 0o700)
            try Sys.mkdir(staging + "/diff", 0o755)
            ends = try Sys.pipe()
        } catch {
            try? Sys.removeAll(staging)
            return false
        }
        _ = Sys.setPipeCapacity(ends.write, 1 << 20)
        let readFD = ends.read
        let label = self.label
        guard let thread = BackgroundThread({ [self] in
            self.unpack(from: readFD, into: staging + "/diff", label: label, hashing: compressed)
            // Whatever happened, the writer must never block on a pipe nobody reads.
            var scratch = [UInt8](repeating: 0, count: 64 << 10)
            while ((try? Sys.read(readFD, into: &scratch)) ?? 0) > 0 {}
            Sys.close(readFD)
        }) else {
            // No thread: the layer is unpacked from the blob once it is whole.
            Sys.close(ends.read)
            Sys.close(ends.write)
            try? Sys.removeAll(staging)
            return false
        }
        self.thread = thread
        self.staging = staging
        pipe = ends
        return true
    }

    /// The unpacking thread's work.
    func unpack(from fd: Int32, into directory: String, label: String, hashing: Bool) {
        var unpacker: LayerUnpacker
        do { unpacker = try LayerUnpacker(root: directory) } catch {
            failure = .system(directory, error)
            return
        }
        do {
            decompressedDigest = try unpacker.unpackAll { () throws(ArchiveError) in
                try ArchiveReader(fd: fd, label: label, hashingDecompressed: hashing, decompressingAside: hashing)
            }
        } catch {
            failure = error
        }
        unpackedBytes = unpacker.bytes
    }

    /// What the receiver staged once the blob is whole (`blob` its digest, verified by the writer).
    public struct Staged: Sendable {
        public var blob: Digest
        public var diffID: Digest
        public var size: Int64
        let staging: String
    }

    public enum Outcome: Sendable {
        /// The layer is unpacked and waits to be published.
        case staged(Staged)
        /// The blob is not a layer, or the receiver stopped early: unpack it from the blob if needed.
        case skipped
        /// The blob is a layer the unpacker refused (as an unpack from the blob would).
        case failed(LayerUnpacker.Failure)
    }

    /// Ends the stream (the blob was written whole, with digest `blob`) and waits for the unpacker.
    public func finish(blob: Digest) -> Outcome {
        guard let pipe else { return .skipped }
        Sys.close(pipe.write)
        self.pipe = nil
        thread?.join()
        thread = nil
        if broken {
            discard()
            return .skipped
        }
        if let failure {
            discard()
            return .failed(failure)
        }
        guard let staging else { return .skipped }
        let diffID = compressed ? decompressedDigest : blob
        guard let diffID else {
            discard()
            return .skipped
        }
        self.staging = nil
        return .staged(Staged(blob: blob, diffID: diffID, size: unpackedBytes, staging: staging))
    }

    /// Stops the unpacker (the blob failed) and removes what it staged.
    public func discard() {
        if let pipe {
            Sys.close(pipe.write)
            self.pipe = nil
        }
        thread?.join()
        thread = nil
        if let staging { try? Sys.removeAll(staging) }
        staging = nil
    }

    deinit { discard() }
}

extension LayerStore {
    /// Publishes a layer a receiver staged as chain `chainID`, when the image's diff_id is the one the
    /// receiver computed (else fails as an unpack would). When the store has the layer already, the
    /// staged copy goes.
    public func publish(_ staged: LayerReceiver.Staged, chainID: Digest, expectedDiffID: Digest) throws(Failure) -> Layer {
        guard staged.diffID == expectedDiffID else {
            try? Sys.removeAll(staged.staging)
            throw .diffIDMismatch(blob: staged.blob, expected: expectedDiffID, actual: staged.diffID)
        }
        return try locked(chainID) { () throws(Failure) -> Layer in
            if let existing = layer(chainID) {
                try? Sys.removeAll(staged.staging)
                return existing
            }
            return try publish(staged.staging, LayerMeta(diffID: staged.diffID, blob: staged.blob, size: staged.size, unpacked: Timestamp.rfc3339()),
                               chain: chainID)
        }
    }

    /// Removes a staged layer nothing published.
    public func discard(_ staged: LayerReceiver.Staged) {
        try? Sys.removeAll(staged.staging)
    }
}
