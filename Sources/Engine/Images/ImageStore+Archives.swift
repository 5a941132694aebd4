#if canImport(Glibc)
import Glibc
#endif

/// docker's `manifest.json` entry in a `docker save` archive.
struct DockerSaveEntry: Codable {
    var config: String
    var repoTags: [String]?
    var layers: [String]

    enum CodingKeys: String, CodingKey {
        case config = "Config", repoTags = "RepoTags", layers = "Layers"
    }
}

public struct LoadedImage: Sendable {
    public var image: ImageRecord
    public var references: [ImageReference]
}

extension ImageStore {
    /// Reads the archive's files into the content store, keeping small ones in memory.
    struct ArchiveContents {
        var files: [String: (digest: Digest, size: Int64)] = [:]
        /// Blobs this load added to the store (and that nothing may need once it is done).
        var added: Set<Digest> = []
        var small: [String: [UInt8]] = [:]
        var aliases: [String: String] = [:]
        /// Layers unpacked while the archive was read, by blob digest.
        var received: [Digest: LayerReceiver.Outcome] = [:]

        /// Removes what receivers staged that no image took.
        mutating func discardReceived(_ layers: LayerStore) {
            for case .staged(let staged) in received.values { layers.discard(staged) }
            received = [:]
        }

        func lookup(_ path: String) -> (digest: Digest, size: Int64)? {
            var p = ArchiveContents.normalize(path)
            for _ in 0..<16 {
                if let f = files[p] { return f }
                guard let next = aliases[p] else { return nil }
                p = next
            }
            return nil
        }

        func data(_ path: String, store: ContentStore) -> [UInt8]? {
            var p = ArchiveContents.normalize(path)
            for _ in 0..<16 {
                if let b = small[p] { return b }
                guard let next = aliases[p] else { break }
                p = next
            }
            guard let f = lookup(path) else { return nil }
            return try? store.read(f.digest)
        }

        static func normalize(_ path: String) -> String {
            var parts: [Substring] = []
            for part in path.split(separator: "/") {
                if part == "." { continue }
                if part == ".." { if !parts.isEmpty { parts.removeLast() }; continue }
                parts.append(part)
            }
            return parts.joined(separator: "/")
        }
    }

    /// Files of an archive kept in memory (its JSON: manifest.json, index.json, configs) rather than
    /// read back from the store: small ones only, and not too many of them, so that an archive of
    /// many large files costs no more memory than one block.
    static let keptFileSize: Int64 = 64 << 10
    /// A tar holds at least its end marker (two 512-byte blocks); smaller files are not layers.
    static let smallestLayer: Int64 = 1024
    static let keptTotal = 8 << 20

    func readArchive(_ reader: ArchiveReader, label: String, into contents: inout ArchiveContents, journal: LoadJournal) throws(ImageStoreError) {
        var keptBytes = 0
        while true {
            let entry: ArchiveEntry?
            do { entry = try reader.next() } catch { throw .archive(error) }
            guard let entry else { break }
            let path = ArchiveContents.normalize(entry.path)
            switch entry.kind {
            case .file:
                var writer: BlobWriter
                do { writer = try BlobWriter(store: content) } catch { throw .content(error) }
                var kept: [UInt8] = []
                let keep = entry.size <= Self.keptFileSize && keptBytes + Int(entry.size) <= Self.keptTotal
                // A file that may be a layer is unpacked while it is copied (the receiver looks at its
                // first bytes): never read back from the store.
                let receiver = entry.size >= Self.smallestLayer ? LayerReceiver(store: layers, label: "\(label): \(path)") : nil
                do {
                    _ = try reader.forEachBlock { (block, _) throws(SystemError) in
                        try writer.write(block)
                        receiver?.feed(block)
                        if keep { kept.append(contentsOf: block) }
                    }
                } catch {
                    writer.abandon()
                    receiver?.discard()
                    throw .archive(error)
                }
                var expected: Digest?
                if path.hasPrefix("blobs/sha256/") { expected = Digest("sha256:" + path.dropFirst(13)) }
                let digest: Digest
                do {
                    digest = try writer.commit(expected: expected, durable: false)
                } catch {
                    receiver?.discard()
                    if case .mismatch(let m) = error {
                        throw .invalidArchive("\(label): \(path) is corrupt: its content hashes to \(m.actual)")
                    }
                    throw .content(error)
                }
                if let receiver {
                    let outcome = receiver.finish(blob: digest)
                    if case .skipped = outcome {} else {
                        if case .staged(let previous) = contents.received[digest] { layers.discard(previous) }
                        contents.received[digest] = outcome
                    }
                }
                contents.files[path] = (digest, writer.size)
                if writer.addedNewBlob {
                    contents.added.insert(digest)
                    journal.add(digest)
                }
                if keep {
                    contents.small[path] = kept
                    keptBytes += kept.count
                }
            case .symlink:
                let base = path.split(separator: "/").dropLast().joined(separator: "/")
                contents.aliases[path] = ArchiveContents.normalize(entry.linkTarget.hasPrefix("/") ? entry.linkTarget : base + "/" + entry.linkTarget)
            case .hardlink:
                contents.aliases[path] = ArchiveContents.normalize(entry.linkTarget)
            default:
                continue
            }
        }
    }

