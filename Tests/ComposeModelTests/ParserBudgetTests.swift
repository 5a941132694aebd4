import Foundation
import Testing
@testable import ComposeModel

/// What a hostile or merely huge file can make the loader do: refused with a location, in well under
/// a second, or read in linear time. The files are generated here.
@Suite struct ParserBudgetTests {
    func elapsed(_ body: () throws -> Void) rethrows -> Double {
        let start = Date()
        try body()
        return Date().timeIntervalSince(start)
    }

    func parseError(_ text: String, limits: YAMLLimits = YAMLLimits()) -> Diagnostic? {
        do {
            _ = try YAMLParser.parse(text, file: "/p/compose.yaml", limits: limits)
            return nil
        } catch {
            return error.diagnostics.first
        }
    }

    /// Each anchor a list of nine aliases of the previous: 9^9 values from 399 bytes.
    static func billionLaughs(levels: Int = 9) -> String {
        var lines = ["services:", "  a:", "    image: busybox", "x-a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]"]
        var previous = "a"
        for i in 1..<levels {
            let name = String(UnicodeScalar(UInt8(97 + i)))
            lines.append("x-\(name): &\(name) [" + Array(repeating: "*" + previous, count: 9).joined(separator: ",") + "]")
            previous = name
        }
        return lines.joined(separator: "\n") + "\n"
    }

    @Test func aBillionLaughsIsRefusedAtTheAliasAtOnce() throws {
        var diagnostic: Diagnostic?
        let seconds = elapsed { diagnostic = parseError(Self.billionLaughs()) }
        let d = try #require(diagnostic)
        #expect(d.message.hasPrefix("YAML: excessive aliasing: expanding '*c'"), "\(d.message)")
        #expect(d.location == SourceLocation(file: "/p/compose.yaml", line: 7, column: 13))
        #expect(seconds < 0.5, "\(seconds) s")
    }

    @Test func anchorsUsedAsComposeFilesUseThemAreFine() throws {
        // x-common merged into 200 services: most values are copies, but nowhere near a bomb's ratio.
        var text = "x-common: &common\n  image: busybox\n  environment: {A: 1, B: 2, C: 3}\n  labels: [a=1, b=2]\nservices:\n"
        for i in 0..<200 { text += "  s\(i):\n    <<: *common\n    command: [\"echo\", \"\(i)\"]\n" }
        #expect(parseError(text) == nil)
    }

    @Test func nestingDeeperThanDockerComposeAcceptsIsRefusedWithItsLocation() throws {
        func flow(_ depth: Int) -> String {
            "services:\n  a:\n    image: busybox\nx-deep: " + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + "\n"
        }
        #expect(parseError(flow(10_000)) == nil, "docker compose accepts 10,000 flow levels")
        var diagnostic: Diagnostic?
        let seconds = elapsed { diagnostic = parseError(flow(100_000)) }
        let d = try #require(diagnostic)
        #expect(d.message.hasPrefix("YAML: exceeded max depth of 10000"), "\(d.message)")
        #expect(d.location == SourceLocation(file: "/p/compose.yaml", line: 4, column: 10_009))
        #expect(seconds < 0.5, "\(seconds) s")
        // Block collections count apart from flow ones (as go-yaml counts them): seven mappings here,
        // the root's and one under each of a, k1 … k5.
        var block = "a:\n"
        for level in 1...6 { block += String(repeating: "  ", count: level) + "k\(level):\n" }
        var limits = YAMLLimits()
        limits.maximumDepth = 6
        let blockError = try #require(parseError(block, limits: limits))
        #expect(blockError.location?.line == 7, "\(blockError)")
        limits.maximumDepth = 7
        #expect(parseError(block, limits: limits) == nil)
        #expect(parseError(block + "x: [[[[[[[1]]]]]]]\n", limits: limits) == nil, "seven flow levels beside seven block ones")
    }

    @Test func aLargeMappingParsesInLinearTime() throws {
        func labels(_ n: Int) -> String {
            var text = "services:\n  a:\n    image: busybox\n    labels:\n"
            text.reserveCapacity(n * 24)
            for i in 0..<n { text += "      l\(i): v\(i)\n" }
            return text
        }
        let small = try elapsed { _ = try YAMLParser.parse(labels(10_000), file: "/p/c.yaml") }
        let large = try elapsed { _ = try YAMLParser.parse(labels(40_000), file: "/p/c.yaml") }
        #expect(large < 1, "40,000 labels: \(large) s")
        #expect(large < small * 8, "4× the labels, \(large / small)× the time")
        let node = try #require(try YAMLParser.parse(labels(40_000), file: "/p/c.yaml").first)
        #expect(node["services"]?["a"]?["labels"]?.entries?.count == 40_000)
        // Duplicate keys are still found, at both places.
        let duplicate = try #require(parseError(labels(1_000) + "      l7: again\n"))
        #expect(duplicate.message == "duplicate key 'l7'")
        #expect(duplicate.location?.line == 1_005)
        #expect(duplicate.notes.first?.location?.line == 12)
    }

