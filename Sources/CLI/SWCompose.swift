import ArgumentParser

struct SWCompose: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "swcompose",
        abstract: "Run docker compose projects without a daemon.",
        usage: "swcompose [GLOBAL OPTIONS] <subcommand>",
        discussion: """
        swcompose reads compose.yaml (and compose.override.yaml, .env) like docker compose v2 and runs the \
        project with its own container core: namespaces, cgroups, overlay root filesystems, seccomp and \
        bridge networking.

        GLOBAL OPTIONS (before the subcommand, as with docker compose):
          -f, --file FILE              Compose configuration files (repeatable; - for standard input)
          -p, --project-name NAME      Project name
          --project-directory DIR      Alternate working directory
          --env-file FILE              Alternate environment files (repeatable)
          --profile PROFILE            Enable a profile (repeatable)
          --ansi never|always|auto     Control when to print ANSI control characters
          --progress auto|tty|plain|json|quiet
                                       Type of progress output
          --dry-run                    Show what would be done without changing anything
        """,
        version: "swcompose version \(version)",
        subcommands: [
            UpCommand.self, DownCommand.self, CreateCommand.self, StartCommand.self, StopCommand.self, RestartCommand.self,
            KillCommand.self, RmCommand.self, PauseCommand.self, UnpauseCommand.self, WaitCommand.self,
            PsCommand.self, LogsCommand.self, TopCommand.self, DiffCommand.self, CommitCommand.self, ExportCommand.self, StatsCommand.self, CopyCommand.self, WatchCommand.self, EventsCommand.self, AttachCommand.self, ExecCommand.self, RunCommand.self, PortCommand.self,
            NetworkCommand.self, VolumeCommand.self, LsCommand.self, InspectCommand.self,
            BuildCommand.self, PullCommand.self, PushCommand.self, LoginCommand.self, LogoutCommand.self,
            ConfigCommand.self, ImagesCommand.self, ImageCommand.self, BuilderCommand.self, KubeCommand.self, InfoCommand.self, VersionCommand.self,
        ]
    )

    /// The options given before the subcommand (parsed apart, so that a subcommand's own `-f`, as in
    /// `logs -f` or `rm -f`, is never taken for the compose file).
    var global: GlobalOptions { GlobalOptions.current }
}
