import ArgumentParser
import ComposeModel
import Diagnostics
import Engine
import Scheduler

/// `--build` / `--no-build` of `create` and `run` (`up` has its own, with docker compose's help).
struct BuildFlags: ParsableArguments {
    @Flag(name: .customLong("build"), help: "Build images before starting containers.")
    var build = false

    @Flag(name: .customLong("no-build"), help: "Don't build an image, even if it's missing.")
    var noBuild = false
}

extension ProgressMode {
    var buildProgress: BuildProgress {
        switch self {
        case .plain: return .plain
        case .quiet: return .quiet
        default: return .auto
        }
    }
}

/// `key=value` pairs of `--build-arg`; a bare key takes the value from the environment, as docker does.
func buildArguments(_ list: [String]) -> [String: String] {
    var args: [String: String] = [:]
    for a in list {
        if let eq = a.firstIndex(of: "=") {
            args[String(a[..<eq])] = String(a[a.index(after: eq)...])
        } else if let value = Terminal.environment[a] {
            args[a] = value
        }
    }
    return args
}

struct BuildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "build", abstract: "Build or rebuild services.")

    @ParentCommand var root: SWCompose

    @Option(name: .customLong("build-arg"), help: ArgumentHelp("Set build-time variables for services.", valueName: "KEY=VALUE"))
    var buildArgs: [String] = []

    @Flag(name: .customLong("no-cache"), help: "Do not use cache when building the image.")
    var noCache = false

    @Flag(name: .customLong("pull"), help: "Always attempt to pull a newer version of the image.")
    var pull = false

    @Flag(name: [.short, .long], help: "Don't print anything to STDOUT.")
    var quiet = false

    @Flag(name: .customLong("with-dependencies"), help: "Also build dependencies (transitively).")
    var withDependencies = false

    @Flag(name: .customLong("explain"), help: "Say for each step that is not cached why (which file, arg or instruction changed).")
    var explain = false

    @Flag(name: .customLong("push"), help: "Push service images once built.")
    var push = false

    @Flag(name: .customLong("print"), help: "Print the equivalent bake file (what would be built, and how) and build nothing.")
    var print = false

    @Argument(help: "Services to build (default: every service with a build section).")
    var services: [String] = []

    func run() throws {
        // The whole project: a service's additional_contexts may name another (service:NAME).
        let session = try ComposeSession.open(root.global, services: [], refusing: .builds)
        var options = Orchestrator.BuildOptions()
        options.services = services
        options.noCache = noCache
        options.pull = pull
        options.args = buildArguments(buildArgs)
        options.withDependencies = withDependencies
        options.explain = explain
        options.progress = quiet ? .quiet : root.global.progress.buildProgress
        let o = session.orchestrator
        try session.run { () throws(SwcomposeError) in
            if print {
                Terminal.write(String(decoding: try o.buildPlan(options).pretty(), as: UTF8.self) + "\n")
                return
            }
            try o.build(options)
            if push {
                var p = Orchestrator.PushOptions()
                p.services = services
                p.includeDependencies = withDependencies
                p.quiet = quiet
                try o.push(p)
            }
        }
    }
}

