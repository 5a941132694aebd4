import ArgumentParser
import ComposeModel
import Engine
import Scheduler
#if canImport(Glibc)
import Glibc
#endif

/// `volume create|ls|inspect|rm|prune`: the named and anonymous volumes under `$SWCOMPOSE_ROOT/volumes`.
struct VolumeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "volume", abstract: "Manage volumes.",
        subcommands: [Create.self, List.self, Inspect.self, Remove.self, Prune.self])

    static var root: StateRoot { StateAccess.root() }
    static var store: VolumeStore { VolumeStore(root: root) }
    static var containers: ContainerStore { ContainerStore(runtime: Runtime(root: root)) }

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "create", abstract: "Create a volume.")

        @Option(name: .long, help: "Set metadata for a volume (KEY=VALUE).")
        var label: [String] = []

        @Argument(help: "Volume name.")
        var name: String

        func run() throws {
            var labels: [String: String] = [:]
            for l in label {
                let parts = l.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                labels[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
            }
            do {
                try VolumeCommand.store.create(name, labels: labels)
            } catch {
                Terminal.writeError("error: cannot create volume \(name): \(error)\n")
                throw ExitCode.failure
            }
            Terminal.write(name + "\n")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List volumes.", aliases: ["list"])

        @Flag(name: [.short, .long], help: "Only display volume names.")
        var quiet = false

        @Option(help: "Format the output (table, json).")
        var format: String = "table"

        func run() throws {
            let volumes = VolumeCommand.store.list()
            if quiet {
                Terminal.write(volumes.map { $0.name + "\n" }.joined())
            } else if format == "json" {
                Terminal.write(volumes.map { v in
                    JSONText.object([("Driver", .text(v.driver)), ("Name", .text(v.name)), ("Scope", .text("local")),
                                     ("Mountpoint", .text(VolumeCommand.store.dataPath(v.name)))]) + "\n"
                }.joined())
            } else {
                var rows = [["DRIVER", "VOLUME NAME"]]
                for v in volumes { rows.append([v.driver, v.name]) }
                Terminal.write(Table.render(rows, separator: 5))
            }
        }
    }

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "inspect", abstract: "Display detailed information on volumes.")

        @Argument(help: "Volumes.")
        var names: [String]

        func run() throws {
            var out: [String] = []
            for name in names {
                guard let v = try? VolumeCommand.store.inspect(name) else {
                    Terminal.writeError("error: no such volume: \(name) (swcompose volume ls lists them)\n")
                    throw ExitCode.failure
                }
                let labels = v.labels.keys.sorted().map { JSONText.string($0) + ": " + JSONText.string(v.labels[$0]!) }
                out.append("""
                    {
                        "CreatedAt": \(JSONText.string(v.createdAt)),
                        "Driver": \(JSONText.string(v.driver)),
                        "Labels": {\(labels.joined(separator: ", "))},
                        "Mountpoint": \(JSONText.string(VolumeCommand.store.dataPath(v.name))),
                        "Name": \(JSONText.string(v.name)),
                        "Options": null,
                        "Scope": "local"
                    }
                """)
            }
            Terminal.write("[\n" + out.joined(separator: ",\n") + "\n]\n")
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove one or more volumes.", aliases: ["remove"])

        @Flag(name: [.short, .long], help: "Remove even while containers (not running) refer to it.")
        var force = false

        @Argument(help: "Volumes.")
        var names: [String]

        func run() throws {
            var failed = false
            for name in names {
                do {
                    let running = VolumeCommand.store.users(name, containers: VolumeCommand.containers).filter { n in
                        (try? VolumeCommand.containers.find(n))?.state.isAlive == true
                    }
                    if !running.isEmpty { throw VolumeStoreError.inUse(name, containers: running) }
                    try VolumeCommand.store.remove(name, containers: VolumeCommand.containers, force: force)
                    Terminal.write(name + "\n")
                } catch {
                    Terminal.writeError("error: cannot remove volume \(name): \(error)\n")
                    failed = true
                }
            }
            if failed { throw ExitCode.failure }
        }
    }

    struct Prune: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "prune", abstract: "Remove unused volumes.")

        @Flag(name: [.short, .long], help: "Remove all unused volumes, not just anonymous ones.")
        var all = false

        @Flag(name: [.short, .long], help: "Do not prompt for confirmation.")
        var force = false

        func run() throws {
            let store = VolumeCommand.store
            var removed: [String] = []
            var reclaimed: Int64 = 0
            for v in store.list() where (all || v.anonymous) && store.users(v.name, containers: VolumeCommand.containers).isEmpty {
                let size = Sys.diskUsage(store.dataPath(v.name))
                if (try? store.remove(v.name, containers: VolumeCommand.containers)) != nil {
                    removed.append(v.name)
                    reclaimed += size
                }
            }
            if !removed.isEmpty { Terminal.write("Deleted Volumes:\n" + removed.map { $0 + "\n" }.joined() + "\n") }
            Terminal.write("Total reclaimed space: \(ByteCount.human(reclaimed))\n")
        }
    }
}

