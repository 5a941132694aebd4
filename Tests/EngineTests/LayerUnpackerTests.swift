import Foundation
import Testing
import TestSupport
@testable import Engine

/// Unpacking layers for real (as root): whiteouts, metadata, links, and hostile archives that must not
/// touch anything outside the layer.
@Suite(.requiresRoot, .serialized) struct LayerUnpackerTests {
    let dir = TemporaryDirectory("unpack")

    func unpack(_ entries: [TestArchives.Entry], compression: ArchiveWriter.Compression = .none) throws -> (String, Digest?) {
        let tar = try TestArchives.write(entries, to: dir.sub("layer-\(UUID().uuidString).tar"), compression: compression)
        let target = dir.sub("out-\(UUID().uuidString)")
        try Sys.mkdir(target)
        var unpacker = try LayerUnpacker(root: target)
        defer { unpacker.close() }
        let reader = try ArchiveReader(path: tar, hashingDecompressed: true)
        try unpacker.unpack(reader)
        return (target, try reader.finishDecompressedDigest())
    }

    func refusal(_ entries: [TestArchives.Entry]) throws -> LayerUnpacker.Refusal? {
        do {
            _ = try unpack(entries)
            return nil
        } catch let LayerUnpacker.Failure.refused(r) {
            return r
        }
    }

    /// ca-certificates names certificates (and links to them) in UTF-8: packed and unpacked whatever the
    /// process's locale (libarchive in the C locale could not translate them and failed the layer).
    @Test func namesBeyondASCIIArePackedAndUnpackedAsTheyAre() throws {
        let source = dir.sub("utf8-src")
        try Sys.mkdirAll(source + "/etc/ssl/certs")
        let name = "NetLock_Arany_=Class_Gold=_Főtanúsítvány.pem"
        try Files.writeAtomically(source + "/etc/ssl/certs/" + name, "cert\n", mode: 0o644)
        try Sys.symlink(name, source + "/etc/ssl/certs/988a38cb.0")
        let content = ContentStore(root: dir.sub("utf8-content"))
        let packed = try LayerPacker.pack(source, into: content)
        let target = dir.sub("utf8-out")
        try Sys.mkdir(target)
        var unpacker = try LayerUnpacker(root: target)
        defer { unpacker.close() }
        try unpacker.unpack(try ArchiveReader(path: content.path(packed.digest)))
        #expect(try Files.readText(target + "/etc/ssl/certs/" + name) == "cert\n")
        #expect(try Sys.readlink(target + "/etc/ssl/certs/988a38cb.0") == name)
    }

    @Test func whiteoutsBecomeOverlayWhiteouts() throws {
        let (out, _) = try unpack([
            TestArchives.directory("a"), TestArchives.file("a/.wh.gone", ""), TestArchives.file("a/.wh..wh..opq", ""),
            TestArchives.file("a/kept", "k"), TestArchives.file(".wh.top", ""),
        ])
        let st = try Sys.fileStatus(out + "/a/gone")
        #expect(st.st_mode & 0o170000 == 0o020000)
        #expect(st.st_rdev == 0)
        #expect(try Sys.fileStatus(out + "/top").st_mode & 0o170000 == 0o020000)
        #expect(Sys.getXattr(out + "/a", "trusted.overlay.opaque") == [UInt8(ascii: "y")])
        #expect(!FileManager.default.fileExists(atPath: out + "/a/.wh.gone"))
        #expect(try String(contentsOfFile: out + "/a/kept", encoding: .utf8) == "k")
    }

    @Test func metadataIsKept() throws {
        var setuid = TestArchives.file("bin/tool", "#!/bin/sh\n", mode: 0o4755, uid: 1000, gid: 1500)
        setuid.header.xattrs = [("user.note", Array("hello".utf8))]
        var dev = ArchiveWriter.Header(path: "dev/null", kind: .characterDevice, mode: 0o666)
        dev.deviceMajor = 1
        dev.deviceMinor = 3
        let fifo = ArchiveWriter.Header(path: "run/pipe", kind: .fifo, mode: 0o600)
        var dir = TestArchives.directory("data", mode: 0o700)
        dir.header.uid = 33
        let (out, _) = try unpack([
            TestArchives.directory("bin"), setuid, TestArchives.hardlink("bin/tool2", to: "bin/tool"),
            TestArchives.symlink("bin/sh", to: "/bin/busybox"), TestArchives.directory("dev"), (dev, []), TestArchives.directory("run"),
            (fifo, []), dir, TestArchives.file("data/x", "x"),
        ])
        let tool = try Sys.fileStatus(out + "/bin/tool")
        #expect(tool.st_mode & 0o7777 == 0o4755)
        #expect(tool.st_uid == 1000 && tool.st_gid == 1500)
        #expect(tool.st_mtim.tv_sec == 1_600_000_000)
        #expect(tool.st_nlink == 2)
        #expect(try Sys.fileStatus(out + "/bin/tool2").st_ino == tool.st_ino)
        #expect(Sys.getXattr(out + "/bin/tool", "user.note") == Array("hello".utf8))
        #expect(try Sys.readlink(out + "/bin/sh") == "/bin/busybox")
        let null = try Sys.fileStatus(out + "/dev/null")
        #expect(null.st_mode & 0o170000 == 0o020000 && null.st_rdev == (1 << 8 | 3))
        #expect(try Sys.fileStatus(out + "/run/pipe").st_mode & 0o170000 == 0o010000)
        let data = try Sys.fileStatus(out + "/data")
        #expect(data.st_mode & 0o7777 == 0o700 && data.st_uid == 33)
        // Directory times are set after their content.
        #expect(data.st_mtim.tv_sec == 1_600_000_000)
    }

