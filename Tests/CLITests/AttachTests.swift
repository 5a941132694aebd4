import Foundation
import Testing
import TestSupport

/// `attach` to a running service, as docker compose attach: only what it writes from then on, its
/// stdout and stderr apart, this side's input to its stdin, Ctrl-C passed on, the container's exit
/// code at the end; with `tty`, this terminal typed into the container's, and the detach keys.
@Suite(.serialized) struct AttachTests {
    @Test func attachRelaysOutputInputAndSignals() throws {
        let p = try ProjectFixture("attach", compose: """
            services:
              echo:
                image: swcompose/busybox
                stdin_open: true
                command: ["sh", "-c", "echo before attach; trap 'echo interrupted; exit 5' INT; while read line; do echo \\"got $$line\\"; echo \\"err $$line\\" >&2; done"]
            """)
        #expect(try p.run(["up", "-d"]).status == 0)
        #expect(p.eventually(2) { (try? p.run(["logs", "echo"]).stdout.contains("before attach")) == true })
        let process = Process()
        process.executableURL = Swcompose.executable
        process.arguments = ["-p", p.project, "attach", "echo"]
        process.currentDirectoryURL = URL(fileURLWithPath: p.directory)
        process.environment = ["PATH": "/usr/bin:/bin", "HOME": "/root"].merging(p.environment) { $1 }
        let input = Pipe()
        let out = p.dir.sub("attach.out"), err = p.dir.sub("attach.err")
        FileManager.default.createFile(atPath: out, contents: nil)
        FileManager.default.createFile(atPath: err, contents: nil)
        process.standardInput = input
        process.standardOutput = FileHandle(forWritingAtPath: out)
        process.standardError = FileHandle(forWritingAtPath: err)
        try process.run()
        func text(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
        // The first line also waits for attach to start (a second or so under user-mode Linux); the
        // second is the round trip a user waits for.
        input.fileHandleForWriting.write(Data("hello\n".utf8))
        #expect(WatchTests.until(10) { text(out).contains("got hello\n") && text(err).contains("err hello\n") } != nil, "\(text(out)) | \(text(err))")
        input.fileHandleForWriting.write(Data("again\n".utf8))
        let t = WatchTests.until(2) { text(out).contains("got again\n") && text(err).contains("err again\n") }
        #expect(t != nil && t! < 0.5, "the answer to the typed line after \(t ?? -1) s: \(text(out)) | \(text(err))")
        #expect(!text(out).contains("before attach"), "only what comes after attaching")
        #expect(!text(out).contains("err hello"), "stderr apart from stdout")
        // Ctrl-C goes to the container, whose exit code attach returns.
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        #expect(process.terminationStatus == 5, "\(text(err))")
        #expect(text(out).contains("interrupted\n"))
        #expect(p.store.state(try #require(p.container("echo")).id).status == .exited)
    }

    @Test func attachToATerminalAndDetach() throws {
        let p = try ProjectFixture("attachtty", compose: """
            services:
              shell:
                image: swcompose/busybox
                tty: true
                stdin_open: true
                command: ["sh"]
            """)
        #expect(try p.run(["up", "-d"]).status == 0)
        let typed = try p.runInTerminal(["attach", "shell"], input: "echo hi-$((40+2))\r", steps: [("hi-42", "\u{10}\u{11}")])
        #expect(typed.status == 0, "\(typed.output)")
        #expect(typed.output.contains("hi-42"), "\(typed.output)")
        #expect(typed.output.contains("read escape sequence"), "\(typed.output)")
        let id = try #require(p.container("shell")).id
        #expect(p.store.state(id).isAlive, "detaching leaves it running")
        let exited = try p.runInTerminal(["attach", "shell"], input: "exit 7\r")
        #expect(exited.status == 7, "\(exited.output)")
    }
}
