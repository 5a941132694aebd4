#if canImport(Glibc)
import Glibc
#endif
import Engine
import AsyncHTTPClient
import Dispatch
import FoundationEssentials
import NIOCore

/// What happens to one layer of a pull, in docker's words.
public enum LayerProgress: Sendable, Equatable {
    case alreadyExists
    case pullingFSLayer
    /// Another command is fetching the same blob.
    case waiting
    case downloading(done: Int64, total: Int64)
    case verifyingChecksum
    case downloadComplete
    case extracting
    case pullComplete
}

public struct PullResult: Sendable {
    public var image: ImageRecord
    /// The digest the registry names the image by (the index's, for a multi-platform image).
    public var digest: Digest
    public var downloadedBytes: Int64
}

/// Pulls an image from a registry into the image store: the manifest (the host's or the asked-for
/// platform from an index), the configuration, then the layers in parallel (bounded), each streamed
/// into `images/ingest/<hex>.partial` while hashed, verified, moved into the content store and
/// unpacked while the others download. Partial downloads stay for the next pull to resume (with a
/// Range request); a per-blob lock lets concurrent pulls share the work. The image is named in the
/// index only once everything is there, so an interrupted pull never lists a partial image.
public struct ImagePuller: Sendable {
    public let store: ImageStore
    public let client: RegistryClient
    public var parallelism: Int

    public init(store: ImageStore, client: RegistryClient, parallelism: Int = 3) {
        self.store = store
        self.client = client
        self.parallelism = max(1, parallelism)
    }

    var ingestDirectory: String { store.root.images + "/ingest" }

