#if canImport(Glibc)
import Glibc
#endif

/// An image held in the store.
public struct ImageRecord: Sendable {
    /// The digest of the image configuration: docker's image ID.
    public var id: Digest
    public var manifestDigest: Digest
    public var manifest: ImageManifest
    public var configuration: ImageConfiguration
    public var references: [ImageReference]

    public init(id: Digest, manifestDigest: Digest, manifest: ImageManifest, configuration: ImageConfiguration, references: [ImageReference]) {
        self.id = id
        self.manifestDigest = manifestDigest
        self.manifest = manifest
        self.configuration = configuration
        self.references = references
    }

    public var created: String? { configuration.created }
    public var platform: Platform {
        Platform(architecture: configuration.architecture, os: configuration.os, variant: configuration.variant)
    }
}

public enum ImageStoreError: Error, Sendable, CustomStringConvertible {
    case notFound(String)
    case ambiguous(String, [Digest])
    case inUse(String, containers: [String])
    case invalidArchive(String)
    case invalidReference(ImageReference.ParseError)
    case system(SystemError)
    case content(ContentStore.Failure)
    case layer(LayerStore.Failure)
    case archive(ArchiveError)

    public var description: String {
        switch self {
        case .notFound(let r): return "no such image: \(r)"
        case .ambiguous(let r, let ids): return "\(r) names several images (\(ids.map(\.short).joined(separator: ", "))): give more of the ID"
        case .inUse(let r, let containers):
            return "image \(r) is used by container\(containers.count == 1 ? "" : "s") \(containers.joined(separator: ", ")) (use -f to remove it anyway)"
        case .invalidArchive(let m): return m
        case .invalidReference(let e): return e.description
        case .system(let e): return e.description
        case .content(let e): return e.description
        case .layer(let e): return e.description
        case .archive(let e): return e.description
        }
    }
}

/// The image store: an OCI image layout under `$SWCOMPOSE_ROOT/images` (content-addressed blobs and
/// an `index.json` naming each tagged manifest), with unpacked layers under `$SWCOMPOSE_ROOT/layers`.
///
/// Every blob is verified on write; `index.json` changes under a lock and is replaced atomically, so a
/// killed command never leaves a half image listed and two commands can load at once. Nothing is
/// garbage-collected except by `prune`.
public struct ImageStore: Sendable {
    public let root: StateRoot
    public let content: ContentStore
    public let layers: LayerStore

    public init(root: StateRoot) {
        self.root = root
        content = ContentStore(root: root.images)
        layers = LayerStore(root: root.layers)
    }

    var indexPath: String { root.images + "/index.json" }
    var lockPath: String { root.images + "/index.lock" }

    /// Creates the layout if needed and clears what dead commands left behind.
    public func prepare() throws(ImageStoreError) {
        do {
            try root.ensure(root.images)
            try root.ensure(root.layers)
            try content.prepare()
            if !Sys.exists(root.images + "/oci-layout") {
                try Files.writeAtomically(root.images + "/oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}")
            }
        } catch {
            throw .system(error)
        }
        content.removeStaleStaging()
        layers.removeStaleStaging()
        LoadJournal.recover(self)
    }

    // MARK: - The index

    func readIndex() throws(ImageStoreError) -> ImageIndex {
        guard Sys.exists(indexPath) else { return ImageIndex() }
        do {
            return try JSON.decode(ImageIndex.self, try Files.read(indexPath))
        } catch {
            throw .invalidArchive("\(indexPath) is not a valid OCI index: \(error)")
        }
    }

    func writeIndex(_ index: ImageIndex) throws(ImageStoreError) {
        do {
            try Files.writeAtomically(indexPath, try JSON.encode(index))
        } catch let error as SystemError {
            throw .system(error)
        } catch {
            throw .invalidArchive("cannot encode the index: \(error)")
        }
    }

    /// Runs `body` with the index locked against other writers, saving what it returns.
    func updateIndex(_ body: (inout ImageIndex) throws(ImageStoreError) -> Void) throws(ImageStoreError) {
        try prepare()
        let lock: FileLock
        do { lock = try FileLock(lockPath) } catch { throw .system(error) }
        defer { _ = lock }
        var index = try readIndex()
        try body(&index)
        try writeIndex(index)
    }

    // MARK: - Reading images

