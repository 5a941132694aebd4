#if canImport(Glibc)
import Glibc
#endif

/// One cached build step: its key (the parent's key, the instruction as expanded, the args in scope
/// and the content it read) and the layer it made.
public struct BuildCacheStep: Codable, Sendable, Hashable {
    public var key: Digest
    public var diffID: Digest
    /// When the step first made its layer (kept, so a build from an imported cache is the same image).
    public var created: String

    public init(key: Digest, diffID: Digest, created: String) {
        self.key = key
        self.diffID = diffID
        self.created = created
    }
}

/// A build cache exported for other machines (compose's `cache_to`, read back by `cache_from`): an
/// OCI artifact whose configuration lists the steps and whose layers are the steps' layers, pushed
/// to a registry or written as an OCI image layout directory. The format is swcompose's own (BuildKit's
/// cache manifests are not read; an image or foreign cache found where one is expected is reported and
/// skipped, as BuildKit skips a cache it cannot import).
public enum BuildCacheArtifact {
    public static let artifactType = "application/vnd.swcompose.build-cache.v1"
    public static let configMediaType = "application/vnd.swcompose.build-cache.config.v1+json"

    public struct Config: Codable, Sendable {
        public var steps: [BuildCacheStep]
    }

    /// The artifact for `steps` whose layers the store still has: its manifest, written to the
    /// content store with its configuration (so that a push or a layout can take every blob from there).
    public static func make(_ steps: [BuildCacheStep], images: ImageStore) throws -> (manifest: ImageManifest, digest: Digest, size: Int) {
        var kept: [BuildCacheStep] = []
        var layers: [Descriptor] = []
        for step in steps {
            guard let size = images.content.size(step.diffID) else { continue }
            kept.append(step)
            if !layers.contains(where: { $0.digest == step.diffID }) {
                layers.append(Descriptor(mediaType: MediaType.ociLayer, digest: step.diffID, size: size))
            }
        }
        let configBytes = try JSON.encode(Config(steps: kept))
        let configDigest = try images.content.put(configBytes)
        var manifest = ImageManifest(config: Descriptor(mediaType: configMediaType, digest: configDigest, size: Int64(configBytes.count)),
                                     layers: layers)
        manifest.annotations = ["org.opencontainers.image.description": "swcompose build cache (\(kept.count) steps)"]
        var bytes = try JSON.encode(manifest)
        // The artifact type, as OCI 1.1 places it (JSON.encode knows only ImageManifest's fields).
        if var object = JSONValue.parse(bytes)?.object {
            object["artifactType"] = .string(artifactType)
            bytes = try JSON.encode(JSONValue.object(object))
        }
        let digest = try images.content.put(bytes)
        return (manifest, digest, bytes.count)
    }

    /// Writes the artifact as an OCI image layout in `directory` (blobs already there are kept),
    /// tagged `tag` in its index.
    public static func writeLayout(_ manifest: ImageManifest, digest: Digest, size: Int, images: ImageStore, to directory: String, tag: String) throws {
        let blobs = directory + "/blobs/sha256"
        try Sys.mkdirAll(blobs, 0o755)
        try Files.writeAtomically(directory + "/oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", mode: 0o644, durable: false)
        for d in [manifest.config] + manifest.layers + [Descriptor(mediaType: MediaType.ociManifest, digest: digest, size: Int64(size))] {
            let target = blobs + "/" + d.digest.hex
            if Sys.exists(target) { continue }
            let temporary = target + ".tmp-\(Sys.pid)"
            try TreeCopy.copyContent(images.content.path(d.digest), to: temporary)
            try Sys.chmod(temporary, 0o644)
            try Sys.rename(temporary, target)
        }
        // The index keeps other tags' entries (another service's cache in the same directory).
        var entries: [JSONValue] = []
        if let old = try? Files.read(directory + "/index.json"), let list = JSONValue.parse(old)?["manifests"]?.array {
            entries = list.filter { $0["annotations"]?["org.opencontainers.image.ref.name"]?.string != tag }
        }
        entries.append(.object([
            "mediaType": .string(MediaType.ociManifest), "digest": .string(digest.description), "size": .number(Double(size)),
            "artifactType": .string(artifactType),
            "annotations": .object(["org.opencontainers.image.ref.name": .string(tag)]),
        ]))
        let index = JSONValue.object(["schemaVersion": .number(2), "mediaType": .string(MediaType.ociIndex), "manifests": .array(entries)])
        try Files.writeAtomically(directory + "/index.json", try JSON.encode(index), mode: 0o644, durable: false)
    }