    public func pull(_ ref: ImageReference, platform wanted: Platform? = nil,
                     progress: @escaping @Sendable (Digest, LayerProgress) -> Void = { _, _ in }) async throws -> PullResult {
        let transfer: FileLock
        do {
            transfer = try store.holdForTransfer()
            try Sys.mkdirAll(ingestDirectory, 0o700)
        } catch {
            throw RegistryError(.local, "cannot prepare the image store for the pull", cause: error)
        }
        defer { withExtendedLifetime(transfer) {} }
        // Docker Hub's images come from the mirrors when they have them; the image is fetched whole
        // from the first registry that serves its manifest, and named as asked for.
        let (top, source) = try await firstManifest(ref)
        let named = ref
        let ref = source
        var manifestDoc = top
        var topIndex: [UInt8]?
        if MediaType.isIndex(top.mediaType) {
            let index: ImageIndex
            do { index = try JSON.decode(ImageIndex.self, top.bytes) } catch {
                throw RegistryError(.invalid, "the index of \(ref.familiar) is not valid: \(error)")
            }
            let platform = wanted ?? Platform.host
            guard let chosen = Self.select(index, for: platform) else {
                let offered = Self.offered(index).map(\.description)
                throw RegistryError(.unsupportedPlatform,
                                    "no matching manifest for \(platform) in the manifest list entries of \(ref.familiar) (it offers \(offered.isEmpty ? "none" : offered.joined(separator: ", ")))")
            }
            manifestDoc = try await client.manifest(ref, reference: chosen.digest.description)
            topIndex = top.bytes
        }
        guard MediaType.isManifest(manifestDoc.mediaType) else {
            throw RegistryError(.invalid, "\(ref.familiar): unsupported manifest media type \(manifestDoc.mediaType)")
        }
        let manifest: ImageManifest
        do { manifest = try JSON.decode(ImageManifest.self, manifestDoc.bytes) } catch {
            throw RegistryError(.invalid, "the manifest of \(ref.familiar) is not valid: \(error)")
        }

        // The configuration: small, fetched whole and verified.
        let configBytes = try await retrying { try await smallBlob(ref, manifest.config) }
        let configuration: ImageConfiguration
        do { configuration = try JSON.decode(ImageConfiguration.self, configBytes) } catch {
            throw RegistryError(.invalid, "the image configuration \(manifest.config.digest) of \(ref.familiar) is not valid: \(error)")
        }
        if let wanted, topIndex == nil, !Self.matches(Platform(architecture: configuration.architecture, os: configuration.os, variant: configuration.variant), wanted) {
            throw RegistryError(.unsupportedPlatform,
                                "image \(ref.familiar) was found but does not match the specified platform: wanted \(wanted), actual: \(configuration.os)/\(configuration.architecture)\(configuration.variant.map { "/" + $0 } ?? "")")
        }
        let diffIDs = configuration.rootfs.diffIDs
        guard diffIDs.count == manifest.layers.count else {
            throw RegistryError(.invalid, "\(ref.familiar): the manifest lists \(manifest.layers.count) layers but the configuration \(diffIDs.count) diff_ids")
        }
        for layer in manifest.layers where !Self.isLayerMediaType(layer.mediaType) {
            throw RegistryError(.invalid, "\(ref.familiar): layer \(layer.digest) has the unsupported media type \(layer.mediaType)")
        }

        // The layers, in parallel, each unpacked as soon as it is whole.
        let chains = LayerStore.chainIDs(diffIDs)
        var jobs: [(index: Int, descriptor: Descriptor)] = []
        for (i, layer) in manifest.layers.enumerated() {
            if store.content.contains(layer.digest) && store.layers.layer(chains[i]) != nil {
                progress(layer.digest, .alreadyExists)
            } else {
                progress(layer.digest, .pullingFSLayer)
                jobs.append((i, layer))
            }
        }
        let downloaded = try await withThrowingTaskGroup(of: Int64.self) { group in
            var next = 0
            var total: Int64 = 0
            func addNext() {
                guard next < jobs.count else { return }
                let job = jobs[next]
                next += 1
                group.addTask {
                    let (bytes, received) = try await retrying { try await fetchBlob(ref, job.descriptor, progress: progress) }
                    progress(job.descriptor.digest, .extracting)
                    try await unpack(blob: job.descriptor.digest, chainID: chains[job.index], diffID: diffIDs[job.index], received: received)
                    progress(job.descriptor.digest, .pullComplete)
                    return bytes
                }
            }
            for _ in 0..<parallelism { addNext() }
            while let bytes = try await group.next() {
                total += bytes
                addNext()
            }
            return total
        }

        // Everything is there: the documents, then the names.
        do {
            try store.content.put(configBytes, expected: manifest.config.digest)
            try store.content.put(manifestDoc.bytes, expected: manifestDoc.digest)
            if let topIndex { try store.content.put(topIndex, expected: top.digest) }
            try store.content.syncAll()
        } catch {
            throw RegistryError(.local, "cannot store the pulled documents", cause: error)
        }
        var references: [ImageReference] = [ImageReference(domain: named.domain, path: named.path, tag: nil, digest: top.digest)]
        if named.digest == nil, let tag = named.tag { references.insert(named.with(tag: tag), at: 0) }
        let descriptor = Descriptor(mediaType: manifestDoc.mediaType, digest: manifestDoc.digest, size: Int64(manifestDoc.bytes.count))
        do {
            try store.record(manifest: descriptor, references: references)
            try store.recordPulled(references)
        } catch {
            throw RegistryError(.local, "cannot name the pulled image", cause: error)
        }
        let image = ImageRecord(id: manifest.config.digest, manifestDigest: manifestDoc.digest, manifest: manifest,
                                configuration: configuration, references: references)
        return PullResult(image: image, digest: top.digest, downloadedBytes: downloaded)
    }

    /// The manifest of `ref` from the first of its pull domains that serves it (mirrors, then the
    /// registry), with the reference to fetch the rest from. A mirror that fails is passed over; the
    /// registry's own failure is the one reported.
    func firstManifest(_ ref: ImageReference) async throws -> (RegistryClient.FetchedManifest, ImageReference) {
        let domains = client.hosts.pullDomains(ref.domain)
        for domain in domains.dropLast() {
            var mirrored = ref
            mirrored.domain = domain
            if let top = try? await client.manifest(mirrored) { return (top, mirrored) }
        }
        return (try await client.manifest(ref), ref)
    }

