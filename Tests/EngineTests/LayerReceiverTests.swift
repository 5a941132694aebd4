import Foundation
import Testing
import TestSupport
@testable import Engine

/// The receiver that unpacks a layer while its blob arrives: what it takes for a layer, what it
/// stages, and that it never blocks its writer or leaves a staging directory behind.
@Suite(.requiresRoot, .serialized) struct LayerReceiverTests {
    let dir = TemporaryDirectory("receiver")
    var store: LayerStore { LayerStore(root: dir.sub("layers")) }

    func bytes(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }

    /// Feeds `data` in blocks of `block` bytes, as an archive or a download hands them over.
    func feed(_ receiver: LayerReceiver, _ data: [UInt8], block: Int = 10_000) {
        var offset = 0
        while offset < data.count {
            let end = min(data.count, offset + block)
            data[offset..<end].withUnsafeBytes { receiver.feed($0) }
            offset = end
        }
    }

    func staged() -> [String] { ((try? Sys.list(store.root)) ?? []).filter { $0.hasPrefix("tmp-") } }

    @Test func onlyATarOrACompressedStreamIsTakenForALayer() throws {
        let tar = try bytes(try TestArchives.write([TestArchives.file("a", "a")], to: dir.sub("plain.tar")))
        let gz = try bytes(try TestArchives.write([TestArchives.file("a", "a")], to: dir.sub("plain.tar.gz"), compression: .gzip))
        let zst = try bytes(try TestArchives.write([TestArchives.file("a", "a")], to: dir.sub("plain.tar.zst"), compression: .zstd))
        func sniff(_ b: [UInt8]) -> (Bool, Bool) { b.withUnsafeBytes { let r = LayerReceiver.looksLikeLayer($0); return (r.layer, r.compressed) } }
        #expect(sniff(tar) == (true, false))
        #expect(sniff(gz) == (true, true))
        #expect(sniff(zst) == (true, true))
        #expect(sniff(Array("{\"schemaVersion\":2,\"layers\":[]}".utf8) + [UInt8](repeating: 0x20, count: 600)) == (false, false))
        // A tar header cut before its magic is not guessed at.
        #expect(sniff(Array(tar.prefix(200))) == (false, false))

        // A JSON document is declined at its first bytes: nothing staged, no thread left.
        let receiver = LayerReceiver(store: store, label: "config")
        feed(receiver, Array(String(repeating: "{\"k\":\"v\"}", count: 500).utf8))
        #expect(!receiver.active)
        guard case .skipped = receiver.finish(blob: Digest.of("x")) else { Issue.record("a document was taken for a layer"); return }
        #expect(staged().isEmpty)
    }

    @Test func aLayerIsStagedAsItArrivesAndPublishedUnderItsChain() throws {
        var entries: [TestArchives.Entry] = [TestArchives.directory("data")]
        // More than the pipe holds, so that the writer and the unpacker really run side by side.
        for i in 0..<40 { entries.append(TestArchives.file("data/f\(i)", String(repeating: "\(i) ", count: 30_000))) }
        let plain = try bytes(try TestArchives.write(entries, to: dir.sub("big.tar")))
        let gz = try bytes(try TestArchives.write(entries, to: dir.sub("big.tar.gz"), compression: .gzip))
        #expect(plain.count > 2 << 20)

        // Uncompressed: the blob's digest is the diff_id.
        let r1 = LayerReceiver(store: store, label: "plain")
        feed(r1, plain, block: 65_536)
        #expect(r1.active)
        guard case .staged(let s1) = r1.finish(blob: Digest.of(plain)) else { Issue.record("not staged"); return }
        #expect(s1.diffID == Digest.of(plain))
        #expect(staged().count == 1)
        let layer = try store.publish(s1, chainID: Digest.of(plain), expectedDiffID: Digest.of(plain))
        #expect(try String(contentsOfFile: layer.directory + "/data/f39", encoding: .utf8).hasPrefix("39 39 "))
        #expect(staged().isEmpty)

        // Compressed: the diff_id is the decompressed stream's digest, computed on the way; the store
        // has the chain already, so the staged copy goes.
        let r2 = LayerReceiver(store: store, label: "gzip")
        feed(r2, gz)
        guard case .staged(let s2) = r2.finish(blob: Digest.of(gz)) else { Issue.record("not staged"); return }
        #expect(s2.diffID == Digest.of(plain))
        let same = try store.ensureLayer(chainID: Digest.of(plain), diffID: Digest.of(plain), blobPath: "/nonexistent", blob: Digest.of(gz),
                                         received: .staged(s2))
        #expect(same.directory == layer.directory)
        #expect(staged().isEmpty)

        // A stream cut short: the unpacker fails (and the writer was never blocked); nothing stays.
        let r3 = LayerReceiver(store: store, label: "truncated")
        feed(r3, Array(gz.prefix(gz.count / 2)))
        switch r3.finish(blob: Digest.of("cut")) {
        case .failed, .skipped: break
        case .staged: Issue.record("half a layer was staged")
        }
        #expect(staged().isEmpty)

        // A receiver dropped halfway (the download failed) stops its thread and removes its tree.
        do {
            let r4 = LayerReceiver(store: store, label: "dropped")
            feed(r4, Array(plain.prefix(plain.count / 2)), block: 65_536)
            r4.discard()
        }
        #expect(staged().isEmpty)
    }

    /// A compressed layer is decompressed (and hashed) on a thread of its own beside the unpacker:
    /// the diff_id still covers the whole decompressed stream, what follows the tar's end marker too;
    /// an entry refused mid-stream fails the layer without leaving either thread waiting.
    @Test func aCompressedLayerIsDecompressedBesideItsUnpackAndHashedWhole() throws {
        var entries: [TestArchives.Entry] = []
        for i in 0..<30 { entries.append(TestArchives.file("f\(i)", String(repeating: "\(i)-", count: 40_000))) }
        // The tar, then 64 KiB of zeros after its end marker (as some layer writers pad).
        let tarPath = try TestArchives.write(entries, to: dir.sub("padded.tar"))
        let plain = try bytes(tarPath) + [UInt8](repeating: 0, count: 65_536)
        try Data(plain).write(to: URL(fileURLWithPath: tarPath))
        let gzip = Process()
        gzip.executableURL = URL(fileURLWithPath: "/bin/gzip")
        gzip.arguments = ["-kf", tarPath]
        try gzip.run()
        gzip.waitUntilExit()
        let gz = try bytes(tarPath + ".gz")
        let r = LayerReceiver(store: store, label: "padded")
        feed(r, gz, block: 32_768)
        guard case .staged(let s) = r.finish(blob: Digest.of(gz)) else { Issue.record("not staged"); return }
        #expect(s.diffID == Digest.of(plain), "the digest of everything decompressed")
        store.discard(s)

        // An entry climbing out of the layer, followed by more than the pipes hold.
        var bad: [TestArchives.Entry] = [TestArchives.file("ok", "ok"), TestArchives.file("../escape", "x")]
        for i in 0..<20 { bad.append(TestArchives.file("g\(i)", String(repeating: "\(i)+", count: 60_000))) }
        let badGz = try bytes(try TestArchives.write(bad, to: dir.sub("bad.tar.gz"), compression: .gzip))
        let refused = LayerReceiver(store: store, label: "refused")
        feed(refused, badGz, block: 32_768)
        guard case .failed = refused.finish(blob: Digest.of(badGz)) else { Issue.record("a climbing entry was not refused"); return }
        #expect(staged().isEmpty)
    }
}