    @Test func invalidUTF8AndControlCharactersAreRefusedWhereTheyAre() throws {
        let bytes = Array("services:\n  a:\n    image: \"busy".utf8) + [0xFF] + Array("box\"\n".utf8)
        #expect(throws: ComposeError.self) { try FileSystem.source(bytes, file: "/p/compose.yaml") }
        do {
            _ = try FileSystem.source(bytes, file: "/p/compose.yaml")
        } catch {
            let d = error.diagnostics[0]
            #expect(d.location == SourceLocation(file: "/p/compose.yaml", line: 3, column: 17))
            #expect(d.message.contains("not valid UTF-8: byte 0xFF"))
        }
        // Truncated and overlong sequences, surrogates: refused too; valid multi-byte text is not.
        for bad: [UInt8] in [[0x61, 0xE2, 0x82], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xF5, 0x80, 0x80, 0x80]] {
            #expect(throws: ComposeError.self) { try FileSystem.source(bad, file: "/p/x") }
        }
        #expect(try FileSystem.source(Array("a: \"héllo ✓ 🐳\"\n".utf8), file: "/p/x") == "a: \"héllo ✓ 🐳\"\n")
        // A NUL byte on line 3, column 16 (libyaml reports reader errors by offset).
        let nul = "services:\n  a:\n    image: busy\u{0}box\n"
        let d = try #require(parseError(nul))
        #expect(d.message == "YAML syntax: control characters are not allowed")
        #expect(d.location == SourceLocation(file: "/p/compose.yaml", line: 3, column: 16))
    }

    @Test func locationsOfBytesCountCharacters() {
        let text = Array("ab\ncé✓x".utf8)
        // 'x' is byte 9 (c=3, é=4-5, ✓=6-8): line 2, column 4.
        #expect(SourceText.location(ofByte: 9, in: text, file: "f") == SourceLocation(file: "f", line: 2, column: 4))
        #expect(SourceText.location(ofByte: 0, in: text, file: "f") == SourceLocation(file: "f", line: 1, column: 1))
    }

    @Test func longSourceLinesAreShownAsAWindowAroundTheColumn() {
        var sources = SourceTexts()
        let line = String(repeating: "a", count: 5_000) + "X" + String(repeating: "b", count: 5_000)
        sources["/p/c.yaml"] = line + "\n"
        let rendered = DiagnosticRenderer(sources: sources).render(.error("here", at: SourceLocation(file: "/p/c.yaml", line: 1, column: 5_001)))
        let lines = rendered.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines[1].count < 200, "\(lines[1].count)")
        let caret = lines[2].firstIndex(of: "^").map { lines[2].distance(from: lines[2].startIndex, to: $0) }
        let x = lines[1].firstIndex(of: "X").map { lines[1].distance(from: lines[1].startIndex, to: $0) }
        #expect(caret != nil && caret == x, "the caret stays under the column")
    }

    @Test func extendsAndIncludeDepthsAreBounded() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("budget-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Listed last-first, so that resolving the first one walks the whole chain.
        var text = "services:\n"
        for i in (1...200).reversed() { text += "  s\(i):\n    extends: s\(i - 1)\n" }
        text += "  s0:\n    image: busybox\n"
        try text.write(toFile: dir + "/compose.yaml", atomically: true, encoding: .utf8)
        var options = LoadOptions(workingDirectory: dir, environment: [:])
        options.configFiles = [dir + "/compose.yaml"]
        #expect(throws: ComposeError.self) { _ = try ProjectLoader.load(options) }
        do { _ = try ProjectLoader.load(options) } catch {
            #expect(error.diagnostics.contains { $0.message.contains("extends chains more than 128 services deep") }, "\(error)")
        }
        // 130 files each including the next.
        for i in 0...130 {
            let next = i < 130 ? "include: [f\(i + 1).yaml]\n" : ""
            try (next + "services:\n  s\(i):\n    image: busybox\n").write(toFile: dir + "/f\(i).yaml", atomically: true, encoding: .utf8)
        }
        options.configFiles = [dir + "/f0.yaml"]
        do {
            _ = try ProjectLoader.load(options)
            Issue.record("a 131-deep include chain was loaded")
        } catch {
            #expect(error.diagnostics.contains { $0.message.contains("files included more than 128 deep") }, "\(error)")
        }
    }
}
