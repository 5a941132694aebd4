import ArgumentParser

/// The flags every verb shares, given before the verb as with docker compose:
/// `swcompose -f a.yml -p demo up -d`.
struct GlobalOptions: ParsableArguments {
    /// Set once by `Entry` from the command line before the command runs, then only read (the command
    /// and the tasks it starts come after that write).
    nonisolated(unsafe) static var current = GlobalOptions()

    /// Options taking a value, and flags, that may come before the subcommand.
    static let valued: Set<String> = ["-f", "--file", "-p", "--project-name", "--project-directory", "--env-file", "--profile", "--ansi", "--progress"]
    static let flags: Set<String> = ["--dry-run"]

    /// Splits the command line at the subcommand: the global options before it, and the rest.
    static func split(_ arguments: [String]) -> (global: [String], rest: [String]) {
        var i = 0
        while i < arguments.count {
            let a = arguments[i]
            let name = a.split(separator: "=", maxSplits: 1).first.map(String.init) ?? a
            if valued.contains(name) {
                i += a.contains("=") ? 1 : 2
            } else if a.hasPrefix("-f") && a.count > 2 && !a.hasPrefix("--") || a.hasPrefix("-p") && a.count > 2 && !a.hasPrefix("--") {
                i += 1 // -fFILE, -pNAME
            } else if flags.contains(a) {
                i += 1
            } else {
                break
            }
        }
        let cut = min(i, arguments.count)
        return (Array(arguments[..<cut]), Array(arguments[cut...]))
    }

    @Option(name: [.short, .customLong("file")], help: ArgumentHelp("Compose configuration files (repeatable; - for standard input).", valueName: "FILE"))
    var files: [String] = []

    @Option(name: [.short, .customLong("project-name")], help: "Project name.")
    var projectName: String?

    @Option(name: .customLong("project-directory"), help: ArgumentHelp("Alternate working directory (default: the directory of the first compose file).", valueName: "DIR"))
    var projectDirectory: String?

    @Option(name: .customLong("env-file"), help: ArgumentHelp("Alternate environment files (repeatable).", valueName: "FILE"))
    var envFiles: [String] = []

    @Option(name: .customLong("profile"), help: ArgumentHelp("Enable a profile (repeatable).", valueName: "PROFILE"))
    var profiles: [String] = []

    @Option(name: .customLong("ansi"), help: "Control when to print ANSI control characters (never, always, auto).")
    var ansi: AnsiMode = .auto

    @Option(name: .customLong("progress"), help: "Type of progress output (auto, tty, plain, json, quiet).")
    var progress: ProgressMode = .auto

    @Flag(name: .customLong("dry-run"), help: "Show what would be done without changing anything.")
    var dryRun = false
}

enum AnsiMode: String, ExpressibleByArgument, CaseIterable {
    case never, always, auto
}

enum ProgressMode: String, ExpressibleByArgument, CaseIterable {
    case auto, tty, plain, json, quiet
}