    func manifest(_ digest: Digest) throws(ImageStoreError) -> ImageManifest {
        do {
            return try JSON.decode(ImageManifest.self, try content.read(digest))
        } catch let error as SystemError {
            throw .system(error)
        } catch {
            throw .invalidArchive("manifest \(digest) is not valid: \(error)")
        }
    }

    func configuration(_ digest: Digest) throws(ImageStoreError) -> ImageConfiguration {
        do {
            return try JSON.decode(ImageConfiguration.self, try content.read(digest))
        } catch let error as SystemError {
            throw .system(error)
        } catch {
            throw .invalidArchive("image configuration \(digest) is not valid: \(error)")
        }
    }

    /// Every image, with all the references that name it.
    public func list() throws(ImageStoreError) -> [ImageRecord] {
        let index = try readIndex()
        var byManifest: [Digest: ImageRecord] = [:]
        var order: [Digest] = []
        for d in index.manifests {
            if byManifest[d.digest] == nil {
                let m = try manifest(d.digest)
                let c = try configuration(m.config.digest)
                byManifest[d.digest] = ImageRecord(id: m.config.digest, manifestDigest: d.digest, manifest: m, configuration: c, references: [])
                order.append(d.digest)
            }
            if let name = d.annotations?[Descriptor.refNameAnnotation], let ref = try? ImageReference(parsing: name) {
                byManifest[d.digest]!.references.append(ref)
            }
        }
        return order.map { byManifest[$0]! }
    }

    /// Finds an image by reference (`busybox`, `busybox:1.36`, `name@sha256:…`), by image ID or by a
    /// prefix of it (at least 4 characters).
    public func resolve(_ text: String) throws(ImageStoreError) -> ImageRecord {
        try resolve(text, among: try list())
    }

    /// `resolve` against a listing already read (for callers resolving many names at once).
    public func resolve(_ text: String, among images: [ImageRecord]) throws(ImageStoreError) -> ImageRecord {
        let idText = text.hasPrefix("sha256:") ? String(text.dropFirst(7)) : text
        if idText.count >= 4, idText.allSatisfy({ $0.isHexDigit }) {
            let matches = images.filter { $0.id.hex.hasPrefix(idText) }
            if matches.count == 1 { return matches[0] }
            if matches.count > 1 { throw .ambiguous(text, matches.map(\.id)) }
        }
        guard let ref = try? ImageReference(parsing: text) else { throw .notFound(text) }
        if let digest = ref.digest {
            if let image = images.first(where: { $0.manifestDigest == digest }) { return image }
        }
        if let image = images.first(where: { $0.references.contains(ref) }) { return image }
        throw .notFound(text)
    }

    /// The unpacked layers of an image, bottom first (unpacking any that are missing).
    public func layers(of image: ImageRecord) throws(ImageStoreError) -> [LayerStore.Layer] {
        var none: [Digest: LayerReceiver.Outcome] = [:]
        return try layers(of: image, received: &none)
    }

    /// `layers(of:)`, taking missing layers from what receivers unpacked while the blobs arrived.
    func layers(of image: ImageRecord, received: inout [Digest: LayerReceiver.Outcome]) throws(ImageStoreError) -> [LayerStore.Layer] {
        let diffIDs = image.configuration.rootfs.diffIDs
        guard diffIDs.count == image.manifest.layers.count else {
            throw .invalidArchive("image \(image.id.short) has \(image.manifest.layers.count) layers but \(diffIDs.count) diff_ids")
        }
        do {
            return try layers.ensure(diffIDs: diffIDs, blobs: image.manifest.layers.map { content.path($0.digest) },
                                     blobDigests: image.manifest.layers.map(\.digest), received: &received)
        } catch {
            throw .layer(error)
        }
    }

    /// The sum of the unpacked layer sizes (docker's image size).
    public func size(of image: ImageRecord) -> Int64 {
        let chains = LayerStore.chainIDs(image.configuration.rootfs.diffIDs)
        var total: Int64 = 0
        for (i, chain) in chains.enumerated() {
            if let layer = layers.layer(chain) { total += layer.size } else if i < image.manifest.layers.count { total += image.manifest.layers[i].size }
        }
        return total
    }

    // MARK: - Naming

