#if canImport(Glibc)
import Glibc
#endif
import ComposeModel
import Diagnostics
import Engine
import Registry
import Synchronization

/// Services' `build:` sections as builds of the Engine's builder: `build`, and `up`/`create`/`run`
/// building what is missing (or everything with `--build`).
extension Orchestrator {
    public struct BuildOptions: Sendable {
        public var services: [String] = []
        public var noCache = false
        /// `--pull`: fetch FROM images even when the store has them.
        public var pull = false
        /// `--build-arg K=V` over each service's `args`.
        public var args: [String: String] = [:]
        public var progress: BuildProgress = .auto
        public var withDependencies = false
        /// Say why each step that is not cached runs.
        public var explain = false
        /// Only images whose inputs changed print anything (`up` checking built images).
        public var quietUntilChanged = false

        public init() {}
    }

    /// The image a service runs: `image:`, else `<project>-<service>` (as docker compose names builds).
    public func imageName(for service: ServiceConfig) -> String {
        service.image.isEmpty ? "\(project.name)-\(service.name)" : service.image
    }

    /// A service, also one the selection (or a profile) left out: `service:NAME` contexts still name it.
    func anyService(_ name: String) -> ServiceConfig? {
        project.services[name] ?? project.disabledServices[name]
    }

    /// The build args: `args` (a bare name takes its value from the environment), `--build-arg` over them.
    func buildArguments(_ b: BuildConfig, options: BuildOptions) -> [String: String] {
        var args: [String: String] = [:]
        for (k, v) in b.args {
            if let v { args[k] = v } else if let env = project.environment[k] { args[k] = env }
        }
        for (k, v) in options.args { args[k] = v }
        return args
    }

    /// `build --print`: the builds as docker compose hands them to bake (`docker buildx bake --print`
    /// reads it): a target per service with a build section, the selected ones in the default group.
    public func buildPlan(_ options: BuildOptions) throws(SwcomposeError) -> JSONValue {
        try checkServices(options.services)
        let names = options.services.isEmpty ? project.services.keys.sorted()
            : options.withDependencies ? selection(options.services, withDependencies: true) : options.services
        func target(_ service: String) -> String { service.replacingOccurrences(of: ".", with: "_") }
        func strings(_ list: [String]) -> JSONValue { .array(list.map(JSONValue.string)) }
        func map(_ m: [String: String]) -> JSONValue { .object(m.mapValues(JSONValue.string)) }
        var targets: [String: JSONValue] = [:]
        for (name, service) in project.services {
            guard let b = service.build else { continue }
            var t: [String: JSONValue] = [:]
            var context = b.context.isEmpty ? project.workingDirectory : b.context
            if !context.hasPrefix("/") && !context.contains("://") { context = project.workingDirectory + "/" + context }
            t["context"] = .string(context)
            if !b.dockerfileInline.isEmpty {
                t["dockerfile-inline"] = .string(b.dockerfileInline.replacingOccurrences(of: "${", with: "$${"))
            } else if !b.dockerfile.isEmpty {
                t["dockerfile"] = .string(b.dockerfile.hasPrefix("/") ? b.dockerfile : context + "/" + b.dockerfile)
            }
            var contexts: [String: String] = [:]
            for (k, v) in b.additionalContexts { contexts[k] = v.hasPrefix("service:") ? "target:" + target(String(v.dropFirst(8))) : v }
            if !contexts.isEmpty { t["contexts"] = map(contexts) }
            let args = buildArguments(b, options: options)
            if !args.isEmpty { t["args"] = map(args) }
            if !b.labels.isEmpty { t["labels"] = map(b.labels) }
            t["tags"] = strings(b.tags + [imageName(for: service)])
            if !b.cacheFrom.isEmpty { t["cache-from"] = strings(b.cacheFrom) }
            if !b.target.isEmpty { t["target"] = .string(b.target) }
            let secrets = b.secrets.compactMap { ref -> String? in
                guard let def = project.secrets[ref.source] else { return nil }
                let id = ref.target.isEmpty ? ref.source : ref.target
                if !def.environment.isEmpty { return "id=\(id),type=env,env=\(def.environment)" }
                return def.file.isEmpty ? nil : "id=\(id),type=file,src=\(def.file)"
            }
            if !secrets.isEmpty { t["secret"] = strings(secrets) }
            if !b.ssh.isEmpty { t["ssh"] = strings(b.ssh.map { "\($0.id)=\($0.path)" }) }
            if !b.platforms.isEmpty { t["platforms"] = strings(b.platforms) }
            if options.pull { t["pull"] = .bool(true) }
            if options.noCache || b.noCache { t["no-cache"] = .bool(true) }
            if !b.network.isEmpty { t["network"] = .string(b.network) }
            if b.shmSize > 0 { t["shm-size"] = .number(Double(b.shmSize)) }
            if !b.ulimits.isEmpty {
                t["ulimits"] = strings(b.ulimits.sorted { $0.key < $1.key }.map { k, l in l.single > 0 ? "\(k)=\(l.single)" : "\(k)=\(l.soft):\(l.hard)" })
            }
            let entitlements = b.entitlements + (b.privileged && !b.entitlements.contains("security.insecure") ? ["security.insecure"] : [])
            if !entitlements.isEmpty { t["entitlements"] = strings(entitlements) }
            if !b.extraHosts.isEmpty { t["extra-hosts"] = map(b.extraHosts.mapValues { $0.joined(separator: ",") }) }
            t["output"] = strings(["type=docker,load=true,push=false"])
            targets[target(name)] = .object(t)
        }
        let group = names.filter { project.services[$0]?.build != nil }.map(target)
        return .object(["group": .object(["default": .object(["targets": strings(group)])]), "target": .object(targets)])
    }

