/// The modes of the helper executable (`swcompose-runtime`, and `swcompose` itself where no helper is
/// installed beside it): spelled here only, started through `arguments`, and dispatched by `run`.
public enum HelperMode: String, CaseIterable, Sendable {
    /// A container's start helper: becomes its process 1 (`ContainerInit`).
    case containerInit = "__init"
    /// A project's supervisor (`Supervisor`).
    case supervise = "__supervise"
    /// Joins a running container for `exec` and healthcheck probes (`ContainerExec`).
    case exec = "__exec"

    /// The argument vector that starts this mode, with `extra` after it.
    public func arguments(_ extra: [String] = []) -> [String] { ["swcompose", rawValue] + extra }

    /// Runs the mode `argv[1]` names with the arguments after it: its exit status, or nil when
    /// `argv` names no helper mode.
    public static func run(_ argv: [String]) -> Int32? {
        guard argv.count > 1, let mode = HelperMode(rawValue: argv[1]) else { return nil }
        let rest = Array(argv.dropFirst(2))
        switch mode {
        case .containerInit: return ContainerInit.main(rest)
        case .supervise: return Supervisor.main(rest)
        case .exec: return ContainerExec.main()
        }
    }

    /// The mode a command line (`/proc/PID/cmdline`, NUL-separated) runs, if any.
    public static func of(commandLine: [UInt8]) -> HelperMode? {
        commandLine.split(separator: 0).dropFirst().first.flatMap { HelperMode(rawValue: String(decoding: $0, as: UTF8.self)) }
    }
}
