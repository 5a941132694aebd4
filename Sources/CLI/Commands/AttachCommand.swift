import ArgumentParser
import Engine
import Scheduler
#if canImport(Glibc)
import Glibc
#endif

/// `attach SERVICE`: this terminal joined to a running service container, as docker compose attach:
/// its output from now on (stdout to stdout, stderr to stderr — read from the log the supervisor
/// writes, so attaching takes nothing from `logs`), this terminal's input to its standard input
/// (`stdin_open`, or its terminal with `tty`), Ctrl-C passed on to it (`--sig-proxy`), the detach
/// keys (ctrl-p,ctrl-q) to leave it running. Ends with the container's exit code when it exits.
struct AttachCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "attach", abstract: "Attach local standard input, output, and error streams to a service's running container.")

    @ParentCommand var root: SWCompose

    @Option(name: .customLong("detach-keys"), help: "Override the key sequence for detaching from a container.")
    var detachKeys = "ctrl-p,ctrl-q"

    @Option(help: "index of the container if service has multiple replicas.")
    var index: Int = 1

    @Flag(name: .customLong("no-stdin"), help: "Do not attach STDIN.")
    var noStdin = false

    @Option(name: .customLong("sig-proxy"), help: "Proxy all received signals to the process.")
    var sigProxy = true

    @Argument(help: "The service.")
    var service: String

    /// `ctrl-p,ctrl-q` → [0x10, 0x11]; letters and `ctrl-@`…`ctrl-_`, as docker reads them.
    static func keys(_ text: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        for part in text.split(separator: ",") {
            let key = part.lowercased()
            if key.hasPrefix("ctrl-"), key.count == 6, let c = key.last?.asciiValue {
                switch c {
                case 0x61...0x7a: bytes.append(c - 0x60)
                case 0x40, 0x5b, 0x5c, 0x5d, 0x5e, 0x5f: bytes.append(c - 0x40)
                default: return nil
                }
            } else if key.count == 1, let c = part.first?.asciiValue {
                bytes.append(c)
            } else {
                return nil
            }
        }
        return bytes.isEmpty ? nil : bytes
    }

    func run() throws {
        guard let escape = Self.keys(detachKeys) else {
            Terminal.writeError("invalid --detach-keys \"\(detachKeys)\": use keys such as ctrl-p,ctrl-q\n")
            throw ExitCode.failure
        }
        let session = try ComposeSession.open(root.global, services: [service])
        let record = try session.container(service, index: index)
        let store = session.orchestrator.store
        guard store.state(record.id).isAlive else {
            Terminal.writeError("service \"\(service)\" is not running: start it first\n")
            throw ExitCode.failure
        }
        let client: SupervisorClient
        do { client = try SupervisorClient.connect(runtime: session.runtime, group: session.project.name) } catch {
            Terminal.writeError("\(error)\n")
            throw ExitCode.failure
        }
        let tty = record.spec.process.tty
        // Output: the log from its end on.
        let follower = LogFollower(tail: 0)
        follower.add(id: record.id, path: session.runtime.logPath(record.id))
        follower.existing { _, _ in }
        // Input: the container's terminal, or its stdin pipe.
        var input: Int32 = -1
        if !noStdin {
            if tty {
                if case (.ok, let fds) = try client.request(.terminal(id: record.id)), let master = fds.first {
                    input = master
                    TerminalIO.copyWindowSize(from: 0, to: master)
                }
            } else if record.spec.process.stdinOpen {
                input = (try? Sys.open(session.runtime.containerDirectory(record.id) + "/stdin", O_WRONLY | O_NONBLOCK)) ?? -1
            }
        }
        let raw = tty && input >= 0 ? RawTerminal() : nil
        defer { raw?.restore() }
        Interrupts.install()
        var proxied: Int32 = 0
        var matched = 0
        var reading = input >= 0
        let watch = DirectoryWatch(session.runtime.containerDirectory(record.id))
        var buffer = [UInt8](repeating: 0, count: 4096)
        func show(_ id: String, _ e: LogEntry) {
            Array(e.text.utf8).withUnsafeBytes { try? Sys.write(e.stream == .stderr && !tty ? 2 : 1, $0) }
        }
        while true {
            follower.poll(show)
            let state = store.state(record.id)
            if !state.isAlive && state.status != .restarting {
                // Its exit code, once the supervisor has it.
                var code = state.exitCode
                if case (.exited(let c, _), _)? = try? client.request(.wait(id: record.id)) { code = c }
                follower.poll(show)
                raw?.restore()
                if code != 0 { throw ExitCode(code) }
                return
            }
            // Ctrl-C without a terminal in raw mode: passed on, as docker's --sig-proxy does.
            while sigProxy && !tty && Interrupts.count > proxied {
                proxied += 1
                _ = try? client.request(.kill(id: record.id, signal: SIGINT))
            }
            if !sigProxy && Interrupts.count > 0 { return }
            guard watch.wait(0.25, orReadable: reading ? 0 : -1) else { continue }
            let n = read(0, &buffer, buffer.count)
            if n <= 0 {
                reading = false
                continue
            }
            var chunk = Array(buffer[0..<n])
            if tty {
                // The detach keys, typed in a row: leave the container running.
                for (i, byte) in chunk.enumerated() {
                    matched = byte == escape[matched] ? matched + 1 : (byte == escape[0] ? 1 : 0)
                    if matched == escape.count {
                        chunk = Array(chunk[..<max(0, i + 1 - escape.count)])
                        chunk.withUnsafeBytes { try? Sys.write(input, $0) }
                        raw?.restore()
                        Terminal.writeError("\nread escape sequence\n")
                        return
                    }
                }
            }
            chunk.withUnsafeBytes { try? Sys.write(input, $0) }
        }
    }
}
