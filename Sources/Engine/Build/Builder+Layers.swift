#if canImport(Glibc)
import Glibc
#endif
import Diagnostics
import Dispatch
import Synchronization

/// A layer a step made (or found in the cache), with its descriptor for the manifest.
struct AddedLayer {
    var layer: LayerStore.Layer
    var descriptor: Descriptor
    /// When the step first made it (a cached step keeps its time, so an unchanged build is the same image).
    var created: String
}

extension Builder.StageState {
    mutating func apply(_ added: AddedLayer, instruction: String, key: Digest) {
        layers.append(added.layer)
        layerDescriptors.append(added.descriptor)
        steps.append(BuildCacheStep(key: key, diffID: added.layer.diffID, created: added.created))
        history.append(ImageConfiguration.History(created: added.created, createdBy: instruction, comment: "buildkit.dockerfile.v0"))
        lastCreated = added.created
        self.key = key
    }
}

extension Builder {
    static func chain(_ parent: Digest?, _ diffID: Digest) -> Digest {
        parent.map { Digest.of("\($0) \(diffID)") } ?? diffID
    }

    /// The layer a step made before, if the cache knows the key and the layer's blob is still in the
    /// store (a layer imported from a cache, `cache_from`, is unpacked at its place in the chain).
    func cachedLayer(_ key: Digest, parent: StageState) -> AddedLayer? {
        guard let (diffID, created) = cache.lookup(key), images.content.contains(diffID),
              let size = images.content.size(diffID) else { return nil }
        let chain = Self.chain(parent.layers.last?.chainID, diffID)
        var found = images.layers.layer(chain)
        if found == nil {
            found = try? images.layers.unpack(blobPath: images.content.path(diffID), blob: diffID, chainID: chain, expectedDiffID: diffID)
        }
        guard let layer = found else { return nil }
        return AddedLayer(layer: layer, descriptor: Descriptor(mediaType: MediaType.ociLayer, digest: diffID, size: size), created: created)
    }

    /// A step's layer, made: in the cache for later builds, and for the builds now waiting on it.
    func remember(_ key: Digest, _ added: AddedLayer) {
        cache.store(key, added)
        common.claims.made(key)
    }

    /// Packs a directory of changes as the stage's next layer, and makes the directory itself that
    /// layer in the store (it is exactly what the tar holds once the excluded paths are gone: no
    /// second write of every file).
    func addLayer(from directory: String, parent: StageState, excluding: Set<String>, location: SourceLocation) throws(BuildError) -> AddedLayer {
        for path in excluding.sorted(by: >) { Self.removeKeepingParentTimes(directory + "/" + path) }
        let packed: LayerPacker.Result
        do { packed = try LayerPacker.pack(directory, into: images.content) } catch {
            throw .failed("cannot pack the step's layer: \(error)", location: location)
        }
        let chain = Self.chain(parent.layers.last?.chainID, packed.digest)
        let layer: LayerStore.Layer
        do {
            layer = try images.layers.adopt(directory, diffID: packed.digest, blob: packed.digest, chainID: chain)
        } catch { throw .failed("cannot store the step's layer: \(error)", location: location) }
        return AddedLayer(layer: layer, descriptor: Descriptor(mediaType: MediaType.ociLayer, digest: packed.digest, size: packed.size),
                          created: Timestamp.rfc3339())
    }

    /// Removes what the runtime made in a step's upper directory (mount points, /etc/hosts…) so that
    /// its directory keeps the times it had: the layer records them as the step left them.
    static func removeKeepingParentTimes(_ path: String) {
        guard (try? Sys.fileStatus(path)) != nil else { return }
        let parent = BuildPath.parent(path)
        let times = try? Sys.fileStatus(parent)
        try? Sys.removeAll(path)
        if let times { try? Sys.setTimes(parent, at: AT_FDCWD, accessed: times.st_atim, modified: times.st_mtim) }
    }
}

/// Reading an image's files from its unpacked layers without mounting them.
enum LayerLookup {
    /// An overlay whiteout: a 0:0 character device.
    static func isWhiteout(_ st: stat) -> Bool { st.st_mode & S_IFMT == S_IFCHR && st.st_rdev == 0 }

    /// A directory that hides what the layers below hold at its path.
    static func isOpaque(_ path: String) -> Bool { Sys.getXattr(path, "trusted.overlay.opaque") == [UInt8(ascii: "y")] }