    @Test func laterEntriesReplaceEarlierOnes() throws {
        let (out, _) = try unpack([
            TestArchives.file("f", "one"), TestArchives.file("f", "two"),
            TestArchives.directory("d"), TestArchives.file("d/x", "x"), TestArchives.file("d", "now a file"),
        ])
        #expect(try String(contentsOfFile: out + "/f", encoding: .utf8) == "two")
        #expect(try String(contentsOfFile: out + "/d", encoding: .utf8) == "now a file")
    }

    @Test func diffIDIsTheDigestOfTheDecompressedStream() throws {
        let entries = [TestArchives.file("a", "hello")]
        let plain = try TestArchives.write(entries, to: dir.sub("plain.tar"))
        let expected = Digest.of(Array(try Data(contentsOf: URL(fileURLWithPath: plain))))
        for compression in [ArchiveWriter.Compression.none, .gzip, .zstd] {
            let (_, digest) = try unpack(entries, compression: compression)
            #expect(digest == expected)
        }
    }

    /// A sentinel outside the layer that no hostile archive may touch.
    func sentinel() throws -> String {
        let path = dir.sub("sentinel")
        try "original".write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func dotDotIsRefused() throws {
        let s = try sentinel()
        let r = try refusal([TestArchives.file("../sentinel", "pwned")])
        #expect(r?.reason == "contains '..'")
        let r2 = try refusal([TestArchives.file("a/../../sentinel", "pwned")])
        #expect(r2 != nil)
        #expect(try String(contentsOfFile: s, encoding: .utf8) == "original")
    }

    @Test func absolutePathsStayInside() throws {
        let s = try sentinel()
        let (out, _) = try unpack([TestArchives.file(s, "contained")])
        #expect(try String(contentsOfFile: s, encoding: .utf8) == "original")
        #expect(try String(contentsOfFile: out + s, encoding: .utf8) == "contained")
    }

    @Test func symlinksAreNeverFollowed() throws {
        let s = try sentinel()
        let outside = URL(fileURLWithPath: s).deletingLastPathComponent().path
        // A symlink to the outside, then a file through it.
        #expect(try refusal([TestArchives.symlink("evil", to: outside), TestArchives.file("evil/sentinel", "pwned")])?.reason
            .contains("symlink") == true)
        // A relative symlink climbing out, then a directory through it.
        #expect(try refusal([TestArchives.symlink("up", to: "../../.."), TestArchives.directory("up/tmp"), TestArchives.file("up/tmp/x", "x")]) != nil)
        // Replacing the symlink itself is fine: it is removed, not followed.
        let (out, _) = try unpack([TestArchives.symlink("link", to: s), TestArchives.file("link", "replaced")])
        #expect(try String(contentsOfFile: out + "/link", encoding: .utf8) == "replaced")
        #expect(try String(contentsOfFile: s, encoding: .utf8) == "original")
    }

    @Test func hardLinksCannotReachOutside() throws {
        let s = try sentinel()
        #expect(try refusal([TestArchives.hardlink("copy", to: "../sentinel")]) != nil)
        #expect(try refusal([TestArchives.hardlink("copy", to: s)])?.reason.contains("does not contain") == true)
        #expect(try refusal([TestArchives.symlink("l", to: URL(fileURLWithPath: s).deletingLastPathComponent().path),
                             TestArchives.hardlink("copy", to: "l/sentinel")]) != nil)
        #expect(try String(contentsOfFile: s, encoding: .utf8) == "original")
    }

    @Test func whiteoutsCannotEscape() throws {
        let s = try sentinel()
        #expect(try refusal([TestArchives.file("../.wh.sentinel", "")]) != nil)
        #expect(try refusal([TestArchives.symlink("up", to: ".."), TestArchives.file("up/.wh.sentinel", "")]) != nil)
        #expect(FileManager.default.fileExists(atPath: s))
    }
}
