#if canImport(Glibc)
import Glibc
#endif

extension ImageStore {
    /// What `commit` records besides the container's changes.
    public struct Commit: Sendable {
        /// The new image's config (the container's, as it ran), before `changes`.
        public var config: ContainerConfig
        /// Dockerfile instructions applied to the config (`-c "CMD [\"app\"]"`).
        public var changes: [String] = []
        public var message: String?
        public var author: String?
        /// The history entry's `created_by` (the container's command).
        public var createdBy: String
        public var references: [ImageReference] = []

        public init(config: ContainerConfig, createdBy: String) {
            self.config = config
            self.createdBy = createdBy
        }
    }

    /// `commit`: a container's filesystem changes — its upper directory, minus what the runtime put
    /// there (`/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf`, mount points), whiteouts for
    /// deletions — packed as one layer on top of its image's, the config and history recorded.
    public func commit(_ record: ContainerRecord, runtime: Runtime, _ commit: Commit) throws(ImageStoreError) -> ImageRecord {
        let image = try resolve(record.spec.image.id)
        let upper = runtime.containerDirectory(record.id) + "/upper"
        let lowers = ContainerChanges.lowers(record, runtime: runtime)
        let leftOut = ContainerChanges.leftOut(upper: upper, lowers: lowers, mountPoints: record.spec.mounts.map(\.destination))
        var config = commit.config
        for change in commit.changes {
            do { try ImageChanges.apply(change, to: &config) } catch { throw .invalidArchive(error.description) }
        }
        try prepare()
        let packed: LayerPacker.Result
        do { packed = try LayerPacker.pack(upper, into: content, excluding: leftOut) } catch { throw .invalidArchive("cannot pack the container's changes: \(error)") }
        let parentChain = LayerStore.chainIDs(image.configuration.rootfs.diffIDs).last
        let chain = parentChain.map { Digest.of("\($0) \(packed.digest)") } ?? packed.digest
        do {
            _ = try layers.unpack(blobPath: content.path(packed.digest), blob: packed.digest, chainID: chain, expectedDiffID: packed.digest)
        } catch { throw .layer(error) }
        let now = Timestamp.rfc3339()
        var history = image.configuration.history ?? []
        history.append(ImageConfiguration.History(created: now, createdBy: commit.createdBy, comment: commit.message))
        var configuration = ImageConfiguration(platform: image.platform, config: config,
                                               diffIDs: image.configuration.rootfs.diffIDs + [packed.digest], created: now, history: history)
        configuration.author = commit.author
        return try recordBuilt(configuration: configuration,
                               layers: image.manifest.layers + [Descriptor(mediaType: MediaType.ociLayer, digest: packed.digest, size: packed.size)],
                               references: commit.references)
    }
}