    /// The build a service's `build:` section asks for.
    public func buildRequest(for service: ServiceConfig, options: BuildOptions) throws(SwcomposeError) -> BuildRequest {
        guard let b = service.build else {
            throw SwcomposeError(.invalidArgument, "service \"\(service.name)\" has no build section", at: service.location)
        }
        let location = service.locations["build"] ?? service.location
        var context = b.context.isEmpty ? project.workingDirectory : b.context
        if let git = GitContext(context) {
            context = try git.checkout(into: runtime.root.path + "/build-tmp", service: service.name, environment: processEnvironment, at: location)
        } else if context.contains("://") {
            throw SwcomposeError(.unsupported, "service \"\(service.name)\": a build context from a URL that is not a git repository (\(b.context)) is not supported: download it and point context at the directory", at: location)
        } else if !context.hasPrefix("/") {
            context = project.workingDirectory + "/" + context
        }
        for p in b.platforms where p != Platform.host.description && p != "linux/" + Platform.host.architecture {
            throw SwcomposeError(.unsupported, "service \"\(service.name)\": platform \(p) cannot be built on this \(Platform.host) host (swcompose builds for the host's platform only)", at: location)
        }
        var r = BuildRequest(context: context)
        if !b.dockerfileInline.isEmpty { r.dockerfileInline = b.dockerfileInline } else if !b.dockerfile.isEmpty { r.dockerfile = b.dockerfile }
        r.args = buildArguments(b, options: options)
        for (name, value) in b.additionalContexts {
            if value.hasPrefix("docker-image://") {
                r.namedContexts[name] = .image(String(value.dropFirst("docker-image://".count)))
            } else if value.hasPrefix("service:") {
                let other = String(value.dropFirst("service:".count))
                // A service left out of the selection (`run app`) still names its image.
                guard let s = anyService(other), s.build != nil else {
                    throw SwcomposeError(.invalidArgument, "service \"\(service.name)\": additional context \(name) names service \(other), which has no build section", at: location)
                }
                r.namedContexts[name] = .image(imageName(for: s))
            } else if let git = GitContext(value) {
                r.namedContexts[name] = .directory(try git.checkout(into: runtime.root.path + "/build-tmp", service: service.name,
                                                                    environment: processEnvironment, at: location))
            } else if value.contains("://") || value.hasPrefix("oci-layout:") {
                throw SwcomposeError(.unsupported, "service \"\(service.name)\": additional context \(name) (\(value)) is not supported: only directories, git repositories, docker-image:// and service: are", at: location)
            } else {
                let path = value.hasPrefix("/") ? value : context + "/" + value
                guard Sys.isDirectory(path) else {
                    throw SwcomposeError(.notFound, "service \"\(service.name)\": additional context \(name) is not a directory: \(path)", at: location)
                }
                r.namedContexts[name] = .directory(path)
            }
        }
        for e in b.entitlements where !["network.host", "security.insecure"].contains(e) {
            throw SwcomposeError(.unsupported, "service \"\(service.name)\": build entitlement \(e) is not supported (network.host and security.insecure are)", at: location)
        }
        r.allowInsecure = b.privileged || b.entitlements.contains("security.insecure")
        // As buildx: a build whose network is the host's has the entitlement for it.
        r.allowHostNetwork = b.entitlements.contains("network.host") || b.network == "host"
        r.pull = options.pull || b.pull
        r.noCacheStages = Set(b.noCacheFilter.map { $0.lowercased() })
        for (id, path) in b.ssh {
            r.ssh[id] = path.isEmpty ? (processEnvironment["SSH_AUTH_SOCK"] ?? "") : path
        }
        do { r.rlimits = try ContainerPlanner.rlimits(b.ulimits, at: location) } catch {
            throw SwcomposeError(.invalidArgument, "service \"\(service.name)\": build: \(error.message)", at: error.location)
        }
        r.target = b.target.isEmpty ? nil : b.target
        r.labels = b.labels
        r.noCache = options.noCache || b.noCache
        r.progress = options.progress
        r.explain = options.explain
        r.quietUntilChanged = options.quietUntilChanged
        r.label = service.name
        if !b.network.isEmpty { r.network = b.network == "bridge" ? "default" : b.network }
        if b.shmSize > 0 { r.shmSize = b.shmSize }
        for (name, addresses) in b.extraHosts.sorted(by: { $0.key < $1.key }) {
            for a in addresses { r.extraHosts.append(HostEntry(name: name, address: a)) }
        }
        for s in b.secrets {
            guard let secret = project.secrets[s.source] else {
                throw SwcomposeError(.notFound, "service \"\(service.name)\" refers to undefined build secret \(s.source)", at: s.location ?? location)
            }
            var file = secret.file
            if file.isEmpty && !secret.environment.isEmpty, let value = project.environment[secret.environment] {
                // An environment secret: written where only this build reads it.
                file = runtime.root.path + "/build-tmp/secret-\(Sys.pid)-\(s.source)"
                try? Sys.mkdirAll(runtime.root.path + "/build-tmp", 0o700)
                try? Files.writeAtomically(file, value, mode: 0o600, durable: false)
            }
            r.secrets[s.target.isEmpty ? s.source : s.target] = file
        }
        var tags: [ImageReference] = []
        for t in [imageName(for: service)] + b.tags {
            do { tags.append(try ImageReference(parsing: t)) } catch {
                throw SwcomposeError(.invalidArgument, "service \"\(service.name)\": invalid image name \(t): \(error)", at: location)
            }
        }
        r.tags = tags
        return r
    }