    static func isLayerMediaType(_ t: String) -> Bool {
        [MediaType.ociLayer, MediaType.ociLayerGzip, MediaType.ociLayerZstd, MediaType.dockerLayer, MediaType.dockerLayerGzip,
         "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"].contains(t)
    }

    // MARK: - Platforms

    /// The manifests of an index that are images (not attestations), with their platforms.
    static func offered(_ index: ImageIndex) -> [Platform] {
        index.manifests.compactMap { d in
            guard let p = d.platform, p.os != "unknown", d.annotations?["vnd.docker.reference.type"] == nil else { return nil }
            return p
        }
    }

    static func normalizedVariant(_ p: Platform) -> String? {
        if let v = p.variant, !v.isEmpty { return v }
        switch p.architecture {
        case "arm64": return "v8"
        case "arm": return "v7"
        default: return nil
        }
    }

    static func matches(_ offered: Platform, _ wanted: Platform) -> Bool {
        guard offered.os == wanted.os, offered.architecture == wanted.architecture else { return false }
        if wanted.variant == nil || wanted.variant == "" { return true }
        return normalizedVariant(offered) == normalizedVariant(wanted)
    }

    /// The manifest for `wanted`: an exact variant first, then any of the architecture.
    static func select(_ index: ImageIndex, for wanted: Platform) -> Descriptor? {
        let candidates = index.manifests.filter { d in
            guard let p = d.platform, d.annotations?["vnd.docker.reference.type"] == nil else { return false }
            return matches(p, wanted)
        }
        if let exact = candidates.first(where: { normalizedVariant($0.platform!) == normalizedVariant(wanted) }) { return exact }
        return candidates.first
    }

    // MARK: - Blobs

    func smallBlob(_ ref: ImageReference, _ d: Descriptor) async throws -> [UInt8] {
        if store.content.contains(d.digest), let bytes = try? store.content.read(d.digest), Digest.of(bytes) == d.digest { return bytes }
        let response = try await client.blob(ref, d.digest)
        let bytes = try await RegistryClient.collect(response, limit: 16 << 20)
        let actual = Digest.of(bytes)
        guard actual == d.digest else {
            throw RegistryError(.corrupt, "blob \(d.digest) of \(ref.familiarName) is corrupt: its content hashes to \(actual)")
        }
        return bytes
    }

