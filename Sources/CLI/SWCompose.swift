import ArgumentParser

struct SWCompose: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "swcompose",
        abstract: "Run docker compose projects without a daemon.",
        discussion: """
        swcompose reads compose.yaml (and compose.override.yaml, .env) like docker compose v2 and runs the \
        project with its own container core: namespaces, cgroups, overlay root filesystems, seccomp and \
        bridge networking.
        """,
        version: "swcompose version \(version)",
        subcommands: [
            UpCommand.self, DownCommand.self, CreateCommand.self, StartCommand.self, StopCommand.self, RestartCommand.self,
            KillCommand.self, RmCommand.self, PauseCommand.self, UnpauseCommand.self, WaitCommand.self,
            PsCommand.self, LogsCommand.self, TopCommand.self, ExecCommand.self, RunCommand.self,
            ConfigCommand.self, ImagesCommand.self, ImageCommand.self, VersionCommand.self,
        ]
    )

    @OptionGroup var global: GlobalOptions
}