    /// `swcompose build`: the named services (all that have a build section when none are named).
    public func build(_ options: BuildOptions) throws(SwcomposeError) {
        try checkServices(options.services)
        let names = options.services.isEmpty ? project.services.keys.sorted()
            : options.withDependencies ? selection(options.services, withDependencies: true) : options.services
        let buildable = names.filter { project.services[$0]?.build != nil }
        try buildServices(buildable, options: options)
    }

    /// Before `up`/`create`/`run`: builds the images of services that have a build section and whose
    /// image is missing (`pull_policy: build` or `force`: always); `never` builds none. Beyond docker
    /// compose (docker/compose#1487): an image that is there but stale — its Dockerfile, a build arg or
    /// a file a step reads changed since it was built — is rebuilt too, saying why
    /// (`Rebuild app (changed: src/main.py)`); a current one costs a look at the cache and says nothing.
    public func buildForUp(services names: [String], force: Bool, never: Bool, quiet: Bool = false) throws(SwcomposeError) {
        guard !never else { return }
        var wanted: [String] = []
        var present: [String] = []
        for name in names {
            guard let service = project.services[name], service.build != nil else { continue }
            let exists = (try? images.resolve(imageName(for: service))) != nil
            if force || service.pullPolicy == "build" || !exists { wanted.append(name) } else { present.append(name) }
        }
        var options = BuildOptions()
        options.progress = quiet ? .quiet : .auto
        try buildServices(wanted, options: options)
        // Services with an image built by someone else (pulled, loaded) have no record of its inputs:
        // the check builds them from the cache only when it knows them.
        options.quietUntilChanged = true
        try buildServices(present, options: options)
    }