    /// Points `references` at a manifest (moving each away from any image it named before).
    package func record(manifest: Descriptor, references: [ImageReference]) throws(ImageStoreError) {
        try updateIndex { (index) throws(ImageStoreError) in
            if references.isEmpty {
                if !index.manifests.contains(where: { $0.digest == manifest.digest }) {
                    var d = manifest
                    d.annotations = nil
                    index.manifests.append(d)
                }
                return
            }
            for ref in references {
                index.manifests.removeAll { $0.annotations?[Descriptor.refNameAnnotation] == ref.description }
                var d = manifest
                d.annotations = [Descriptor.refNameAnnotation: ref.description]
                index.manifests.append(d)
            }
            // The same manifest listed without a name is now named.
            index.manifests.removeAll { $0.digest == manifest.digest && $0.annotations?[Descriptor.refNameAnnotation] == nil }
        }
    }

    // MARK: - Transfers

    var transferLockPath: String { root.images + "/transfer.lock" }

    /// Held (shared) while blobs are added that nothing names yet, so that `prune` (which takes it
    /// exclusively) does not collect them.
    public func holdForTransfer() throws(ImageStoreError) -> FileLock {
        try prepare()
        do { return try FileLock(transferLockPath, exclusive: false) } catch { throw .system(error) }
    }

    // MARK: - Pull times

    var pulledPath: String { root.images + "/pulled.json" }

    /// Notes that `references` were just pulled (for `pull_policy: daily`, `weekly`, `every_…`).
    package func recordPulled(_ references: [ImageReference]) throws(ImageStoreError) {
        try updateIndex { (_) throws(ImageStoreError) in
            var times = (try? JSON.decode([String: Int64].self, Files.read(pulledPath))) ?? [:]
            let now = Int64(Timestamp.now().tv_sec)
            for r in references { times[r.description] = now }
            do { try Files.writeAtomically(pulledPath, try JSON.encode(times)) } catch let error as SystemError {
                throw .system(error)
            } catch {
                throw .invalidArchive("cannot encode \(pulledPath): \(error)")
            }
        }
    }

    /// When `reference` was last pulled (seconds since the epoch), if it ever was.
    public func lastPulled(_ reference: ImageReference) -> Int64? {
        guard let times = try? JSON.decode([String: Int64].self, Files.read(pulledPath)) else { return nil }
        return times[reference.description]
    }

    /// Adds `target` as a name of the image `source` names.
    public func tag(_ source: String, _ target: String) throws(ImageStoreError) {
        let image = try resolve(source)
        let ref: ImageReference
        do { ref = try ImageReference(parsing: target) } catch { throw .invalidReference(error) }
        let size = content.size(image.manifestDigest) ?? 0
        try record(manifest: Descriptor(mediaType: image.manifest.mediaType ?? MediaType.ociManifest, digest: image.manifestDigest, size: size),
                   references: [ref])
    }

    public struct Removal: Sendable {
        public var untagged: [ImageReference] = []
        public var deleted: [Digest] = []
    }

    /// `image rm`: removes a name; when an image loses its last name (or is named by ID) it is
    /// deleted from the index. Refused while a container uses the image, unless `force`.
    public func remove(_ text: String, force: Bool, usedBy: (Digest) -> [String]) throws(ImageStoreError) -> Removal {
        let image = try resolve(text)
        let ref = try? ImageReference(parsing: text)
        let byName = ref.map { image.references.contains($0) } ?? false
        var removal = Removal()
        // As docker: the last tag of a repository takes that repository's digest names with it.
        var doomed = ref.map { [$0] } ?? []
        if byName, let ref, ref.digest == nil,
           !image.references.contains(where: { $0 != ref && $0.name == ref.name && $0.digest == nil }) {
            doomed += image.references.filter { $0.name == ref.name && $0.digest != nil }
        }
        let remaining = byName ? image.references.filter { !doomed.contains($0) } : []
        if remaining.isEmpty {
            let users = usedBy(image.id)
            if !users.isEmpty && !force { throw .inUse(text, containers: users) }
        }
        if !byName && image.references.count > 1 && !force {
            throw .invalidArchive("image \(image.id.short) has several names (\(image.references.map(\.familiar).joined(separator: ", "))): remove them by name, or use -f")
        }
        try updateIndex { (index) throws(ImageStoreError) in
            if byName {
                for r in doomed {
                    index.manifests.removeAll { $0.annotations?[Descriptor.refNameAnnotation] == r.description }
                    removal.untagged.append(r)
                }
            } else {
                // By ID: every name of the image goes, and the image with them.
                index.manifests.removeAll { $0.digest == image.manifestDigest }
                removal.untagged = image.references
            }
            if !index.manifests.contains(where: { $0.digest == image.manifestDigest && $0.annotations?[Descriptor.refNameAnnotation] != nil }) {
                index.manifests.removeAll { $0.digest == image.manifestDigest }
                removal.deleted.append(image.id)
            }
        }
        return removal
    }

