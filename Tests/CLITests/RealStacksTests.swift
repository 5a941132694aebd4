import Foundation
import Testing
import TestSupport
import Engine

/// Real stacks with real images' behaviour (Tests/Stacks): swcompose equivalents of
/// docker/awesome-compose's stacks (flask, flask-redis, django, fastapi, apache-php,
/// nginx-flask-mysql, wordpress-mysql, nginx-wsgi-flask, postgresql-pgadmin), on stand-ins for the
/// Docker Hub images they name, built from Debian's packages with entrypoints that behave as the
/// official ones do (data directories given to their users, privileges dropped with gosu, nginx
/// unprivileged on port 80 logging to /dev/stdout, pgAdmin as uid 5050 on port 80), served by a
/// loopback registry as the Docker Hub mirror. Each stack is brought up with `up -d --wait`, probed,
/// and taken down; what its probes see must be what docker compose saw (Tests/Stacks/expected,
/// recorded by Tests/Stacks/record.sh). The images are built once per machine and kept
/// (Tests/Stacks/build-images.sh); the stacks' own builds fetch from PyPI.
@Suite(.serialized, .requiresRoot, .requiresRegistryTools,
       .enabled(if: DebianMirror.reachable, "no network route to Debian's mirror and PyPI on this machine"))
struct RealStacksTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().path + "/Stacks"

    static let stacks: [String] = ((try? FileManager.default.contentsOfDirectory(atPath: directory + "/stacks")) ?? []).sorted()

    /// The registry store of the stand-in images (built on first use, then cached).
    static let store: Result<String, TestFailure> = {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: directory + "/build-images.sh")
        p.arguments = [Binaries.swcompose]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        do { try p.run() } catch { return .failure(TestFailure("build-images.sh: \(error)")) }
        let output = out.fileHandleForReading.readDataToEndOfFile()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let path = String(decoding: output, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
        guard p.terminationStatus == 0, !path.isEmpty else {
            return .failure(TestFailure("build-images.sh failed: \(String(decoding: errors, as: UTF8.self))"))
        }
        return .success(path)
    }()

    @Test(arguments: stacks) func stackRunsAsUnderDockerCompose(_ stack: String) throws {
        let store = try Self.store.get()
        let registry = try TestRegistry(storage: store)
        let state = TemporaryDirectory("stack-\(stack)")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.directory + "/run-stack.sh")
        p.arguments = [Binaries.swcompose, stack]
        var env = ProcessInfo.processInfo.environment
        env["SWCOMPOSE_ROOT"] = state.sub("state")
        env["SWCOMPOSE_REGISTRY_MIRRORS"] = "http://\(registry.host)"
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        let expected = try String(contentsOfFile: Self.directory + "/expected/\(stack).txt", encoding: .utf8)
        #expect(output == expected, "\(stack) under swcompose:\n\(output)\n(standard error:\n\(errors))")
        // Taken down, nothing is left of it.
        let left = ContainerStore(runtime: Runtime(root: StateRoot(path: state.sub("state")))).list()
        #expect(left.isEmpty, "\(left.map(\.name))")
        #expect(NetworkStore(root: StateRoot(path: state.sub("state"))).list().isEmpty)
    }
}