    /// Walks an index down to the image manifest for `platform` (or the only one).
    func pickManifest(_ descriptor: Descriptor, platform: Platform) throws(ImageStoreError) -> Descriptor {
        var d = descriptor
        for _ in 0..<8 {
            guard MediaType.isIndex(d.mediaType) else { return d }
            let index: ImageIndex
            do { index = try JSON.decode(ImageIndex.self, try content.read(d.digest)) } catch {
                throw .invalidArchive("image index \(d.digest) is missing or invalid")
            }
            let candidates = index.manifests
            if let match = candidates.first(where: { $0.platform?.os == platform.os && $0.platform?.architecture == platform.architecture }) {
                d = match
            } else if candidates.count == 1 {
                d = candidates[0]
            } else {
                let offered = candidates.compactMap { $0.platform?.description }.joined(separator: ", ")
                throw .invalidArchive("the archive has no image for \(platform) (it has: \(offered))")
            }
        }
        return d
    }

    /// Detects a blob's compression from its first bytes.
    func layerMediaType(_ digest: Digest) -> String {
        guard let handle = try? FileHandle(path: content.path(digest), flags: O_RDONLY) else { return MediaType.dockerLayer }
        var head = [UInt8](repeating: 0, count: 4)
        let n = (try? Sys.read(handle.fd, into: &head)) ?? 0
        if n >= 2 && head[0] == 0x1f && head[1] == 0x8b { return MediaType.dockerLayerGzip }
        if n >= 4 && head[0] == 0x28 && head[1] == 0xb5 && head[2] == 0x2f && head[3] == 0xfd { return MediaType.ociLayerZstd }
        return MediaType.dockerLayer
    }

