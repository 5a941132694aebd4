import ArgumentParser
import ComposeModel
import Engine
import Scheduler
#if canImport(Glibc)
import Glibc
#endif

struct PortCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "port", abstract: "Print the public port for a port binding.")

    @ParentCommand var root: SWCompose

    @Option(help: "tcp or udp")
    var `protocol`: String = "tcp"

    @Option(help: "Index of the container if service has multiple replicas.")
    var index: Int = 1

    @Argument(help: "The service.")
    var service: String

    @Argument(help: "The container port.")
    var privatePort: UInt16

    func run() throws {
        let session = try ComposeSession.open(root.global, services: [service])
        let records = try session.containers([service]).filter { Orchestrator.number($0) == index }
        guard let r = records.first, r.state.isAlive else {
            Terminal.writeError("service \"\(service)\" is not running\n")
            throw ExitCode.failure
        }
        let matches = r.state.ports.filter { $0.containerPort == privatePort && $0.proto == `protocol` }
        guard let first = matches.first(where: { !$0.hostIP.contains(":") }) ?? matches.first else {
            Terminal.writeError("no port \(privatePort)/\(`protocol`) for container \(r.name)\n")
            throw ExitCode.failure
        }
        Terminal.write("\(first.hostIP.contains(":") ? "[\(first.hostIP)]" : first.hostIP):\(first.hostPort)\n")
    }
}

/// `network ls|inspect|rm|prune`: the bridges swcompose made.
struct NetworkCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "network", abstract: "Manage networks.",
        subcommands: [List.self, Inspect.self, Remove.self, Prune.self])

    static var store: NetworkStore { NetworkStore(root: StateAccess.root()) }
    static func isAlive(_ id: String) -> Bool {
        ContainerStore(runtime: Runtime(root: StateAccess.root())).state(id).isAlive
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List networks.", aliases: ["list"])

        @Flag(name: [.short, .long], help: "Only display network IDs.")
        var quiet = false

        @Option(help: "Format the output (table, json).")
        var format: String = "table"

        func run() throws {
            let networks = NetworkCommand.store.list()
            if quiet {
                Terminal.write(networks.map { String($0.id.prefix(12)) + "\n" }.joined())
                return
            }
            if format == "json" {
                Terminal.write(networks.map { n in
                    JSONText.object([("ID", .text(String(n.id.prefix(12)))), ("Name", .text(n.name)), ("Driver", .text(n.driver ?? "bridge")),
                                     ("Scope", .text("local")), ("Internal", .raw(String(n.internal))), ("Subnet", .text(n.subnet.description))]) + "\n"
                }.joined())
                return
            }
            var rows = [["NETWORK ID", "NAME", "DRIVER", "SCOPE"]]
            for n in networks { rows.append([String(n.id.prefix(12)), n.name, n.driver ?? "bridge", "local"]) }
            Terminal.write(Table.render(rows))
        }
    }

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "inspect", abstract: "Display detailed information on networks.")

        @Argument(help: "Networks.")
        var names: [String]

        func run() throws {
            var objects: [String] = []
            for name in names {
                guard let n = try? NetworkCommand.store.inspect(name) else {
                    Terminal.writeError("error: no such network: \(name) (swcompose network ls lists them)\n")
                    throw ExitCode.failure
                }
                let containers = ContainerStore(runtime: Runtime(root: StateAccess.root()))
                let endpoints = n.endpoints.keys.sorted().map { id -> String in
                    let e = n.endpoints[id]!
                    let name = (try? containers.spec(id).name) ?? ""
                    return "        " + JSONText.string(id) + ": " + JSONText.object([
                        ("Name", .text(name)), ("IPv4Address", .text("\(e.address)/\(n.subnet.prefix)")),
                        ("Aliases", .raw("[" + e.names.map(JSONText.string).joined(separator: ",") + "]")),
                    ])
                }
                let labels = n.labels.keys.sorted().map { JSONText.string($0) + ": " + JSONText.string(n.labels[$0]!) }
                var pools = ["{\"Subnet\": \(JSONText.string(n.subnet.description)), \"Gateway\": \(JSONText.string(n.gateway.description))\(n.ipRange.map { ", \"IPRange\": " + JSONText.string($0.description) } ?? "")}"]
                if let subnet6 = n.subnet6, let gateway6 = n.gateway6 {
                    pools.append("{\"Subnet\": \(JSONText.string(subnet6.description)), \"Gateway\": \(JSONText.string(gateway6.description))}")
                }
                let ipamOptions = n.ipamOptions.map { o in
                    "{" + o.keys.sorted().map { JSONText.string($0) + ": " + JSONText.string(o[$0]!) }.joined(separator: ", ") + "}"
                } ?? "null"
                var options = n.isSubinterfaceNetwork ? [("parent", n.parent ?? "")] : [("com.docker.network.bridge.name", n.bridge)]
                if let mode = n.mode { options.append((n.driver == "ipvlan" ? "ipvlan_mode" : "macvlan_mode", mode)) }
                if let mtu = n.mtu { options.append(("com.docker.network.driver.mtu", String(mtu))) }
                objects.append("""
                    {
                        "Name": \(JSONText.string(n.name)),
                        "Id": \(JSONText.string(n.id)),
                        "Created": \(JSONText.string(n.created)),
                        "Scope": "local",
                        "Driver": \(JSONText.string(n.driver ?? "bridge")),
                        "EnableIPv6": \(n.subnet6 != nil),
                        "IPAM": {"Driver": "default", "Options": \(ipamOptions), "Config": [\(pools.joined(separator: ", "))]},
                        "Internal": \(n.internal),
                        "Containers": {\(endpoints.isEmpty ? "" : "\n" + endpoints.joined(separator: ",\n") + "\n    ")},
                        "Options": {\(options.map { JSONText.string($0.0) + ": " + JSONText.string($0.1) }.joined(separator: ", "))},
                        "Labels": {\(labels.joined(separator: ", "))}
                    }
                """)
            }
            Terminal.write("[\n" + objects.joined(separator: ",\n") + "\n]\n")
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove one or more networks.", aliases: ["remove"])

        @Argument(help: "Networks.")
        var names: [String]

        func run() throws {
            var failed = false
            for name in names {
                do {
                    try NetworkCommand.store.remove(name, isAlive: NetworkCommand.isAlive)
                    Terminal.write(name + "\n")
                } catch {
                    Terminal.writeError("error: cannot remove network \(name): \(error)\n")
                    failed = true
                }
            }
            if failed { throw ExitCode.failure }
        }
    }

    struct Prune: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "prune", abstract: "Remove all unused networks.")

        @Flag(name: [.short, .long], help: "Do not prompt for confirmation.")
        var force = false

        func run() throws {
            let store = NetworkCommand.store
            let unused = store.list().filter { !$0.endpoints.keys.contains(where: NetworkCommand.isAlive) }
            if unused.isEmpty { return }
            Terminal.write("Deleted Networks:\n")
            for n in unused {
                if (try? store.remove(n.name, isAlive: NetworkCommand.isAlive)) != nil { Terminal.write(n.name + "\n") }
            }
        }
    }
}
