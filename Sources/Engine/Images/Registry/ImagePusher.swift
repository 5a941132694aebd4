#if canImport(Glibc)
import Glibc
#endif
import Engine
import AsyncHTTPClient
import NIOCore

/// What happens to one blob of a push, in docker's words.
public enum PushProgress: Sendable, Equatable {
    case preparing
    case layerAlreadyExists
    case pushing(done: Int64, total: Int64)
    case pushed
}

/// Pushes an image of the store to a registry: each layer and the configuration that the repository
/// lacks (HEAD, then a monolithic upload streamed from the content store), then the manifest exactly as
/// stored, so that its digest is the one the store knows.
public struct ImagePusher: Sendable {
    public let store: ImageStore
    public let client: RegistryClient

    public init(store: ImageStore, client: RegistryClient) {
        self.store = store
        self.client = client
    }

    /// Returns the manifest digest and size.
    public func push(_ image: ImageRecord, to ref: ImageReference,
                     progress: @escaping @Sendable (Digest, PushProgress) -> Void = { _, _ in }) async throws -> (digest: Digest, size: Int) {
        try await push(manifest: image.manifest, digest: image.manifestDigest, label: "image \(image.id.short)", to: ref, progress: progress)
    }

    /// Pushes a manifest of the content store (an image's, or a build cache artifact's) with its blobs.
    public func push(manifest: ImageManifest, digest: Digest, label: String, to ref: ImageReference,
                     progress: @escaping @Sendable (Digest, PushProgress) -> Void = { _, _ in }) async throws -> (digest: Digest, size: Int) {
        let manifestBytes: [UInt8]
        do { manifestBytes = try store.content.read(digest) } catch {
            throw RegistryError(.local, "the manifest of \(label) is missing from the store: \(error)")
        }
        let scope = "repository:\(ref.path):pull,push"
        let blobs = manifest.layers + [manifest.config]
        for d in blobs { progress(d.digest, .preparing) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = 0
            func addNext() {
                guard next < blobs.count else { return }
                let d = blobs[next]
                next += 1
                group.addTask {
                    if try await client.hasBlob(ref, d.digest, scope: scope) {
                        progress(d.digest, .layerAlreadyExists)
                        return
                    }
                    let path = store.content.path(d.digest)
                    guard let size = store.content.size(d.digest) else {
                        throw RegistryError(.local, "blob \(d.digest) of \(label) is missing from the store")
                    }
                    progress(d.digest, .pushing(done: 0, total: size))
                    try await client.upload(ref, d.digest, size: size) {
                        .stream(FileChunks(path: path) { done in progress(d.digest, .pushing(done: done, total: size)) }, length: .known(size))
                    }
                    progress(d.digest, .pushed)
                }
            }
            for _ in 0..<3 { addNext() }
            while try await group.next() != nil { addNext() }
        }
        let mediaType = manifest.mediaType ?? MediaType.ociManifest
        try await client.putManifest(ref, reference: ref.digest?.description ?? ref.tag ?? "latest", mediaType: mediaType, bytes: manifestBytes)
        return (digest, manifestBytes.count)
    }
}

/// A file read in 1 MiB chunks, as an upload body.
struct FileChunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let path: String
    let report: @Sendable (Int64) -> Void

    init(path: String, report: @escaping @Sendable (Int64) -> Void) {
        self.path = path
        self.report = report
    }

    struct AsyncIterator: AsyncIteratorProtocol {
        let path: String
        let report: @Sendable (Int64) -> Void
        var handle: FileHandle?
        var done: Int64 = 0
        var lastReport: Double = 0

        mutating func next() async throws -> ByteBuffer? {
            if handle == nil {
                do { handle = try FileHandle(path: path, flags: O_RDONLY) } catch { throw RegistryError(.local, error.description) }
            }
            var buffer = ByteBuffer()
            buffer.reserveCapacity(1 << 20)
            let fd = handle!.fd
            let n: Int
            do {
                n = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 1 << 20) { raw in try Sys.read(fd, into: raw) }
            } catch {
                throw RegistryError(.local, "reading \(path): \(error)")
            }
            if n == 0 { return nil }
            done += Int64(n)
            let now = MonotonicClock.now()
            if now - lastReport >= 0.1 {
                lastReport = now
                report(done)
            }
            return buffer
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(path: path, report: report) }
}