    /// `image load`: a `docker save` archive (legacy layout or the OCI layout docker writes since
    /// Engine 25) or an OCI image-layout archive, from a file or standard input (`path == nil`).
    public func load(path: String?) throws(ImageStoreError) -> [LoadedImage] {
        let transfer = try holdForTransfer()
        defer { withExtendedLifetime(transfer) {} }
        let label = path ?? "standard input"
        let reader: ArchiveReader
        do {
            if let path { reader = try ArchiveReader(path: path) } else { reader = try ArchiveReader(fd: 0, label: label) }
        } catch {
            throw .archive(error)
        }
        let journal = try LoadJournal(store: self)
        var contents = ArchiveContents()
        var loaded: [LoadedImage] = []
        var images: [(Descriptor, [ImageReference])] = []
        defer {
            // Whatever happened: blobs this load added that no image it loaded uses (manifest.json,
            // index.json, all of them when it failed) go, and its journal with them.
            var used: Set<Digest> = []
            for image in loaded {
                used.insert(image.image.manifestDigest)
                used.insert(image.image.id)
                for l in image.image.manifest.layers { used.insert(l.digest) }
            }
            if !loaded.isEmpty { for (descriptor, _) in images { used.insert(descriptor.digest) } }
            for blob in contents.added where !used.contains(blob) {
                if (try? readIndex())?.manifests.contains(where: { $0.digest == blob }) == true { continue }
                try? content.remove(blob)
            }
            contents.discardReceived(layers)
            journal.finish()
        }
        try readArchive(reader, label: label, into: &contents, journal: journal)

        // OCI layout: the index's manifests, by config digest, with the names they carry.
        var ociByConfig: [Digest: (Descriptor, [ImageReference])] = [:]
        var ociOrder: [Digest] = []
        if let indexBytes = contents.data("index.json", store: content) {
            let index: ImageIndex
            do { index = try JSON.decode(ImageIndex.self, indexBytes) } catch {
                throw .invalidArchive("\(label): index.json is not a valid OCI index: \(error)")
            }
            for top in index.manifests {
                let d = try pickManifest(top, platform: .host)
                let m = try manifest(d.digest)
                var refs: [ImageReference] = []
                if let name = top.annotations?[Descriptor.containerdNameAnnotation], let r = try? ImageReference(parsing: name) {
                    refs.append(r)
                } else if let name = top.annotations?[Descriptor.refNameAnnotation], name.contains(":") || name.contains("/"),
                          let r = try? ImageReference(parsing: name) {
                    refs.append(r)
                }
                if ociByConfig[m.config.digest] == nil { ociOrder.append(m.config.digest) }
                var existing = ociByConfig[m.config.digest]?.1 ?? []
                for r in refs where !existing.contains(r) { existing.append(r) }
                ociByConfig[m.config.digest] = (d, existing)
            }
        }

        if let manifestBytes = contents.data("manifest.json", store: content) {
            let entries: [DockerSaveEntry]
            do { entries = try JSON.decode([DockerSaveEntry].self, manifestBytes) } catch {
                throw .invalidArchive("\(label): manifest.json is not a docker save manifest: \(error)")
            }
            for e in entries {
                guard let config = contents.lookup(e.config) else {
                    throw .invalidArchive("\(label): manifest.json names \(e.config), which the archive does not contain")
                }
                var refs: [ImageReference] = []
                for tag in e.repoTags ?? [] {
                    do { refs.append(try ImageReference(parsing: tag)) } catch { throw .invalidReference(error) }
                }
                if let (descriptor, _) = ociByConfig[config.digest] {
                    images.append((descriptor, refs))
                    continue
                }
                var layers: [Descriptor] = []
                for layerPath in e.layers {
                    guard let layer = contents.lookup(layerPath) else {
                        throw .invalidArchive("\(label): manifest.json names layer \(layerPath), which the archive does not contain")
                    }
                    layers.append(Descriptor(mediaType: layerMediaType(layer.digest), digest: layer.digest, size: layer.size))
                }
                let manifest = ImageManifest(mediaType: MediaType.dockerManifest,
                                             config: Descriptor(mediaType: MediaType.dockerConfig, digest: config.digest, size: config.size),
                                             layers: layers)
                let bytes: [UInt8]
                do { bytes = try JSON.encode(manifest) } catch { throw .invalidArchive("cannot encode a manifest: \(error)") }
                let digest = Digest.of(bytes)
                if !content.contains(digest) {
                    journal.add(digest)
                    contents.added.insert(digest)
                }
                do { _ = try content.put(bytes, expected: digest) } catch { throw .content(error) }
                images.append((Descriptor(mediaType: MediaType.dockerManifest, digest: digest, size: Int64(bytes.count)), refs))
            }
        } else if !ociOrder.isEmpty {
            images = ociOrder.map { ociByConfig[$0]! }
        } else {
            throw .invalidArchive("\(label) is not an image archive: it has neither manifest.json (docker save) nor index.json (OCI layout)")
        }

        // One flush for every blob of the archive, before anything refers to them.
        do { try content.syncAll() } catch { throw .system(error) }
        for (descriptor, refs) in images {
            let m = try manifest(descriptor.digest)
            for l in m.layers where !content.contains(l.digest) {
                throw .invalidArchive("\(label): layer \(l.digest) of image \(m.config.digest.short) is missing from the archive")
            }
            let c = try configuration(m.config.digest)
            var image = ImageRecord(id: m.config.digest, manifestDigest: descriptor.digest, manifest: m, configuration: c, references: refs)
            _ = try layers(of: image, received: &contents.received)
            try record(manifest: descriptor, references: refs)
            image.references = refs
            loaded.append(LoadedImage(image: image, references: refs))
        }
        return loaded
    }

