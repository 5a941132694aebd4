import ArgumentParser
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
        if let status = HelperMode.run(arguments) {
            exit(status)
        }
        let (global, rest) = GlobalOptions.split(Array(arguments.dropFirst()))
        do {
            GlobalOptions.current = try GlobalOptions.parse(global)
        } catch {
            ExitCodes.fail(error, usage: GlobalOptions.self)
        }
        CommandThread.run { ExitCodes.main(rest) }
    }
}

/// The verbs run on a thread with a large stack: loading and printing a project walks its YAML
/// recursively, and a file nested 10,000 deep (as deep as docker compose accepts) needs more than the
/// main thread's 8 MiB. Only the pages it touches cost memory. The main thread then blocks every
/// signal, so that signals reach the command (its handlers and signalfds) as before.
enum CommandThread {
    static let stackSize = 1 << 30

    final class Body {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }

    static func run(_ body: @escaping () -> Void) -> Never {
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        var thread = pthread_t()
        // A mask inherited from the parent (a test runner, a supervisor of our own) would keep Ctrl-C
        // from ever arriving: the command starts with every signal deliverable.
        var none = sigset_t()
        sigemptyset(&none)
        pthread_sigmask(SIG_SETMASK, &none, nil)
        let box = Unmanaged.passRetained(Body(body)).toOpaque()
        let created = pthread_attr_setstacksize(&attributes, stackSize) == 0
            && pthread_create(&thread, &attributes, { raw in
                Unmanaged<Body>.fromOpaque(raw!).takeRetainedValue().run()
                exit(0)
            }, box) == 0
        guard created else {
            // No thread to be had: run here, with the ordinary stack.
            Unmanaged<Body>.fromOpaque(box).takeRetainedValue().run()
            exit(0)
        }
        var all = sigset_t()
        sigfillset(&all)
        pthread_sigmask(SIG_BLOCK, &all, nil)
        pthread_join(thread, nil)
        exit(0)
    }
}

/// docker compose's exit codes: 0, the code a command chose (a container's, for `run`, `exec`,
/// `wait`), and 1 for everything that failed — usage errors included, where swift-argument-parser
/// would exit 64.
enum ExitCodes {
    static func main(_ arguments: [String]) {
        do {
            var command = try SWCompose.parseAsRoot(arguments)
            try command.run()
        } catch let code as ExitCode {
            exit(code.rawValue)
        } catch {
            fail(error, usage: SWCompose.self)
        }
        exit(0)
    }

    static func fail<Command: ParsableArguments>(_ error: Error, usage: Command.Type) -> Never {
        // Help and version requests print to standard output and succeed, as the parser does it.
        if Command.exitCode(for: error) == .success { Command.exit(withError: error) }
        Terminal.writeError(Command.fullMessage(for: error) + "\n")
        exit(1)
    }
}