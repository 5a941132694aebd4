import Foundation
import Testing

/// `swcompose config` on recorded projects: where docker compose v2.40.3 accepted a project, the YAML
/// and JSON output must be byte-for-byte what it printed (expected.yaml, expected.json); where it
/// refused, swcompose must refuse too, with the location and message in expect-error.
@Suite struct ConfigFixtureTests {
    static let fixtures = Fixtures.names("config")

    @Test(arguments: fixtures)
    func fixture(_ name: String) throws {
        let source = Fixtures.root.appendingPathComponent("config/\(name)")
        let scratch = try Scratch(name: name)
        for item in try FileManager.default.contentsOfDirectory(atPath: source.path) {
            try FileManager.default.copyItem(at: source.appendingPathComponent(item), to: scratch.url.appendingPathComponent(item))
        }
        func read(_ file: String) -> String? { try? String(contentsOf: source.appendingPathComponent(file), encoding: .utf8) }
        let args = read("args")?.split(whereSeparator: \.isWhitespace).map(String.init) ?? []
        var env: [String: String] = [:]
        for line in (read("env") ?? "").split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            env[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }
        let path = scratch.url.path
        let parent = scratch.url.deletingLastPathComponent().path
        func expand(_ text: String) -> String {
            text.replacingOccurrences(of: "${CASE_DIR}", with: path).replacingOccurrences(of: "${CASE_PARENT}", with: parent)
        }

        if let patterns = read("expect-error") {
            let result = try Swcompose.run(args + ["config"], in: scratch.url, environment: env)
            #expect(result.status != 0, "swcompose accepted a project docker compose refuses")
            #expect(result.stdout.isEmpty)
            for pattern in patterns.split(separator: "\n") where !pattern.isEmpty {
                let regex = try Regex(String(pattern))
                #expect(result.stderr.contains(regex), "stderr lacks /\(pattern)/:\n\(result.stderr)")
            }
            return
        }
        if let yaml = read("expected.yaml") {
            let result = try Swcompose.run(args + ["config"], in: scratch.url, environment: env)
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout == expand(yaml))
        }
        if let json = read("expected.json") {
            let result = try Swcompose.run(args + ["config", "--format", "json"], in: scratch.url, environment: env)
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout == expand(json))
        }
    }
}