    /// `image save`: writes a `docker save` archive (the layout docker writes since Engine 25: an OCI
    /// layout plus `manifest.json`), which docker and swcompose can load.
    public func save(_ names: [String], to path: String?) throws(ImageStoreError) {
        var selected: [(ImageRecord, [ImageReference])] = []
        for name in names {
            let image = try resolve(name)
            let ref = (try? ImageReference(parsing: name)).flatMap { image.references.contains($0) ? $0 : nil }
            // Only tags become RepoTags (a `name@sha256:…` name is not a tag).
            let refs = (ref.map { [$0] } ?? image.references).filter { $0.tag != nil }
            if let i = selected.firstIndex(where: { $0.0.manifestDigest == image.manifestDigest }) {
                for r in refs where !selected[i].1.contains(r) { selected[i].1.append(r) }
            } else {
                selected.append((image, refs))
            }
        }
        let writer: ArchiveWriter
        do {
            writer = path != nil ? try ArchiveWriter(path: path!) : try ArchiveWriter(fd: 1, label: "standard output")
        } catch {
            throw .archive(error)
        }
        do {
            try writer.add(ArchiveWriter.Header(path: "blobs", kind: .directory, mode: 0o755))
            try writer.add(ArchiveWriter.Header(path: "blobs/sha256", kind: .directory, mode: 0o755))
            var written: Set<Digest> = []
            func blob(_ d: Digest) throws(ArchiveError) {
                guard written.insert(d).inserted else { return }
                try writer.addFile(ArchiveWriter.Header(path: "blobs/sha256/\(d.hex)"), from: content.path(d), size: content.size(d) ?? 0)
            }
            var index = ImageIndex()
            var saveManifest: [DockerSaveEntry] = []
            for (image, refs) in selected {
                try blob(image.manifestDigest)
                try blob(image.id)
                for l in image.manifest.layers { try blob(l.digest) }
                let descriptor = Descriptor(mediaType: image.manifest.mediaType ?? MediaType.ociManifest, digest: image.manifestDigest,
                                            size: content.size(image.manifestDigest) ?? 0)
                if refs.isEmpty {
                    index.manifests.append(descriptor)
                }
                for r in refs {
                    var d = descriptor
                    d.annotations = [Descriptor.containerdNameAnnotation: r.description, Descriptor.refNameAnnotation: r.tag ?? "latest"]
                    index.manifests.append(d)
                }
                saveManifest.append(DockerSaveEntry(config: "blobs/sha256/\(image.id.hex)",
                                                    repoTags: refs.isEmpty ? nil : refs.map(\.familiar),
                                                    layers: image.manifest.layers.map { "blobs/sha256/\($0.digest.hex)" }))
            }
            let indexBytes = try JSON.encode(index)
            let manifestBytes = try JSON.encode(saveManifest)
            try writer.add(ArchiveWriter.Header(path: "index.json"), data: indexBytes)
            try writer.add(ArchiveWriter.Header(path: "manifest.json"), data: manifestBytes)
            try writer.add(ArchiveWriter.Header(path: "oci-layout"), data: Array("{\"imageLayoutVersion\":\"1.0.0\"}".utf8))
            try writer.finish()
        } catch let error as ArchiveError {
            throw .archive(error)
        } catch {
            throw .invalidArchive("cannot write the archive: \(error)")
        }
    }

    /// `image import`: a root filesystem tarball (plain or compressed, file or standard input) as a
    /// one-layer image, with `changes` applied as `docker import --change` does.
    public func importRootFilesystem(path: String?, reference: ImageReference?, changes: [String], message: String? = nil) throws(ImageStoreError) -> ImageRecord {
        try prepare()
        var config = ContainerConfig()
        for change in changes {
            do { try ImageChanges.apply(change, to: &config) } catch { throw .invalidArchive(error.description) }
        }
        // Copy the tarball into the content store as the layer blob.
        var writer: BlobWriter
        do { writer = try BlobWriter(store: content) } catch { throw .content(error) }
        let fd: Int32
        do { fd = path != nil ? try Sys.open(path!, O_RDONLY) : 0 } catch {
            writer.abandon()
            throw .system(error)
        }
        defer { if path != nil { Sys.close(fd) } }
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n: Int
            do { n = try Sys.read(fd, into: &chunk) } catch { writer.abandon(); throw .system(error) }
            if n == 0 { break }
            do { try writer.write(Array(chunk[0..<n])) } catch { writer.abandon(); throw .system(error) }
        }
        let blob: Digest
        // The layer's unpacking syncs the file system before the layer is visible; that covers the blob.
        do { blob = try writer.commit(expected: nil, durable: false) } catch { throw .content(error) }
        let blobSize = writer.size
        let layer: LayerStore.Layer
        do { layer = try layers.unpackNew(blobPath: content.path(blob), blob: blob) } catch { throw .layer(error) }