/// `ls`: the projects on this host, from their containers' labels.
struct LsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List running compose projects.")

    @Flag(name: [.short, .long], help: "Show all stopped Compose projects.")
    var all = false

    @Flag(name: [.short, .long], help: "Only display project names.")
    var quiet = false

    @Option(help: "Format the output (table, json).")
    var format: String = "table"

    func run() throws {
        let store = ContainerStore(runtime: Runtime(root: StateAccess.root()))
        var projects: [String: (states: [String: Int], files: String)] = [:]
        for r in store.list() {
            guard let name = r.spec.labels[ComposeLabels.project] else { continue }
            let state = ContainerPresentation.state(r.state)
            var entry = projects[name] ?? ([:], r.spec.labels[ComposeLabels.configFiles] ?? "")
            entry.states[state, default: 0] += 1
            projects[name] = entry
        }
        let names = projects.keys.sorted().filter { all || projects[$0]!.states["running", default: 0] > 0 }
        if quiet {
            Terminal.write(names.map { $0 + "\n" }.joined())
            return
        }
        func status(_ states: [String: Int]) -> String {
            states.keys.sorted().map { "\($0)(\(states[$0]!))" }.joined(separator: ", ")
        }
        if format == "json" {
            Terminal.write("[" + names.map { n in
                JSONText.object([("Name", .text(n)), ("Status", .text(status(projects[n]!.states))), ("ConfigFiles", .text(projects[n]!.files))])
            }.joined(separator: ",") + "]\n")
            return
        }
        var rows = [["NAME", "STATUS", "CONFIG FILES"]]
        for n in names { rows.append([n, status(projects[n]!.states), projects[n]!.files]) }
        Terminal.write(Table.render(rows))
    }
}

/// `inspect CONTAINER…`: a container's record and state as JSON (health probes included).
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "inspect", abstract: "Display detailed information on containers (by name or ID).")

    @Argument(help: "Containers.")
    var containers: [String]

    func run() throws {
        let store = ContainerStore(runtime: Runtime(root: StateAccess.root()))
        var out: [String] = []
        for name in containers {
            guard let r = try? store.find(name) else {
                Terminal.writeError("Error: No such container: \(name)\n")
                throw ExitCode.failure
            }
            let config = (try? Files.readText(store.runtime.containerDirectory(r.id) + "/config.json")) ?? "{}"
            let state = (try? Files.readText(store.runtime.containerDirectory(r.id) + "/state.json")) ?? "{}"
            out.append("{\"Id\":\(JSONText.string(r.id)),\"Name\":\(JSONText.string(r.name)),\"Config\":\(config),\"State\":\(state)}")
        }
        Terminal.write("[" + out.joined(separator: ",") + "]\n")
    }
}