    /// `body`, tried again when the connection fails: up to five attempts, as dockerd makes (a blob
    /// download resumes what arrived).
    func retrying<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        var attempt = 1
        while true {
            do {
                return try await body()
            } catch let error as RegistryError where error.kind == .unreachable && attempt < 5 {
                try await Task.sleep(nanoseconds: UInt64(attempt) * 500_000_000)
                attempt += 1
            }
        }
    }

    /// Downloads one blob into the content store, resuming a partial copy; returns the bytes fetched
    /// and the layer unpacked while they arrived (`.skipped` when the download resumed or the store
    /// had the blob: then it is unpacked from the blob).
    func fetchBlob(_ ref: ImageReference, _ d: Descriptor,
                   progress: @escaping @Sendable (Digest, LayerProgress) -> Void) async throws -> (Int64, LayerReceiver.Outcome) {
        let hex = d.digest.hex
        let lockPath = "\(ingestDirectory)/\(hex).lock"
        let partial = "\(ingestDirectory)/\(hex).partial"
        var lock: FileLock?
        var told = false
        while lock == nil {
            do { lock = try FileLock.attempt(lockPath) } catch { throw RegistryError(.local, "cannot lock the download", cause: error) }
            if lock == nil {
                if !told { progress(d.digest, .waiting); told = true }
                try await Task.sleep(nanoseconds: 50_000_000)
            }
        }
        defer { withExtendedLifetime(lock) {} }
        if store.content.contains(d.digest) {
            progress(d.digest, .downloadComplete)
            return (0, .skipped)
        }

        // What a previous attempt left: hashed again, then continued.
        var writer: BlobWriter
        do { writer = try BlobWriter(store: store.content, resuming: partial, limit: d.size) } catch {
            throw RegistryError(.local, "cannot resume the download", cause: error)
        }
        defer { writer.suspend() }
        var offset = writer.size
        let response = try await client.blob(ref, d.digest, offset: offset)
        if response.status == .ok && offset > 0 {
            do { try writer.restart() } catch { throw RegistryError(.local, "cannot restart the download", cause: error) }
            offset = 0
        }
        var lastReport: Double = 0
        progress(d.digest, .downloading(done: writer.size, total: d.size))
        // A download from the first byte is unpacked as it arrives (on a thread of its own).
        let receiver = offset == 0 ? LayerReceiver(store: store.layers, label: "blob \(d.digest) of \(ref.familiarName)") : nil
        defer { receiver?.discard() }
        do {
            for try await chunk in response.body {
                var failure: SystemError?
                chunk.withUnsafeReadableBytes { bytes in
                    do throws(SystemError) { try writer.write(bytes) } catch { failure = error }
                    receiver?.feed(bytes)
                }
                if let failure { throw RegistryError(.local, failure.description) }
                if writer.size > d.size {
                    writer.abandon()
                    throw RegistryError(.corrupt, "blob \(d.digest) of \(ref.familiarName) is corrupt: the registry sent more than its \(d.size) bytes")
                }
                let now = MonotonicClock.now()
                if now - lastReport >= 0.1 {
                    lastReport = now
                    progress(d.digest, .downloading(done: writer.size, total: d.size))
                }
            }
        } catch let error as RegistryError {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw RegistryError(.unreachable, "downloading blob \(d.digest) of \(ref.familiarName): \(RegistryClient.describeTransport(error)) (\(writer.size) of \(d.size) bytes kept; pulling again resumes)")
        }
        let written = writer.size
        progress(d.digest, .downloading(done: written, total: d.size))
        guard written == d.size else {
            throw RegistryError(.unreachable, "downloading blob \(d.digest) of \(ref.familiarName): the connection ended after \(written) of \(d.size) bytes (pulling again resumes)")
        }
        progress(d.digest, .verifyingChecksum)
        do {
            _ = try writer.commit(expected: d.digest)
        } catch .mismatch(let m) {
            throw RegistryError(.corrupt, "blob \(d.digest) of \(ref.familiarName) is corrupt: its content hashes to \(m.actual); nothing was kept")
        } catch {
            throw RegistryError(.local, "cannot unpack the layer", cause: error)
        }
        try? Sys.unlink(lockPath)
        progress(d.digest, .downloadComplete)
        return (written - offset, receiver?.finish(blob: d.digest) ?? .skipped)
    }

    /// Unpacks a layer (checking its diff_id) on a thread of its own, libarchive blocks — or publishes
    /// what was unpacked while it downloaded.
    func unpack(blob: Digest, chainID: Digest, diffID: Digest, received: LayerReceiver.Outcome) async throws {
        let layers = store.layers
        let path = store.content.path(blob)
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            DispatchQueue.global().async {
                do throws(LayerStore.Failure) {
                    _ = try layers.ensureLayer(chainID: chainID, diffID: diffID, blobPath: path, blob: blob, received: received)
                    continuation.resume()
                } catch {
                    continuation.resume(throwing: RegistryError(.corrupt, error.description))
                }
            }
        }
    }
}

extension Platform {
    /// `os/arch[/variant]` (`linux/arm64/v8`); `arch` alone means linux.
    public init?(parsing text: String) {
        let parts = text.lowercased().split(separator: "/").map(String.init)
        switch parts.count {
        case 1: self.init(architecture: parts[0], os: "linux")
        case 2: self.init(architecture: parts[1], os: parts[0])
        case 3: self.init(architecture: parts[1], os: parts[0], variant: parts[2])
        default: return nil
        }
        if architecture == "x86_64" || architecture == "x86-64" { architecture = "amd64" }
        if architecture == "aarch64" { architecture = "arm64" }
        if architecture.isEmpty || os.isEmpty { return nil }
    }
}