        let now = Timestamp.rfc3339()
        let source = path ?? "-"
        var history = ImageConfiguration.History(created: now, createdBy: nil, comment: message ?? "Imported from \(source)")
        if message != nil { history.comment = message }
        let configuration = ImageConfiguration(platform: .host, config: config, diffIDs: [layer.diffID], created: now, history: [history])
        let configBytes: [UInt8]
        do { configBytes = try JSON.encode(configuration) } catch { throw .invalidArchive("cannot encode the configuration: \(error)") }
        let configDigest: Digest
        do { configDigest = try content.put(configBytes) } catch { throw .content(error) }
        let mediaType = layerMediaType(blob) == MediaType.dockerLayerGzip ? MediaType.ociLayerGzip
            : layerMediaType(blob) == MediaType.ociLayerZstd ? MediaType.ociLayerZstd : MediaType.ociLayer
        let manifest = ImageManifest(mediaType: MediaType.ociManifest,
                                     config: Descriptor(mediaType: MediaType.ociConfig, digest: configDigest, size: Int64(configBytes.count)),
                                     layers: [Descriptor(mediaType: mediaType, digest: blob, size: blobSize)])
        let manifestBytes: [UInt8]
        do { manifestBytes = try JSON.encode(manifest) } catch { throw .invalidArchive("cannot encode the manifest: \(error)") }
        let manifestDigest: Digest
        do { manifestDigest = try content.put(manifestBytes) } catch { throw .content(error) }
        let refs = reference.map { [$0] } ?? []
        try record(manifest: Descriptor(mediaType: MediaType.ociManifest, digest: manifestDigest, size: Int64(manifestBytes.count)), references: refs)
        return ImageRecord(id: configDigest, manifestDigest: manifestDigest, manifest: manifest, configuration: configuration, references: refs)
    }
}