    /// The services to build, each after the services its `additional_contexts` name (`service:NAME`).
    func buildOrder(_ names: [String]) -> [String] {
        var ordered: [String] = []
        var visiting: Set<String> = []
        func visit(_ n: String) {
            guard !ordered.contains(n), !visiting.contains(n), let b = anyService(n)?.build else { return }
            visiting.insert(n)
            for value in b.additionalContexts.values.sorted() where value.hasPrefix("service:") { visit(String(value.dropFirst(8))) }
            ordered.append(n)
        }
        for n in names { visit(n) }
        return ordered
    }

    /// Builds the services' images, independent ones at once (each after the builds its
    /// `service:` contexts name); a step several of them share (a common base stage) runs once. A
    /// failure stops the others at their next step.
    func buildServices(_ requested: [String], options: BuildOptions) throws(SwcomposeError) {
        guard !requested.isEmpty else { return }
        let names = buildOrder(requested)
        if dryRun {
            for n in names { if let s = anyService(n) { progress.event("Image", imageName(for: s), "Building") } }
            return
        }
        // Every request first: a bad build section fails before anything is built.
        struct Planned {
            var service: String
            var image: String
            var request: BuildRequest
            var after: [Int]
            var cacheFrom: [BuildCacheEntry] = []
            var cacheTo: [BuildCacheEntry] = []
        }
        var planned: [Planned] = []
        var builtBy: [String: Int] = [:]
        for name in names {
            guard let service = anyService(name) else { continue }
            let image = imageName(for: service)
            // Services naming the same image build it once.
            if let first = builtBy[image] {
                progress.event("Service", name, "Skipped - image \(image) is built by \(planned[first].service)")
                continue
            }
            let request = try buildRequest(for: service, options: options)
            let after = (service.build?.additionalContexts.values.sorted() ?? []).compactMap { value -> Int? in
                guard value.hasPrefix("service:"), let other = anyService(String(value.dropFirst(8))) else { return nil }
                return builtBy[imageName(for: other)]
            }
            builtBy[image] = planned.count
            var plan = Planned(service: name, image: image, request: request, after: after)
            if let b = service.build {
                plan.cacheFrom = try cacheEntries(b, service: service, export: false)
                plan.cacheTo = try cacheEntries(b, service: service, export: true)
            }
            planned.append(plan)
        }
        defer { GitContext.removeCheckouts(in: runtime.root.path + "/build-tmp") }
        let store = images
        let environment = processEnvironment
        let reporter = SerializedReporter(progress, quiet: false)
        for plan in planned where !plan.cacheFrom.isEmpty && !plan.request.noCache {
            importCaches(plan.cacheFrom, service: plan.service, reporter: reporter)
        }
        let builder = Builder(runtime: runtime, images: store, base: { reference, pull in
            try Self.baseImage(reference, store: store, pull: pull, environment: environment)
        }, output: { line in reporter.line(line) }, fetch: { url, path in try Self.download(url, to: path, environment: environment) })
        let exportFailures = Mutex<[SwcomposeError]>([])
        defer { builder.finish() }
        let announce = options.progress != .quiet && !options.quietUntilChanged
        var outcomes: [Int: Result<ImageRecord, BuildError>] = [:]
        while outcomes.count < planned.count {
            let ready = planned.indices.filter { i in outcomes[i] == nil && planned[i].after.allSatisfy { outcomes[$0] != nil } }
            let wave = ready.map { (planned[$0], builder.sibling()) }
            let results = Mutex<[Int: Result<ImageRecord, BuildError>]>([:])
            Threads.concurrently(ready.count) { n in
                let (build, b) = wave[n]
                if announce { reporter.line("[+] Building \(build.service)") }
                let started = MonotonicClock.now()
                let outcome: Result<ImageRecord, BuildError>
                do throws(BuildError) { outcome = .success(try b.build(build.request)) } catch {
                    outcome = .failure(error)
                    if case .interrupted = error {} else { b.cancel() }
                }
                if case .success = outcome, !build.cacheTo.isEmpty {
                    do throws(SwcomposeError) { try self.exportCaches(build.cacheTo, builder: b, service: build.service, reporter: reporter) } catch {
                        exportFailures.withLock { $0.append(error) }
                    }
                }
                if case .success = outcome, options.progress != .quiet, !options.quietUntilChanged || b.ranSteps {
                    reporter.event("Image", build.image, String(format: "Built (%.1fs)", MonotonicClock.now() - started))
                }
                results.withLock { $0[n] = outcome }
            }
            for (n, i) in ready.enumerated() { outcomes[i] = results.withLock { $0[n]! } }
            // Later builds wait on these: none starts after a failure.
            if ready.contains(where: { if case .failure = outcomes[$0]! { return true } else { return false } }) { break }
        }
        // The first real failure speaks (the builds it cancelled say only that they were interrupted).
        var interrupted = false
        for i in planned.indices {
            guard case .failure(let error) = outcomes[i] else { continue }
            if case .interrupted = error { interrupted = true; continue }
            throw Self.swcomposeError(error, service: planned[i].service)
        }
        if interrupted { throw Self.swcomposeError(.interrupted, service: nil) }
        if let failure = exportFailures.withLock({ $0.first }) { throw failure }
        if options.progress == .quiet && !options.quietUntilChanged {
            for i in planned.indices {
                if case .success(let record) = outcomes[i] { Array((record.id.description + "\n").utf8).withUnsafeBytes { try? Sys.write(1, $0) } }
            }
        }
    }

