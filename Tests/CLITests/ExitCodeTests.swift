import Foundation
import Testing
import TestSupport

/// docker compose's exit codes and messages that say what failed: 1 for any failure (usage errors
/// included), never a daemon that does not exist.
@Suite(.requiresRoot) struct ExitCodeTests {
    @Test func failuresExitOneAndNameWhatFailed() throws {
        let s = try Scratch(name: "codes")
        try s.write("compose.yaml", "services:\n  a:\n    image: busybox\n")
        let env = ["SWCOMPOSE_ROOT": s.url.deletingLastPathComponent().appendingPathComponent("state").path]
        func run(_ args: [String]) throws -> Swcompose.Result { try Swcompose.run(args, in: s.url, environment: env) }
        let cases: [([String], String)] = [
            (["up", "--nosuch"], "Unknown option '--nosuch'"),
            (["nosuchverb"], "Unexpected argument 'nosuchverb'"),
            (["up", "-d", "--force-recreate", "--no-recreate"], "--force-recreate and --no-recreate are incompatible"),
            (["--ansi", "sometimes", "ps"], "--ansi"),
            (["volume", "inspect", "nosuch"], "no such volume: nosuch"),
            (["volume", "rm", "nosuch"], "cannot remove volume nosuch: no such volume: nosuch"),
            (["network", "inspect", "nosuch"], "no such network: nosuch"),
            (["network", "rm", "nosuch"], "cannot remove network nosuch"),
            (["ps", "nosuch"], "no such service: nosuch"),
        ]
        for (args, message) in cases {
            let r = try run(args)
            #expect(r.status == 1, "\(args): \(r.status)")
            #expect(r.stderr.contains(message), "\(args): \(r.stderr)")
            #expect(!r.stderr.contains("daemon"), "\(args): \(r.stderr)")
        }
        #expect(try run(["version"]).status == 0)
        #expect(try run(["up", "--help"]).stdout.contains("Create and start containers."))
    }
}