    /// The path as the merged view shows it, in the topmost layer that has it (nil when missing or
    /// deleted by a whiteout above).
    static func find(_ path: String, in layers: [String]) -> String? {
        let parts = path.split(separator: "/").map(String.init)
        for layer in layers.reversed() {
            var current = layer
            var hidden = false
            var opaqueAbove = false
            for (n, part) in parts.enumerated() {
                current += "/" + part
                guard let st = try? Sys.fileStatus(current) else { break }
                if isWhiteout(st) { hidden = true; break }
                if n == parts.count - 1 { return current }
                if isOpaque(current) { opaqueAbove = true }
            }
            if hidden || opaqueAbove { return nil }
        }
        return parts.isEmpty ? layers.last : nil
    }

    static func isDirectory(_ path: String, in layers: [String]) -> Bool {
        guard let p = find(path, in: layers), let st = try? Sys.fileStatus(p, follow: false) else { return false }
        return st.st_mode & S_IFMT == S_IFDIR
    }

    /// `--chown=user[:group]` with names from the image's /etc/passwd and /etc/group; a user alone
    /// gives the same number as the group, as docker does.
    static func owner(_ spec: String, in layers: [String]) -> (uid: UInt32, gid: UInt32)? {
        let parts = spec.split(separator: ":", maxSplits: 1).map(String.init)
        guard let userPart = parts.first else { return nil }
        let passwd = find("etc/passwd", in: layers).flatMap { try? Files.readText($0) } ?? ""
        let group = find("etc/group", in: layers).flatMap { try? Files.readText($0) } ?? ""
        let uid: UInt32
        if let n = UInt32(userPart) { uid = n } else {
            guard let u = UserDatabase.parsePasswd(passwd).first(where: { $0.name == userPart }) else { return nil }
            uid = u.uid
        }
        guard parts.count == 2 else { return (uid, uid) }
        if let n = UInt32(parts[1]) { return (uid, n) }
        guard let g = UserDatabase.parseGroup(group).first(where: { $0.name == parts[1] }) else { return nil }
        return (uid, g.gid)
    }
}

/// Writing a COPY's files into a new layer directory.
enum LayerWriter {
    /// Makes `path` (absolute in the image) a directory of the layer; directories the image already
    /// has keep their mode, owner and time (so the layer does not change them), new ones get `owner`.
    static func ensureDirectory(_ path: String, in layer: String, lowers: [String], owner: (uid: UInt32, gid: UInt32)) throws(SystemError) {
        var image = ""
        for part in path.split(separator: "/") {
            image += "/" + part
            let target = layer + image
            if Sys.isDirectory(target) { continue }
            if let existing = LayerLookup.find(image, in: lowers), let st = try? Sys.fileStatus(existing), st.st_mode & S_IFMT == S_IFDIR {
                try Sys.mkdir(target, st.st_mode & 0o7777)
                try Sys.chown(target, st.st_uid, st.st_gid)
                try Sys.chmod(target, st.st_mode & 0o7777)
                try Sys.setTimes(target, at: AT_FDCWD, accessed: st.st_atim, modified: st.st_mtim)
            } else {
                try Sys.mkdir(target, 0o755)
                try Sys.chown(target, owner.uid, owner.gid)
                try Sys.chmod(target, 0o755)
            }
        }
    }

    /// The contents of `source` into the directory `target` (which exists).
    static func copyTree(_ source: String, relative: String, into target: String, owner: (uid: UInt32, gid: UInt32)?, mode: FileMode?,
                         ignore: ((String) -> Bool)?) throws(SystemError) {
        for name in try Sys.list(source).sorted() {
            let r = relative.isEmpty ? name : relative + "/" + name
            if ignore?(r) == true { continue }
            let from = source + "/" + name, to = target + "/" + name
            let st = try Sys.fileStatus(from)
            if st.st_mode & S_IFMT == S_IFDIR {
                if !Sys.isDirectory(to) { try Sys.mkdir(to, 0o755) }
                try copyTree(from, relative: r, into: to, owner: owner, mode: mode, ignore: ignore)
                try finish(to, st, owner: owner, mode: mode, isDirectory: true)
            } else {
                try copyEntry(from, to: to, owner: owner, mode: mode, follow: false)
            }
        }
    }