    public struct PruneReport: Sendable {
        public var deletedImages: [Digest] = []
        public var untagged: [ImageReference] = []
        public var blobs = 0
        public var layers = 0
        public var reclaimed: Int64 = 0
    }

    /// `image prune`: deletes images without a name (all unused images with `all`), then the blobs
    /// and unpacked layers nothing refers to any more.
    /// The blobs the index reaches: its manifests, their configs and layers.
    func liveBlobs(_ index: ImageIndex? = nil) -> Set<Digest> {
        guard let index = index ?? (try? readIndex()) else { return [] }
        var live: Set<Digest> = []
        for d in index.manifests {
            live.insert(d.digest)
            guard let m = try? manifest(d.digest) else { continue }
            live.insert(m.config.digest)
            for l in m.layers { live.insert(l.digest) }
        }
        return live
    }

    public func prune(all: Bool, usedBy: (Digest) -> [String], keepLayers: Set<Digest> = []) throws(ImageStoreError) -> PruneReport {
        // Pulls and loads in progress have blobs they have not named yet: wait for them.
        let transfers: FileLock
        do { transfers = try FileLock(transferLockPath) } catch { throw .system(error) }
        defer { withExtendedLifetime(transfers) {} }
        var report = PruneReport()
        let images = try list()
        var doomed: Set<Digest> = []
        for image in images where usedBy(image.id).isEmpty && (image.references.isEmpty || all) {
            doomed.insert(image.manifestDigest)
            report.deletedImages.append(image.id)
            report.untagged.append(contentsOf: image.references)
        }
        let lock: FileLock
        do { lock = try FileLock(lockPath) } catch { throw .system(error) }
        defer { _ = lock }
        var index = try readIndex()
        index.manifests.removeAll { doomed.contains($0.digest) }
        try writeIndex(index)
        collectUnreferenced(index, keepLayers: keepLayers, into: &report)
        return report
    }

    /// `builder prune`'s second half: the blobs and layers no image names (build steps' layers the
    /// cache no longer keeps), without touching any image.
    public func collectUnreferenced(keepLayers: Set<Digest>) throws(ImageStoreError) -> PruneReport {
        let transfers: FileLock
        do { transfers = try FileLock(transferLockPath) } catch { throw .system(error) }
        defer { withExtendedLifetime(transfers) {} }
        let lock: FileLock
        do { lock = try FileLock(lockPath) } catch { throw .system(error) }
        defer { _ = lock }
        var report = PruneReport()
        collectUnreferenced(try readIndex(), keepLayers: keepLayers, into: &report)
        return report
    }

    func collectUnreferenced(_ index: ImageIndex, keepLayers: Set<Digest>, into report: inout PruneReport) {
        // Everything still reachable from the index (or a container) is kept.
        let liveBlobs = liveBlobs(index)
        var liveChains = keepLayers
        for d in index.manifests {
            guard let m = try? manifest(d.digest), let c = try? configuration(m.config.digest) else { continue }
            liveChains.formUnion(LayerStore.chainIDs(c.rootfs.diffIDs))
        }
        for blob in content.allBlobs() where !liveBlobs.contains(blob) {
            report.reclaimed += content.size(blob) ?? 0
            try? content.remove(blob)
            report.blobs += 1
        }
        for chain in layers.allChainIDs() where !liveChains.contains(chain) {
            report.reclaimed += layers.layer(chain)?.size ?? 0
            try? layers.remove(chain)
            report.layers += 1
        }
        // Downloads interrupted pulls left for resuming (those no pull is working on).
        let ingest = root.images + "/ingest"
        for name in (try? Sys.list(ingest)) ?? [] where name.hasSuffix(".partial") {
            let hex = name.dropLast(8)
            guard let held = try? FileLock.attempt("\(ingest)/\(hex).lock") else { continue }
            report.reclaimed += (try? Sys.fileStatus("\(ingest)/\(name)")).map { Int64($0.st_size) } ?? 0
            try? Sys.unlink("\(ingest)/\(name)")
            try? Sys.unlink("\(ingest)/\(hex).lock")
            withExtendedLifetime(held) {}
        }
    }
}
