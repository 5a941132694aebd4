import ArgumentParser
import ComposeModel
import Engine
import Registry
import Scheduler

struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Parse, resolve and render the compose file in canonical format.",
        discussion: "Without options, prints the project exactly as docker compose's `config` prints it."
    )

    @ParentCommand var root: SWCompose
    var global: GlobalOptions { root.global }

    @Option(help: "Format the output (yaml, json).")
    var format: OutputKind = .yaml

    @Flag(name: [.short, .long], help: "Only validate the configuration, don't print anything.")
    var quiet = false

    @Flag(help: "Print the service names, one per line.")
    var services = false

    @Flag(help: "Print the volume names, one per line.")
    var volumes = false

    @Flag(help: "Print the network names, one per line.")
    var networks = false

    @Flag(help: "Print the profile names, one per line.")
    var profiles = false

    @Flag(help: "Print the image names, one per line.")
    var images = false

    @Flag(help: "List every variable the project uses: its value and where it came from (shell, which .env file and line, a default in the compose file, or unset), and where each service's container environment comes from.")
    var environment = false

    @Flag(name: .customLong("no-interpolate"), help: "Don't interpolate environment variables.")
    var noInterpolate = false

    @Flag(name: .customLong("no-normalize"), help: "Don't normalize the compose model.")
    var noNormalize = false

    @Flag(name: .customLong("no-path-resolution"), help: "Don't resolve file paths.")
    var noPathResolution = false

    @Flag(name: .customLong("no-consistency"), help: "Don't check model consistency (undefined networks, volumes, services…).")
    var noConsistency = false

    @Flag(name: .customLong("resolve-image-digests"), help: "Pin image tags to digests, asking the registries.")
    var resolveImageDigests = false

    @Option(name: .customLong("hash"), help: ArgumentHelp("Print the service config hash (docker compose's com.docker.compose.config-hash), one per line; * for all, or a comma-separated list.", valueName: "SERVICES"))
    var hash: String?

    @Option(name: [.short, .long], help: ArgumentHelp("Save to a file instead of printing.", valueName: "FILE"))
    var output: String?

    @Argument(help: "Restrict the output to these services (and what they depend on).")
    var serviceNames: [String] = []

    enum OutputKind: String, ExpressibleByArgument, CaseIterable {
        case yaml, json
    }

    func run() throws {
        let context = ProjectContext(global)
        var options = context.options(services: serviceNames)
        options.interpolate = !noInterpolate
        options.normalize = !noNormalize
        options.resolvePaths = !noPathResolution
        options.checkConsistency = !noConsistency && !noInterpolate
        options.discardEnvFiles = true

        if resolveImageDigests && noInterpolate {
            Terminal.writeError("error: --resolve-image-digests cannot be combined with --no-interpolate\n")
            throw ExitCode.failure
        }

        if noInterpolate {
            let (model, loaded) = try context.loadModel(options)
            try emit(render(GoValue(model)))
            _ = loaded
            return
        }

        let loaded = try context.load(options)
        var project = loaded.project
        if resolveImageDigests { try pinDigests(&project, environment: context.environment) }
        if quiet { return }

        var text = ""
        if let hash {
            let names = hash == "*" ? project.serviceNames : hash.split(separator: ",").map(String.init)
            if let unknown = names.first(where: { project.services[$0] == nil }) {
                Terminal.writeError("no such service: \(unknown)\n")
                throw ExitCode.failure
            }
            for name in Set(names).sorted() { text += "\(name) \(ContainerPlanner.configHash(project.services[name]!))\n" }
        } else if services {
            for name in serviceOrder(project) { text += name + "\n" }
        } else if volumes {
            for name in project.volumes.keys.sorted() { text += name + "\n" }
        } else if networks {
            for name in project.networks.keys.sorted() { text += name + "\n" }
        } else if profiles {
            var all = Set<String>()
            for s in project.services.values { all.formUnion(s.profiles) }
            for s in project.disabledServices.values { all.formUnion(s.profiles) }
            for name in all.sorted() { text += name + "\n" }
        } else if images {
            for name in serviceOrder(project) {
                let s = project.services[name]!
                text += (s.image.isEmpty ? "\(project.name)-\(name)" : s.image) + "\n"
            }
        } else if environment {
            text = EnvironmentReport(loaded: loaded, workingDirectory: context.workingDirectory).render()
        } else {
            // docker compose writes every `$` of the model as `$$`, so that the output reads back
            // to the same project.
            text = render(project.goValue(format == .json ? .json : .yaml)).replacingAll("$", with: "$$")
        }
        try emit(text)
    }

    /// `--resolve-image-digests`: each service's image as `name:tag@sha256:…`, the digest asked of its
    /// registry (as docker compose does; images already pinned stay as they are).
    func pinDigests(_ project: inout Project, environment: [String: String]) throws {
        do {
            try ImageTransfer.pinDigests(&project, environment: environment)
        } catch {
            Terminal.writeError("error: \(error)\n")
            throw ExitCode.failure
        }
    }

    func render(_ value: GoValue) -> String {
        switch format {
        case .json: return JSONEmitter.emit(value)
        case .yaml: return YAMLEmitter.emit(value)
        }
    }

    func emit(_ text: String) throws {
        if let output {
            do {
                try Files.writeAtomically(output, text, mode: 0o644)
            } catch {
                Terminal.writeError("error: cannot write \(output): \(error)\n")
                throw ExitCode.failure
            }
        } else {
            Terminal.write(text)
        }
    }

    /// Dependencies before dependents, otherwise by name.
    func serviceOrder(_ project: Project) -> [String] {
        guard let graph = try? ServiceGraph(project) else { return project.serviceNames }
        return graph.startLevels.flatMap { $0 }
    }
}

extension String {
    func replacingAll(_ target: String, with replacement: String) -> String {
        guard contains(target) else { return self }
        return replacing(target, with: replacement)
    }
}
