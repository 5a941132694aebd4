import Foundation
import Testing
import TestSupport
@testable import Engine

@Suite(.requiresRoot, .serialized) struct ImageStoreTests {
    let dir = TemporaryDirectory("store")
    var store: ImageStore { ImageStore(root: StateRoot(path: dir.sub("root"))) }

    func bytes(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }

    /// A `docker save` archive in the legacy layout (what docker before Engine 25 writes).
    func legacyArchive(tags: [String], layers: [[TestArchives.Entry]]) throws -> (String, Digest) {
        var layerBytes: [[UInt8]] = []
        for (i, entries) in layers.enumerated() {
            layerBytes.append(try bytes(try TestArchives.write(entries, to: dir.sub("legacy-layer-\(i)-\(UUID().uuidString).tar"))))
        }
        let diffIDs = layerBytes.map { Digest.of($0).description }
        let config = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":[\"sh\"],\"Env\":[\"PATH=/bin\"]},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\(diffIDs.map { "\"\($0)\"" }.joined(separator: ","))]},\"created\":\"2024-01-01T00:00:00Z\"}"
        let configDigest = Digest.of(config)
        var entries: [TestArchives.Entry] = [TestArchives.file("\(configDigest.hex).json", config)]
        var layerPaths: [String] = []
        for (i, b) in layerBytes.enumerated() {
            let id = Digest.of("layer-\(i)").hex
            entries.append(TestArchives.directory(id))
            var h = ArchiveWriter.Header(path: "\(id)/layer.tar")
            h.mtime = 0
            entries.append((h, b))
            entries.append(TestArchives.file("\(id)/VERSION", "1.0"))
            layerPaths.append("\(id)/layer.tar")
        }
        let manifest = "[{\"Config\":\"\(configDigest.hex).json\",\"RepoTags\":[\(tags.map { "\"\($0)\"" }.joined(separator: ","))],\"Layers\":[\(layerPaths.map { "\"\($0)\"" }.joined(separator: ","))]}]"
        entries.append(TestArchives.file("manifest.json", manifest))
        entries.append(TestArchives.file("repositories", "{}"))
        return (try TestArchives.write(entries, to: dir.sub("legacy-\(UUID().uuidString).tar")), configDigest)
    }

    @Test func importMakesAOneLayerImageWithChanges() throws {
        let tar = try TestArchives.write([TestArchives.directory("bin"), TestArchives.file("bin/hello", "hi", mode: 0o755)],
                                         to: dir.sub("rootfs.tar.gz"), compression: .gzip)
        let image = try store.importRootFilesystem(path: tar, reference: try ImageReference(parsing: "demo/app:1"), changes: [
            "ENV A=1 B=\"two words\"", "CMD [\"/bin/hello\", \"x\"]", "ENTRYPOINT /bin/run me", "WORKDIR /srv", "USER 1000:1000",
            "EXPOSE 80 53/udp", "LABEL org.example=yes", "VOLUME /data", "STOPSIGNAL SIGINT",
        ])
        let c = try #require(image.configuration.config)
        #expect(c.env == ["A=1", "B=two words"])
        #expect(c.cmd == ["/bin/hello", "x"])
        #expect(c.entrypoint == ["/bin/sh", "-c", "/bin/run me"])
        #expect(c.workingDir == "/srv" && c.user == "1000:1000" && c.stopSignal == "SIGINT")
        #expect(Set(c.exposedPorts?.keys ?? [:].keys) == ["80/tcp", "53/udp"])
        #expect(c.labels == ["org.example": "yes"] && c.volumes?.keys.first == "/data")
        #expect(image.manifest.layers[0].mediaType == MediaType.ociLayerGzip)
        // The diff_id is the digest of the uncompressed tar.
        let listed = try store.resolve("demo/app:1")
        #expect(listed.id == image.id)
        let layers = try store.layers(of: listed)
        #expect(FileManager.default.isExecutableFile(atPath: layers[0].directory + "/bin/hello"))
        #expect(throws: ImageStoreError.self) { try store.importRootFilesystem(path: tar, reference: nil, changes: ["FROM scratch"]) }
    }

    @Test func loadsLegacyDockerSaveArchives() throws {
        let (archive, id) = try legacyArchive(tags: ["busybox:latest", "example.com/team/bb:1"], layers: [
            [TestArchives.directory("etc"), TestArchives.file("etc/a", "a"), TestArchives.file("etc/b", "b")],
            [TestArchives.directory("etc"), TestArchives.file("etc/.wh.a", "")],
        ])
        let loaded = try store.load(path: archive)
        #expect(loaded.count == 1)
        #expect(loaded[0].image.id == id)
        #expect(loaded[0].references.map(\.description) == ["docker.io/library/busybox:latest", "example.com/team/bb:1"])
        #expect(try store.resolve("busybox").id == id)
        #expect(try store.resolve(String(id.hex.prefix(8))).id == id)
        let image = try store.resolve("example.com/team/bb:1")
        let layers = try store.layers(of: image)
        #expect(layers.count == 2)
        // The second layer holds the whiteout; nothing else of the archive stays in the store.
        #expect(try Sys.fileStatus(layers[1].directory + "/etc/a").st_mode & 0o170000 == 0o020000)
        #expect(Set(store.content.allBlobs()) == Set([image.manifestDigest, image.id] + image.manifest.layers.map(\.digest)))
    }

    @Test func saveThenLoadKeepsTheImageID() throws {
        let (archive, id) = try legacyArchive(tags: ["roundtrip:1"], layers: [[TestArchives.file("x", "x")]])
        _ = try store.load(path: archive)
        let saved = dir.sub("saved.tar")
        try store.save(["roundtrip:1"], to: saved)
        let other = ImageStore(root: StateRoot(path: dir.sub("other")))
        let loaded = try other.load(path: saved)
        #expect(loaded.map(\.image.id) == [id])
        #expect(loaded[0].references.map(\.familiar) == ["roundtrip:1"])
        // The OCI half of the archive alone is a valid OCI image layout.
        let names = try Process.output("/usr/bin/tar", ["tf", saved]).split(separator: "\n")
        #expect(names.contains("oci-layout") && names.contains("index.json") && names.contains("manifest.json"))
    }

    @Test func loadsOCILayoutArchives() throws {
        let layer = try bytes(try TestArchives.write([TestArchives.file("hello", "world")], to: dir.sub("oci-layer.tar.zst"), compression: .zstd))
        let diffTar = try bytes(try TestArchives.write([TestArchives.file("hello", "world")], to: dir.sub("oci-layer-plain.tar")))
        let config = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"\(Digest.of(diffTar))\"]}}"
        let manifest = "{\"schemaVersion\":2,\"mediaType\":\"\(MediaType.ociManifest)\",\"config\":{\"mediaType\":\"\(MediaType.ociConfig)\",\"digest\":\"\(Digest.of(config))\",\"size\":\(config.utf8.count)},\"layers\":[{\"mediaType\":\"\(MediaType.ociLayerZstd)\",\"digest\":\"\(Digest.of(layer))\",\"size\":\(layer.count)}]}"
        let index = "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"\(MediaType.ociManifest)\",\"digest\":\"\(Digest.of(manifest))\",\"size\":\(manifest.utf8.count),\"annotations\":{\"org.opencontainers.image.ref.name\":\"localhost:5000/oci/app:2\"}}]}"
        var layerHeader = ArchiveWriter.Header(path: "blobs/sha256/\(Digest.of(layer).hex)")
        layerHeader.mtime = 0
        let archive = try TestArchives.write([
            TestArchives.file("oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}"), TestArchives.file("index.json", index),
            TestArchives.file("blobs/sha256/\(Digest.of(config).hex)", config), TestArchives.file("blobs/sha256/\(Digest.of(manifest).hex)", manifest),
            (layerHeader, layer),
        ], to: dir.sub("oci.tar"))
        let loaded = try store.load(path: archive)
        #expect(loaded.first?.references.map(\.description) == ["localhost:5000/oci/app:2"])
        #expect(loaded.first?.image.manifestDigest == Digest.of(manifest))
        let layers = try store.layers(of: try store.resolve("localhost:5000/oci/app:2"))
        #expect(try String(contentsOfFile: layers[0].directory + "/hello", encoding: .utf8) == "world")
    }

    @Test func corruptContentIsRefusedNamingTheBlob() throws {
        // A blob whose name does not match its content.
        let wrong = String(repeating: "0", count: 64)
        let archive = try TestArchives.write([TestArchives.file("index.json", "{\"manifests\":[]}"), TestArchives.file("blobs/sha256/\(wrong)", "not that")],
                                             to: dir.sub("corrupt.tar"))
        #expect { try store.load(path: archive) } throws: { "\($0)".contains("blobs/sha256/\(wrong) is corrupt") }
        // A layer that does not match the diff_id its image declares.
        let (good, _) = try legacyArchive(tags: ["liar:1"], layers: [[TestArchives.file("a", "a")]])
        let tampered = dir.sub("tampered")
        try Sys.mkdirAll(tampered)
        _ = try Process.output("/usr/bin/tar", ["-xf", good, "-C", tampered])
        let layerTar = try FileManager.default.subpathsOfDirectory(atPath: tampered).first { $0.hasSuffix("layer.tar") }!
        try TestArchives.write([TestArchives.file("a", "b")], to: tampered + "/" + layerTar)
        let repacked = dir.sub("tampered.tar")
        _ = try Process.output("/usr/bin/tar", ["-cf", repacked, "-C", tampered, "."])
        #expect { try store.load(path: repacked) } throws: { "\($0)".contains("does not match the image") }
        #expect(try store.list().isEmpty)
        // What was unpacked while the archive was read went with the failure.
        #expect(staged().isEmpty)
    }

    /// Layer trees waiting in the layer store (unpacked, not published).
    func staged() -> [String] {
        ((try? Sys.list(store.layers.root)) ?? []).filter { $0.hasPrefix("tmp-") }
    }

    @Test func layersAreUnpackedWhileTheArchiveIsReadAndCheckedAsAnUnpackChecksThem() throws {
        // A gzip-compressed layer in a docker-save archive: its diff_id is the digest of the
        // decompressed stream, computed by the receiver; the plain one's is its blob digest.
        let gz = try bytes(try TestArchives.write([TestArchives.directory("srv"), TestArchives.file("srv/a", "compressed", mode: 0o640)],
                                                  to: dir.sub("gz-layer.tar.gz"), compression: .gzip))
        let plainOfGz = try bytes(try TestArchives.write([TestArchives.directory("srv"), TestArchives.file("srv/a", "compressed", mode: 0o640)],
                                                         to: dir.sub("gz-layer-plain.tar")))
        let plain = try bytes(try TestArchives.write([TestArchives.file("srv/b", "plain")], to: dir.sub("plain-layer.tar")))
        func archive(_ layers: [[UInt8]], diffIDs: [Digest], tag: String) throws -> String {
            let config = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\(diffIDs.map { "\"\($0)\"" }.joined(separator: ","))]}}"
            var entries: [TestArchives.Entry] = [TestArchives.file("blobs/sha256/\(Digest.of(config).hex)", config)]
            for l in layers {
                var h = ArchiveWriter.Header(path: "blobs/sha256/\(Digest.of(l).hex)")
                h.mtime = 0
                entries.append((h, l))
            }
            let manifest = "[{\"Config\":\"blobs/sha256/\(Digest.of(config).hex)\",\"RepoTags\":[\"\(tag)\"],\"Layers\":[\(layers.map { "\"blobs/sha256/\(Digest.of($0).hex)\"" }.joined(separator: ","))]}]"
            entries.append(TestArchives.file("manifest.json", manifest))
            return try TestArchives.write(entries, to: dir.sub("\(UUID().uuidString).tar"))
        }
        let loaded = try store.load(path: try archive([gz, plain], diffIDs: [Digest.of(plainOfGz), Digest.of(plain)], tag: "streamed:1"))
        let layers = try store.layers(of: loaded[0].image)
        #expect(layers.map(\.diffID) == [Digest.of(plainOfGz), Digest.of(plain)])
        #expect(try String(contentsOfFile: layers[0].directory + "/srv/a", encoding: .utf8) == "compressed")
        #expect(try Sys.fileStatus(layers[0].directory + "/srv/a").st_mode & 0o7777 == 0o640)
        #expect(try String(contentsOfFile: layers[1].directory + "/srv/b", encoding: .utf8) == "plain")
        #expect(staged().isEmpty)

        // A compressed layer whose decompressed stream is not the diff_id the image declares.
        #expect { try store.load(path: try archive([gz], diffIDs: [Digest.of(plain)], tag: "liar:2")) } throws: {
            "\($0)".contains("does not match the image") && "\($0)".contains(Digest.of(plainOfGz).description)
        }
        // A layer that climbs out is refused entry by entry while it streams, naming the entry.
        let evil = try bytes(try TestArchives.write([TestArchives.file("../../escaped", "x")], to: dir.sub("evil.tar")))
        #expect { try store.load(path: try archive([evil], diffIDs: [Digest.of(evil)], tag: "evil:1")) } throws: {
            "\($0)".contains("../../escaped") && "\($0)".contains("contains '..'")
        }
        #expect(!FileManager.default.fileExists(atPath: dir.sub("escaped")) && !FileManager.default.fileExists(atPath: dir.path + "/../escaped"))
        #expect(try store.list().map(\.references.first?.familiar) == ["streamed:1"])
        #expect(staged().isEmpty)
    }

    @Test func tagRemoveAndPrune() throws {
        let (archive, id) = try legacyArchive(tags: ["one:1"], layers: [[TestArchives.file("a", "a")]])
        _ = try store.load(path: archive)
        try store.tag("one:1", "two:2")
        #expect(try store.resolve("two:2").id == id)
        // In use by a container: refused unless forced.
        let containers = dir.sub("root/containers/c1")
        try Sys.mkdirAll(containers)
        try "{\"name\":\"demo-web-1\",\"image\":{\"id\":\"\(id)\"}}".write(toFile: containers + "/config.json", atomically: true, encoding: .utf8)
        let usedBy = { (d: Digest) in ContainerUsage.containers(using: d, root: self.store.root) }
        #expect(try store.remove("one:1", force: false, usedBy: usedBy).untagged.map(\.familiar) == ["one:1"])
        #expect { try store.remove("two:2", force: false, usedBy: usedBy) } throws: { "\($0)".contains("used by container demo-web-1") }
        // Prune keeps what a container uses, even without a name.
        var report = try store.prune(all: true, usedBy: usedBy)
        #expect(report.deletedImages.isEmpty && report.layers == 0)
        try Sys.removeAll(containers)
        let removal = try store.remove("two:2", force: false, usedBy: usedBy)
        #expect(removal.deleted == [id])
        #expect(try store.list().isEmpty)
        #expect(!store.layers.allChainIDs().isEmpty, "rm leaves garbage for prune")
        report = try store.prune(all: false, usedBy: usedBy)
        #expect(report.layers == 1 && report.blobs == 3)
        #expect(store.layers.allChainIDs().isEmpty && store.content.allBlobs().isEmpty)
    }

    @Test func concurrentLoadsOfTheSameImageBothSucceed() async throws {
        let (archive, id) = try legacyArchive(tags: ["race:1"], layers: [
            (0..<200).map { TestArchives.file("f\($0)", String(repeating: "x", count: 10_000)) },
            [TestArchives.file("top", "t")],
        ])
        let store = self.store
        try await withThrowingTaskGroup(of: Digest.self) { group in
            for _ in 0..<4 {
                group.addTask { try store.load(path: archive)[0].image.id }
            }
            for try await loaded in group { #expect(loaded == id) }
        }
        #expect(try store.list().count == 1)
        #expect(store.layers.allChainIDs().count == 2)
        let layers = try store.layers(of: try store.resolve("race:1"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: layers[0].directory).count == 200)
        #expect(try Sys.list(store.root.images + "/tmp").isEmpty)
    }
}
