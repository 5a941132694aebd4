import ArgumentParser

/// The flags every verb shares, given before the verb as with docker compose:
/// `swcompose -f a.yml -p demo up -d`.
struct GlobalOptions: ParsableArguments {
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