    /// A cache read back: where it came from and what it held.
    public struct Imported: Sendable {
        public var steps: Int
        public var layers: Int

        public init(steps: Int, layers: Int) {
            self.steps = steps
            self.layers = layers
        }
    }

    /// Reads the artifact tagged `tag` (or the one with `digest`) from an OCI layout directory into the
    /// store: its layers into the content store, its steps into the build cache.
    public static func importLayout(from directory: String, tag: String?, digest wanted: Digest?, images: ImageStore, runtime: Runtime) throws -> Imported {
        let indexBytes: [UInt8]
        do { indexBytes = try Files.read(directory + "/index.json") } catch {
            throw BuildCacheError("no build cache at \(directory): \(error.message)")
        }
        guard let entries = JSONValue.parse(indexBytes)?["manifests"]?.array else { throw BuildCacheError("\(directory)/index.json is not an OCI index") }
        let entry = entries.last { e in
            if let wanted { return e["digest"]?.string == wanted.description }
            return e["annotations"]?["org.opencontainers.image.ref.name"]?.string == (tag ?? "latest")
        }
        guard let entry, let d = entry["digest"]?.string.flatMap(Digest.init) else {
            throw BuildCacheError("no build cache \(wanted?.description ?? tag ?? "latest") in \(directory)")
        }
        func blob(_ digest: Digest) throws -> [UInt8] {
            let bytes = try Files.read(directory + "/blobs/sha256/" + digest.hex)
            guard Digest.of(bytes) == digest else { throw BuildCacheError("blob \(digest) of \(directory) is corrupt") }
            return bytes
        }
        let manifestBytes = try blob(d)
        let (manifest, config) = try parse(manifestBytes, configBytes: { try blob($0) }, source: directory)
        var layers = 0
        for layer in manifest.layers where !images.content.contains(layer.digest) {
            var writer = try BlobWriter(store: images.content)
            let fd = try Sys.open(directory + "/blobs/sha256/" + layer.digest.hex, O_RDONLY)
            defer { Sys.close(fd) }
            var buffer = [UInt8](repeating: 0, count: 1 << 20)
            while true {
                let n = try Sys.read(fd, into: &buffer)
                if n == 0 { break }
                try buffer.withUnsafeBytes { try writer.write(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            }
            _ = try writer.commit(expected: layer.digest, durable: false)
            layers += 1
        }
        record(config.steps, runtime: runtime)
        return Imported(steps: config.steps.count, layers: layers)
    }

    /// The manifest and its configuration, or why it is not a build cache of ours.
    public static func parse(_ manifestBytes: [UInt8], configBytes: (Digest) throws -> [UInt8], source: String) throws -> (ImageManifest, Config) {
        let manifest: ImageManifest
        do { manifest = try JSON.decode(ImageManifest.self, manifestBytes) } catch {
            throw BuildCacheError("\(source) holds no build cache (not an OCI manifest)")
        }
        guard manifest.config.mediaType == configMediaType else {
            throw BuildCacheError("\(source) holds no swcompose build cache (its configuration is \(manifest.config.mediaType); "
                + "an image, or a BuildKit cache, which swcompose cannot read)")
        }
        let config: Config
        do { config = try JSON.decode(Config.self, try configBytes(manifest.config.digest)) } catch let e as BuildCacheError { throw e } catch {
            throw BuildCacheError("the build cache configuration of \(source) is not valid: \(error)")
        }
        let layerDigests = Set(manifest.layers.map(\.digest))
        for step in config.steps where !layerDigests.contains(step.diffID) {
            throw BuildCacheError("the build cache of \(source) names layer \(step.diffID) but does not carry it")
        }
        return (manifest, config)
    }

    /// Steps read from an imported cache, into this store's build cache (as a build would have made them).
    public static func record(_ steps: [BuildCacheStep], runtime: Runtime) {
        let cache = BuildCache(directory: runtime.root.path + "/build-cache")
        for step in steps { cache.store(step) }
    }
}

public struct BuildCacheError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
