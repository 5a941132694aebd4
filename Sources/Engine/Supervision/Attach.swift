#if canImport(Glibc)
import Glibc
#endif

/// A container started attached to this process's standard streams, as `run` does without `-d`:
/// its terminal (in raw mode) relayed both ways with window sizes, or the streams themselves handed
/// to it; Ctrl-C and the other signals passed on to it through its supervisor.
public enum AttachedStart {
    public enum Outcome: Sendable, Equatable {
        /// The container ran and exited with this code.
        case exited(Int32)
        /// It could not be started (the supervisor's words).
        case failedToStart(String)
        /// The supervisor went away or answered out of turn.
        case lost(String)
    }

    /// Starts the container and relays until it exits.
    public static func run(_ record: ContainerRecord, client: SupervisorClient, tty: Bool) throws(SupervisorError) -> Outcome {
        let signals: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH]
        Sys.blockSignals(signals)
        defer { Sys.unblockAllSignals() }
        let sigfd: Int32
        do { sigfd = try Sys.signalDescriptor(signals) } catch { throw .unavailable(error.description) }
        defer { Sys.close(sigfd) }
        let size = tty ? TerminalIO.windowSize(0) : nil
        // The wait goes with the start: a quick process may be gone (and with --rm removed) before a
        // later request would arrive.
        try client.send(.start(id: record.id, attach: true, rows: size?.rows ?? 0, columns: size?.columns ?? 0), fds: tty ? [] : [0, 1, 2])
        try client.send(.wait(id: record.id))
        let (reply, fds) = try client.receive()
        if case .failed(let message) = reply { return .failedToStart(message) }
        var master = tty ? fds.first : nil
        let raw = master != nil ? RawTerminal() : nil
        defer { raw?.restore() }
        if let master { TerminalIO.copyWindowSize(to: master) }
        var buffer = [UInt8](repeating: 0, count: 32 * 1024)
        var inputOpen = master != nil
        let readable = Int16(POLLIN)
        while true {
            var watched: [(fd: Int32, events: Int16)] = [(client.socket, readable), (sigfd, readable)]
            if let m = master {
                watched.append((m, readable))
                if inputOpen { watched.append((0, readable)) }
            }
            let ready = Sys.poll(watched, timeout: -1)
            if ready[1] != 0 {
                for sig in Sys.readSignals(sigfd) {
                    if sig == SIGWINCH {
                        if let m = master { TerminalIO.copyWindowSize(to: m) }
                    } else if let c = try? SupervisorClient.connect(runtime: Runtime(root: client.root), group: client.group) {
                        // Passed on to the container, as docker compose run does.
                        _ = try? c.request(.kill(id: record.id, signal: sig))
                    }
                }
            }
            if let m = master, ready.count > 2 {
                if ready[2] != 0 && !Sys.relay(from: m, to: 1, buffer: &buffer, drain: false) {
                    Sys.close(m)
                    master = nil
                }
                if ready.count > 3 && ready[3] != 0 && !Sys.relay(from: 0, to: m, buffer: &buffer, drain: false) {
                    inputOpen = false
                }
            }
            if ready[0] != 0 {
                if let m = master {
                    Sys.relay(from: m, to: 1, buffer: &buffer, drain: true)
                    Sys.close(m)
                }
                let (done, _) = try client.receive()
                if case .exited(let code, _) = done { return .exited(code) }
                if case .failed(let message) = done { return .lost(message) }
                return .lost("unexpected reply \(done)")
            }
        }
    }
}
