import Engine
#if canImport(Glibc)
import Glibc
#endif

/// The program's entry. swcompose re-executes itself in hidden modes for the processes that must stay
/// single-threaded (the container start helper, `exec`'s helper, the supervisor); those are dispatched
/// here, before the argument parser or anything else runs.
@main
enum Entry {
    static func main() {
        let arguments = CommandLine.arguments
        if arguments.count > 1, let status = HiddenMode.run(arguments[1], Array(arguments.dropFirst(2))) {
            exit(status)
        }
        let (global, rest) = GlobalOptions.split(Array(arguments.dropFirst()))
        do {
            GlobalOptions.current = try GlobalOptions.parse(global)
        } catch {
            GlobalOptions.exit(withError: error)
        }
        SWCompose.main(rest)
    }
}

enum HiddenMode {
    static func run(_ mode: String, _ arguments: [String]) -> Int32? {
        switch mode {
        case "__init": return ContainerInit.main(arguments)
        case "__supervise": return Supervisor.main(arguments)
        case "__exec": return ContainerExec.main()
        default: return nil
        }
    }
}
