import ArgumentParser

struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Show the swcompose version information.")

    @Option(name: [.short, .long], help: "Format the output (pretty, json).")
    var format: String = "pretty"

    @Flag(name: .long, help: "Show only the version number.")
    var short = false

    func run() throws {
        if short {
            print(SWCompose.version)
        } else if format == "json" {
            print("{\"version\":\"\(SWCompose.version)\"}")
        } else {
            print("swcompose version \(SWCompose.version)")
        }
    }
}