    /// A build failure as a located error (all of a Dockerfile's problems, with its text for carets).
    public static func swcomposeError(_ error: BuildError, service: String?) -> SwcomposeError {
        let diagnostics = error.diagnostics
        let first = diagnostics.first
        if case .interrupted = error { return SwcomposeError(.interrupted, error.description) }
        let prefix = service.map { "failed to build service \"\($0)\": " } ?? ""
        // A located problem speaks for itself (Dockerfile:2:1: …); the service is named otherwise.
        let message = first?.location != nil ? first!.message : prefix + (first?.message ?? error.description)
        var e = SwcomposeError(.failed, message, at: first?.location, notes: first?.notes ?? [])
        e.related = Array(diagnostics.dropFirst())
        if case .dockerfile(_, let source, let file) = error { e.sources[file] = source }
        for d in diagnostics {
            if let file = d.location?.file, e.sources[file] == nil, let text = try? Files.readText(file) { e.sources[file] = text }
        }
        return e
    }

    /// `ADD https://…`, through the registry client's HTTP stack (proxies, TLS settings).
    public static func download(_ url: String, to path: String, environment: [String: String]) throws -> (digest: Digest, size: Int64, modified: Int64?) {
        try runBlocking {
            try await RegistryClient.with(environment: environment) { client in try await client.download(url, to: path) }
        }
    }

    /// A FROM image: from the store, or pulled from its registry when missing (or always, with `pull`).
    public static func baseImage(_ reference: String, store: ImageStore, pull: Bool, environment: [String: String]) throws -> ImageRecord {
        if !pull, let found = try? store.resolve(reference) { return found }
        let ref = try ImageReference(parsing: reference)
        do {
            _ = try runBlocking {
                try await RegistryClient.with(environment: environment) { client in
                    try await ImagePuller(store: store, client: client).pull(ref, platform: nil) { _, _ in }
                }
            }
        } catch {
            if let found = try? store.resolve(reference) { return found }
            throw SwcomposeError(.notFound, "image \(reference) is not in the local image store and could not be pulled", cause: error)
        }
        return try store.resolve(reference)
    }
}