/// `swcompose image build`: a Dockerfile without a compose project, as `docker build`.
struct ImageBuild: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "build", abstract: "Build an image from a Dockerfile.")

    @Option(name: [.short, .customLong("tag")], help: ArgumentHelp("Name and optionally a tag (name:tag).", valueName: "TAG"))
    var tags: [String] = []

    @Option(name: [.short, .customLong("file")], help: ArgumentHelp("Name of the Dockerfile (default: CONTEXT/Dockerfile).", valueName: "FILE"))
    var file: String?

    @Option(name: .customLong("build-arg"), help: ArgumentHelp("Set build-time variables.", valueName: "KEY=VALUE"))
    var buildArgs: [String] = []

    @Option(name: .customLong("target"), help: "Set the target build stage to build.")
    var target: String?

    @Option(name: .customLong("label"), help: ArgumentHelp("Set metadata for an image.", valueName: "KEY=VALUE"))
    var labels: [String] = []

    @Option(name: .customLong("secret"), help: ArgumentHelp("Secret to expose to the build.", valueName: "id=ID,src=FILE"))
    var secrets: [String] = []

    @Option(name: .customLong("network"), help: "Networking mode for the RUN instructions (default, none, host).")
    var network: String = "default"

    @Option(name: .customLong("progress"), help: "Type of progress output (auto, plain, quiet).")
    var progress: String = "auto"

    @Flag(name: .customLong("no-cache"), help: "Do not use cache when building the image.")
    var noCache = false

    @Option(name: .customLong("allow"), help: ArgumentHelp("Allow an entitlement (security.insecure, network.host).", valueName: "ENTITLEMENT"))
    var allow: [String] = []

    @Flag(name: .customLong("pull"), help: "Always attempt to pull a newer version of the FROM images.")
    var pull = false

    @Flag(name: [.short, .long], help: "Suppress the build output and print the image ID on success.")
    var quiet = false

    @Flag(name: .customLong("explain"), help: "Say for each step that is not cached why (which file, arg or instruction changed).")
    var explain = false

    @Argument(help: "The build context (a directory).")
    var context: String

    func run() throws {
        let root = StateAccess.root()
        let store = ImageStore(root: root)
        let directory = context.hasPrefix("/") ? context : FileSystem.currentDirectory + "/" + context
        var request = BuildRequest(context: directory)
        if let file { request.dockerfile = file == "-" ? nil : (file.hasPrefix("/") ? file : FileSystem.currentDirectory + "/" + file) }
        if file == "-" { request.dockerfileInline = String(decoding: Terminal.readStandardInputBytes(), as: UTF8.self) }
        request.args = buildArguments(buildArgs)
        request.target = target
        request.noCache = noCache
        request.network = network
        request.explain = explain
        request.allowInsecure = allow.contains("security.insecure")
        request.allowHostNetwork = allow.contains("network.host") || network == "host"
        request.progress = quiet ? .quiet : progress == "plain" ? .plain : progress == "quiet" ? .quiet : .auto
        for l in labels {
            let parts = l.split(separator: "=", maxSplits: 1)
            request.labels[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
        }
        for s in secrets {
            var id: String?, src: String?
            for field in s.split(separator: ",") {
                let kv = field.split(separator: "=", maxSplits: 1).map(String.init)
                guard kv.count == 2 else { continue }
                if kv[0] == "id" { id = kv[1] } else if kv[0] == "src" || kv[0] == "source" { src = kv[1] }
            }
            guard let id else {
                Terminal.writeError("error: invalid --secret \(s): id=ID,src=FILE\n")
                throw ExitCode.failure
            }
            request.secrets[id] = src ?? Terminal.environment[id].map { _ in "" } ?? id
        }
        for t in tags {
            do { request.tags.append(try ImageReference(parsing: t)) } catch {
                Terminal.writeError("error: invalid tag \"\(t)\": \(error)\n")
                throw ExitCode.failure
            }
        }
        let environment = Terminal.environment
        let pullAlways = pull
        request.pull = pullAlways
        let builder = Builder(runtime: Runtime(root: root), images: store, base: { reference, pull in
            try Orchestrator.baseImage(reference, store: store, pull: pullAlways || pull, environment: environment)
        }, output: { Terminal.writeError($0 + "\n") }, fetch: { url, path in try Orchestrator.download(url, to: path, environment: environment) })
        defer { builder.finish() }
        do throws(BuildError) {
            let image = try builder.build(request)
            if quiet { print(image.id) }
        } catch {
            if case .interrupted = error {
                Terminal.writeError("\(error)\n")
                throw ExitCode(130)
            }
            let e = Orchestrator.swcomposeError(error, service: nil)
            if e.location != nil {
                ProjectContext(GlobalOptions.current).report(e.diagnostics, sources: e.sources)
            } else {
                Terminal.writeError("error: \(e)\n")
            }
            throw ExitCode.failure
        }
    }
}

/// `swcompose image history IMAGE`, as `docker history`: the history newest first, each layer's size.
struct ImageHistory: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "history", abstract: "Show the history of an image.")

    @Flag(name: .customLong("no-trunc"), help: "Don't truncate output.")
    var noTrunc = false

    @Flag(name: [.short, .long], help: "Only show image IDs.")
    var quiet = false

    @Argument(help: "The image.")
    var image: String

    func run() throws {
        let context = StoreContext()
        let record = try context.run { () throws(ImageStoreError) in try context.store.resolve(image) }
        let history = record.configuration.history ?? []
        let chains = LayerStore.chainIDs(record.configuration.rootfs.diffIDs)
        // Each history entry that is not an empty layer owns the next layer, in order.
        var layer = 0
        var rows: [(id: String, created: String, createdBy: String, size: Int64, comment: String)] = []
        for entry in history {
            var size: Int64 = 0
            if entry.emptyLayer != true, layer < chains.count {
                size = context.store.layers.layer(chains[layer])?.size ?? record.manifest.layers[layer].size
                layer += 1
            }
            let created = entry.created.flatMap(Timestamp.parse).map { Timestamp.ago($0) } ?? "N/A"
            rows.append(("<missing>", created, entry.createdBy ?? "", size, entry.comment ?? ""))
        }
        rows.reverse()
        if !rows.isEmpty { rows[0].id = noTrunc ? record.id.description : record.id.short }
        if quiet {
            for r in rows { print(r.id) }
            return
        }
        var table: [[String]] = [["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"]]
        for r in rows {
            var by = r.createdBy.replacingOccurrences(of: "\n", with: " ")
            if !noTrunc && by.count > 45 { by = String(by.prefix(44)) + "…" }
            table.append([r.id, r.created, by, ByteCount.human(r.size), r.comment])
        }
        Terminal.write(Table.render(table))
    }
}

struct BuilderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "builder", abstract: "Manage the build cache.", subcommands: [BuilderPrune.self])
}

/// `swcompose builder prune`, as `docker builder prune`.
struct BuilderPrune: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "prune", abstract: "Remove build cache.")

    @Flag(name: [.short, .long], help: "Remove all unused build cache, not just dangling ones (also the cache mounts).")
    var all = false

    @Flag(name: [.short, .long], help: "Do not prompt for confirmation.")
    var force = false

    func run() throws {
        let context = StoreContext()
        let reclaimed = try context.run { () throws(ImageStoreError) in
            try BuildCachePrune.prune(runtime: Runtime(root: context.root), images: context.store, all: all)
        }
        Terminal.write("Total:\t\(ByteCount.human(reclaimed))\n")
    }
}