/// `--change` instructions of `docker import` (a subset of Dockerfile syntax).
public enum ImageChanges {
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var change: String
        public var reason: String
        public var description: String { "invalid --change \"\(change)\": \(reason)" }
    }

    /// `["a", "b"]` (JSON form) or a shell-form command run by `/bin/sh -c`.
    static func command(_ text: String) -> [String] {
        let t = text.trimmingWhitespace()
        if t.hasPrefix("["), let bytes = Optional(Array(t.utf8)), let list = try? JSON.decode([String].self, bytes) {
            return list
        }
        return ["/bin/sh", "-c", t]
    }

    /// KEY=VALUE pairs (quotes allowed) or the legacy "KEY VALUE" form.
    static func pairs(_ text: String, legacySeparator: Bool) -> [(String, String)] {
        let t = text.trimmingWhitespace()
        if legacySeparator, let space = t.firstIndex(of: " "), !t[..<space].contains("=") {
            return [(String(t[..<space]), String(t[t.index(after: space)...]).trimmingWhitespace())]
        }
        var result: [(String, String)] = []
        var key = "", value = "", inValue = false
        var quote: Character?
        var escaped = false
        func flush() {
            if !key.isEmpty { result.append((key, value)) }
            key = ""; value = ""; inValue = false
        }
        for c in t {
            if escaped { if inValue { value.append(c) } else { key.append(c) }; escaped = false; continue }
            if c == "\\" { escaped = true; continue }
            if let q = quote { if c == q { quote = nil } else if inValue { value.append(c) } else { key.append(c) }; continue }
            if c == "\"" || c == "'" { quote = c; continue }
            if c == " " || c == "\t" { flush(); continue }
            if c == "=" && !inValue { inValue = true; continue }
            if inValue { value.append(c) } else { key.append(c) }
        }
        flush()
        return result
    }

    public static func apply(_ change: String, to config: inout ContainerConfig) throws(Failure) {
        let trimmed = change.trimmingWhitespace()
        let instruction: String
        let argument: String
        if let space = trimmed.firstIndex(where: { $0 == " " || $0 == "\t" }) {
            instruction = String(trimmed[..<space]).uppercased()
            argument = String(trimmed[space...]).trimmingWhitespace()
        } else {
            instruction = trimmed.uppercased()
            argument = ""
        }
        guard !argument.isEmpty else { throw Failure(change: change, reason: "\(instruction) needs an argument") }
        switch instruction {
        case "ENV":
            var env = config.env ?? []
            for (k, v) in pairs(argument, legacySeparator: true) {
                env.removeAll { $0.hasPrefix(k + "=") }
                env.append("\(k)=\(v)")
            }
            config.env = env
        case "CMD": config.cmd = command(argument)
        case "ENTRYPOINT": config.entrypoint = command(argument)
        case "WORKDIR": config.workingDir = argument
        case "USER": config.user = argument
        case "EXPOSE":
            var ports = config.exposedPorts ?? [:]
            for p in argument.split(separator: " ") {
                ports[p.contains("/") ? String(p) : "\(p)/tcp"] = EmptyObject()
            }
            config.exposedPorts = ports
        case "LABEL":
            var labels = config.labels ?? [:]
            for (k, v) in pairs(argument, legacySeparator: true) { labels[k] = v }
            config.labels = labels
        case "VOLUME":
            var volumes = config.volumes ?? [:]
            let list = argument.hasPrefix("[") ? command(argument) : argument.split(separator: " ").map(String.init)
            for v in list { volumes[v] = EmptyObject() }
            config.volumes = volumes
        case "STOPSIGNAL": config.stopSignal = argument
        case "ONBUILD": config.onBuild = (config.onBuild ?? []) + [argument]
        default:
            throw Failure(change: change, reason: "\(instruction) is not one of CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR")
        }
    }
}

/// What a load has added to the content store, written down as it goes (`images/loads/<pid>-…`),
/// under a lock held for the load's life. A load killed before it could clean up leaves its journal
/// unlocked; the next command that prepares the store removes the blobs it lists that no image uses.
final class LoadJournal {
    let path: String
    let lock: FileLock?
    let handle: FileHandle?

    init(store: ImageStore) throws(ImageStoreError) {
        let directory = store.root.images + "/loads"
        path = directory + "/\(Sys.pid)-\(UInt32.random(in: 0...UInt32.max)).journal"
        do {
            try Sys.mkdirAll(directory, 0o700)
            lock = try FileLock(path)
            handle = try FileHandle(path: path, flags: O_WRONLY | O_APPEND)
        } catch {
            throw .system(error)
        }
    }

    /// Noted before the blob is committed, so that a kill in between leaves it listed.
    func add(_ digest: Digest) {
        try? handle?.write(Array((digest.description + "\n").utf8))
    }

    func finish() {
        try? Sys.unlink(path)
    }

    /// Removes what killed loads left: the blobs their journals list that nothing in the index uses.
    /// Skipped while a pull or load is under way (their blobs are not named yet either).
    static func recover(_ store: ImageStore) {
        let directory = store.root.images + "/loads"
        guard let names = try? Sys.list(directory), names.contains(where: { $0.hasSuffix(".journal") }) else { return }
        guard let transfers = try? FileLock.attempt(store.transferLockPath) else { return }
        defer { withExtendedLifetime(transfers) {} }
        for name in names where name.hasSuffix(".journal") {
            let path = directory + "/" + name
            guard let held = try? FileLock.attempt(path) else { continue }
            defer { withExtendedLifetime(held) {} }
            let listed = ((try? Files.readText(path)) ?? "").split(separator: "\n").compactMap { Digest(String($0)) }
            let live = store.liveBlobs()
            for digest in listed where !live.contains(digest) { try? store.content.remove(digest) }
            try? Sys.unlink(path)
        }
    }
}
