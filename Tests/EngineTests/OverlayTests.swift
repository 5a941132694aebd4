import Foundation
import Testing
import TestSupport
@testable import Engine

/// Real overlay mounts of unpacked layers (as root).
@Suite(.requiresOverlay, .serialized) struct OverlayTests {
    let dir = TemporaryDirectory("overlay")

    func layer(_ name: String, _ entries: [TestArchives.Entry]) throws -> String {
        let tar = try TestArchives.write(entries, to: dir.sub("\(name).tar"))
        let target = dir.sub("layers/\(name)")
        try Sys.mkdirAll(target)
        var unpacker = try LayerUnpacker(root: target)
        defer { unpacker.close() }
        try unpacker.unpack(try ArchiveReader(path: tar))
        return target
    }

    @Test func whiteoutsAndOpaqueDirectoriesHideLowerFiles() throws {
        let base = try layer("base", [
            TestArchives.directory("etc"), TestArchives.file("etc/keep", "k"), TestArchives.file("etc/remove", "r"),
            TestArchives.directory("cache"), TestArchives.file("cache/old", "o"), TestArchives.file("gone", "g"),
        ])
        let top = try layer("top", [
            TestArchives.directory("etc"), TestArchives.file("etc/.wh.remove", ""), TestArchives.directory("cache"),
            TestArchives.file("cache/.wh..wh..opq", ""), TestArchives.file("cache/new", "n"), TestArchives.file(".wh.gone", ""),
        ])
        let rootfs = RootFilesystem(directory: dir.sub("container"))
        try rootfs.mount(layers: [base, top])
        defer { try? rootfs.remove() }
        let fm = FileManager.default
        #expect(try fm.contentsOfDirectory(atPath: rootfs.merged + "/etc") == ["keep"])
        #expect(try fm.contentsOfDirectory(atPath: rootfs.merged + "/cache") == ["new"])
        #expect(!fm.fileExists(atPath: rootfs.merged + "/gone"))

        // Writes go to the container's upper directory, never to a shared layer.
        try "changed".write(toFile: rootfs.merged + "/etc/keep", atomically: false, encoding: .utf8)
        #expect(try String(contentsOfFile: base + "/etc/keep", encoding: .utf8) == "k")
        #expect(try String(contentsOfFile: rootfs.upper + "/etc/keep", encoding: .utf8) == "changed")

        try rootfs.remove()
        #expect(!fm.fileExists(atPath: rootfs.upper))
        #expect(fm.fileExists(atPath: base + "/etc/keep") && fm.fileExists(atPath: top + "/cache/new"))
    }

    /// A layer as the layer store keeps it: `<store>/<chain id>/diff`.
    func storedLayer(_ i: Int) throws -> String {
        let chain = Digest.of("layer \(i)").hex
        let target = dir.sub("store/\(chain)/diff")
        try Sys.mkdirAll(target)
        try "\(i)".write(toFile: target + "/f\(i)", atomically: false, encoding: .utf8)
        return target
    }

    /// 60 layers mount on every kernel: with `lowerdir+` where the kernel has it, and by option
    /// string with short links (what kernels before 6.8 get) everywhere.
    @Test(arguments: [RootFilesystem.OverlayMethod.current, .optionString])
    func sixtyLayersMount(_ method: RootFilesystem.OverlayMethod) throws {
        let layers = try (0..<60).map(storedLayer)
        let rootfs = RootFilesystem(directory: dir.sub("sixty-\(method)"))
        try rootfs.mount(layers: layers, method: method)
        defer { try? rootfs.remove() }
        #expect(try String(contentsOfFile: rootfs.merged + "/f0", encoding: .utf8) == "0")
        #expect(try String(contentsOfFile: rootfs.merged + "/f59", encoding: .utf8) == "59")
        if method == .optionString {
            let links = try FileManager.default.contentsOfDirectory(atPath: dir.sub("store/l"))
            #expect(links.count == 60 && links.allSatisfy { $0.count == 12 })
            let options = try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8).split(separator: "\n")
                .first { $0.contains(rootfs.merged) } ?? ""
            #expect(options.contains("lowerdir=l/"), "layers named by their short links: \(options.prefix(200))")
        }
    }

    @Test func layersBeyondAPageAreRefusedNamingTheKernelThatTakesThem() throws {
        var layers: [String] = []
        for i in 0..<150 {
            layers.append(try layer(String(format: "layer-with-a-long-name-to-exceed-the-page-%03d", i), [TestArchives.file("f\(i)", "\(i)")]))
        }
        let rootfs = RootFilesystem(directory: dir.sub("many-refused"))
        defer { try? rootfs.remove() }
        do {
            try rootfs.mount(layers: layers, method: .optionString)
            Issue.record("mounted")
        } catch {
            #expect(error.code == E2BIG && error.description.contains("Linux 6.8"), "\(error)")
        }
    }

    @Test(.enabled(if: RootFilesystem.OverlayMethod.current == .layersByFsconfig, "lowerdir+ needs Linux 6.8"))
    func anyNumberOfLayersWithLowerdirPlus() throws {
        var layers: [String] = []
        for i in 0..<150 {
            layers.append(try layer(String(format: "layer-with-a-long-name-to-exceed-the-page-%03d", i), [TestArchives.file("f\(i)", "\(i)")]))
        }
        let rootfs = RootFilesystem(directory: dir.sub("many"))
        try rootfs.mount(layers: layers)
        defer { try? rootfs.remove() }
        #expect(try String(contentsOfFile: rootfs.merged + "/f0", encoding: .utf8) == "0")
        #expect(try String(contentsOfFile: rootfs.merged + "/f149", encoding: .utf8) == "149")
    }
}