    /// One file, symlink or special file (a directory: with its contents).
    static func copyEntry(_ source: String, to target: String, owner: (uid: UInt32, gid: UInt32)?, mode: FileMode?, follow: Bool) throws(SystemError) {
        let st = try Sys.fileStatus(source, follow: follow)
        if Sys.exists(target) && !Sys.isDirectory(target) { try Sys.unlink(target) }
        switch st.st_mode & S_IFMT {
        case S_IFDIR:
            if !Sys.isDirectory(target) { try Sys.mkdir(target, 0o755) }
            try copyTree(source, relative: "", into: target, owner: owner, mode: mode, ignore: nil)
            try finish(target, st, owner: owner, mode: mode, isDirectory: true)
            return
        case S_IFLNK:
            try Sys.symlink(try Sys.readlink(source), target)
            try Sys.chown(target, owner?.uid ?? st.st_uid, owner?.gid ?? st.st_gid)
            try Sys.setTimes(target, at: AT_FDCWD, accessed: st.st_atim, modified: st.st_mtim)
            return
        case S_IFREG:
            try TreeCopy.copyContent(source, to: target)
        case S_IFIFO:
            try Sys.mknod(target, S_IFIFO | 0o600, 0)
        default:
            return
        }
        try finish(target, st, owner: owner, mode: mode, isDirectory: false)
    }

    static func finish(_ target: String, _ st: stat, owner: (uid: UInt32, gid: UInt32)?, mode: FileMode?, isDirectory: Bool) throws(SystemError) {
        try Sys.chown(target, owner?.uid ?? st.st_uid, owner?.gid ?? st.st_gid)
        try Sys.chmod(target, mode?.apply(to: st.st_mode, isDirectory: isDirectory) ?? st.st_mode & 0o7777)
        try Sys.setTimes(target, at: AT_FDCWD, accessed: st.st_atim, modified: st.st_mtim)
    }

    /// ADD extracts local tar archives (plain, gzip, bzip2, xz, zstd).
    static func isArchive(_ path: String) -> Bool {
        guard let reader = try? ArchiveReader(path: path), let entry = try? reader.next() else { return false }
        return entry != nil
    }

    static func extract(_ path: String, into directory: String) throws(SystemError) {
        var unpacker = try LayerUnpacker(root: directory)
        defer { unpacker.close() }
        do {
            let reader = try ArchiveReader(path: path)
            try unpacker.unpack(reader)
        } catch {
            throw SystemError("extract \(path) (\(error))", directory, code: EIO)
        }
    }
}

extension ImageStore {
    /// Records a built image: its configuration and manifest in the content store, named by `references`.
    public func recordBuilt(configuration: ImageConfiguration, layers: [Descriptor], references: [ImageReference]) throws(ImageStoreError) -> ImageRecord {
        try prepare()
        let configBytes: [UInt8]
        do { configBytes = try JSON.encode(configuration) } catch { throw .invalidArchive("cannot encode the configuration: \(error)") }
        let configDigest: Digest
        do { configDigest = try content.put(configBytes) } catch { throw .content(error) }
        let manifest = ImageManifest(mediaType: MediaType.ociManifest,
                                     config: Descriptor(mediaType: MediaType.ociConfig, digest: configDigest, size: Int64(configBytes.count)),
                                     layers: layers)
        let manifestBytes: [UInt8]
        do { manifestBytes = try JSON.encode(manifest) } catch { throw .invalidArchive("cannot encode the manifest: \(error)") }
        let manifestDigest: Digest
        do { manifestDigest = try content.put(manifestBytes) } catch { throw .content(error) }
        try record(manifest: Descriptor(mediaType: MediaType.ociManifest, digest: manifestDigest, size: Int64(manifestBytes.count)), references: references)
        return ImageRecord(id: configDigest, manifestDigest: manifestDigest, manifest: manifest, configuration: configuration, references: references)
    }
}

/// The steps being run by the builds of this process, by cache key: a second build reaching a step
/// another is running waits for it instead of running it again.
final class StepClaims: @unchecked Sendable {
    private let running = Mutex<[Digest: DispatchGroup]>([:])
    private let madeHere = Mutex<Set<Digest>>([])

    /// Takes the step for the caller (nil), or gives the group to wait on while another build runs it.
    func claim(_ key: Digest) -> DispatchGroup? {
        running.withLock { running in
            if let other = running[key] { return other }
            let group = DispatchGroup()
            group.enter()
            running[key] = group
            return nil
        }
    }

    /// The step's layer was made by a build of this process (`--no-cache` builds take it too: it is
    /// not from an earlier build).
    func made(_ key: Digest) { madeHere.withLock { _ = $0.insert(key) } }

    func wasMade(_ key: Digest) -> Bool { madeHere.withLock { $0.contains(key) } }

    /// The step is done (made, cached or failed): whoever waits for it looks again.
    func release(_ key: Digest) {
        running.withLock { $0.removeValue(forKey: key) }?.leave()
    }
}
