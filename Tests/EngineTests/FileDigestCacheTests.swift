import Testing
@testable import Engine

/// The file digests a build context keeps between builds (`build-cache/files`).
@Suite struct FileDigestCacheTests {
    @Test func entriesSurviveTheirTextAndOtherTextIsIgnored() {
        let d1 = Digest(sha256: String(repeating: "a", count: 64)), d2 = Digest(sha256: String(repeating: "0", count: 64))
        let entries: [String: FileHashCache.Entry] = [
            "/ctx/src/a b.txt": .init(inode: 12, size: 400, mtime: 1_700_000_000_123_456_789, ctime: 1_700_000_000_123_456_790, digest: d1),
            "/ctx/Dockerfile": .init(inode: 99, size: 0, mtime: -1, ctime: 0, digest: d2),
        ]
        let text = FileHashCache.format(entries)
        #expect(text.hasPrefix(FileHashCache.header + "\n"))
        let back = FileHashCache.parse(Array(text.utf8))
        #expect(back.count == 2)
        #expect(back["/ctx/src/a b.txt"]?.digest == d1 && back["/ctx/src/a b.txt"]?.mtime == 1_700_000_000_123_456_789)
        #expect(back["/ctx/Dockerfile"]?.inode == 99 && back["/ctx/Dockerfile"]?.digest == d2)
        // A path with a newline is not kept (it would read as two lines); the earlier JSON form and a
        // damaged line read as nothing, so those files are digested again.
        #expect(FileHashCache.parse(Array(FileHashCache.format(["/x\ny": entries["/ctx/Dockerfile"]!]).utf8)).isEmpty)
        #expect(FileHashCache.parse(Array(#"{"/ctx/Dockerfile":{"inode":99}}"#.utf8)).isEmpty)
        #expect(FileHashCache.parse(Array((FileHashCache.header + "\n12 x 1 2 \(d1.hex) /f\n").utf8)).isEmpty)
    }
}
