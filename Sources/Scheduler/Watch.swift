#if canImport(Glibc)
import Glibc
#endif
import ComposeModel
import Engine

/// One `develop.watch` rule of a service, with what decides whether a changed path is its concern:
/// under `path`, not ignored by the rule's `ignore` patterns (relative to `path`), by the service's
/// build context's `.dockerignore` (relative to the context) or as an editor's scratch file, and
/// matching `include` when it has one.
public struct WatchRule: Sendable {
    public var service: String
    public var path: String
    public var action: String
    public var target: String
    public var ignore: [BuildContext.IgnorePattern]
    public var include: [BuildContext.IgnorePattern]
    public var contextIgnore: (directory: String, patterns: [BuildContext.IgnorePattern])?
    public var initialSync: Bool
    public var exec: ServiceHook?

    public var syncs: Bool { action.hasPrefix("sync") }

    /// Editors' swap, backup and lock files (vim, emacs, JetBrains), as docker compose leaves them out.
    static let ephemeral = ["*.swp", "*.swx", "*~", "4913", ".#*", "#*#", "*___jb_tmp___", "*___jb_old___"]

    /// `changed` relative to the rule's path ("" for the path itself), or nil when the rule does not
    /// care about it.
    public func relative(_ changed: String) -> String? {
        let rel: String
        if changed == path { rel = "" } else if changed.hasPrefix(path.hasSuffix("/") ? path : path + "/") {
            rel = String(changed.dropFirst(path.hasSuffix("/") ? path.count : path.count + 1))
        } else { return nil }
        let name = changed.split(separator: "/").last.map(String.init) ?? ""
        if Self.ephemeral.contains(where: { fnmatch($0, name, 0) == 0 }) { return nil }
        if !rel.isEmpty && BuildContext.isIgnored(rel, by: ignore) { return nil }
        if !include.isEmpty && !rel.isEmpty && !BuildContext.isIgnored(rel, by: include) { return nil }
        if let (directory, patterns) = contextIgnore, changed.hasPrefix(directory + "/"),
           BuildContext.isIgnored(String(changed.dropFirst(directory.count + 1)), by: patterns) { return nil }
        return rel
    }

    /// Where `relative` goes in the container.
    public func destination(_ relative: String) -> String {
        relative.isEmpty ? target : (target.hasSuffix("/") ? target : target + "/") + relative
    }

    /// The rules of the selected services, in their order; a service without any is skipped.
    public static func rules(_ project: Project, services: [String]) -> [WatchRule] {
        var rules: [WatchRule] = []
        for name in services {
            guard let service = project.services[name], let develop = service.develop else { continue }
            var contextIgnore: (String, [BuildContext.IgnorePattern])?
            if let build = service.build, !build.context.isEmpty {
                let dockerfile = build.dockerfile.isEmpty ? "Dockerfile" : build.dockerfile
                let file = build.dockerfileInline.isEmpty ? (dockerfile.hasPrefix("/") ? dockerfile : build.context + "/" + dockerfile) : nil
                contextIgnore = (build.context, BuildContext.ignorePatterns(directory: build.context, dockerfile: file))
            }
            for t in develop.watch {
                rules.append(WatchRule(service: name, path: t.path, action: t.action, target: t.target,
                                       ignore: BuildContext.parseIgnore(t.ignore.joined(separator: "\n")),
                                       include: BuildContext.parseIgnore(t.include.joined(separator: "\n")),
                                       contextIgnore: contextIgnore, initialSync: t.initialSync, exec: t.exec))
            }
        }
        return rules
    }
}

/// `watch` and `up --watch`: the selected services' `develop.watch` rules applied as their files
/// change. Changes arrive from inotify and are gathered while more keep coming (a quiet period of
/// 10 ms, at most 200 ms), then each service gets one action per batch: a rebuild (build, then
/// recreate) when a rebuild rule matched, otherwise the changed files synced into each of its
/// running containers (deleted ones deleted), then a restart, then the `sync+exec` commands.
public final class ProjectWatch {
    public struct Options: Sendable {
        /// Remove the image a rebuild replaced when nothing names or uses it any more.
        public var prune = false
        /// No build output.
        public var quiet = false
        public init() {}
    }

    let orchestrator: Orchestrator
    public let rules: [WatchRule]
    let options: Options
    let report: (String) -> Void
    static let quietPeriod = 0.01, longestBatch = 0.2

    /// Fails when no selected service has a rule, or a rule's path does not exist (a sync rule without
    /// a target the project's loading refused already, at its file and line).
    public init(_ orchestrator: Orchestrator, services: [String], options: Options, report: @escaping (String) -> Void) throws(SwcomposeError) {
        self.orchestrator = orchestrator
        self.options = options
        self.report = report
        let selected = services.isEmpty ? orchestrator.project.services.keys.sorted() : services
        rules = WatchRule.rules(orchestrator.project, services: selected)
        if rules.isEmpty {
            throw SwcomposeError(.invalidArgument, "none of the selected services is configured for watch, consider setting a 'develop' section")
        }
        for rule in rules {
            if !Sys.exists(rule.path) {
                throw SwcomposeError(.notFound, "service \"\(rule.service)\": the watch path \(rule.path) does not exist",
                                     hint: "create it, or correct develop.watch's path")
            }
        }
    }

    /// Watches until `stop` says so (checked at least twice a second, and after each batch).
    public func run(stop: () -> Bool) throws(SwcomposeError) {
        let watch: TreeWatch
        do {
            let rules = self.rules
            // A directory every rule covering it ignores is not descended into.
            watch = try TreeWatch(skip: { path in
                let covering = rules.filter { path == $0.path || path.hasPrefix($0.path + "/") }
                return !covering.isEmpty && covering.allSatisfy { $0.relative(path) == nil }
            })
            for path in Set(rules.map(\.path)).sorted() { try watch.add(path) }
        } catch {
            throw error.wrapped("cannot watch the project's files")
        }
        for rule in rules where rule.initialSync && rule.syncs {
            sync(rule.service, [(rule, rule.path)])
        }
        report("Watch enabled")
        var warned = 0
        while !stop() {
            if watch.unwatched.count > warned, let error = watch.unwatched.first {
                warned = watch.unwatched.count
                report("warning: \(warned) directories are not watched (\(error)\(error.code == ENOSPC ? "; raise fs.inotify.max_user_watches, or ignore them in develop.watch" : "")): changes in them are not seen")
            }
            var (paths, overflow) = watch.next(timeout: 0.5)
            guard !paths.isEmpty || overflow else { continue }
            let first = MonotonicClock.now()
            while MonotonicClock.now() - first < Self.longestBatch {
                let more = watch.next(timeout: Self.quietPeriod)
                if more.paths.isEmpty && !more.overflow { break }
                paths += more.paths
                overflow = overflow || more.overflow
            }
            handle(Set(paths), everything: overflow)
        }
    }

    /// One batch of changed paths (`everything`: the kernel dropped events — every rule's whole path).
    public func handle(_ changed: Set<String>, everything: Bool = false) {
        for service in Set(rules.map(\.service)).sorted() {
            let mine = rules.filter { $0.service == service }
            var syncs: [(WatchRule, String)] = []
            var restart = false, rebuild = false
            var execs: [WatchRule] = []
            var count = Set<String>()
            for rule in mine {
                let paths = everything ? [rule.path] : changed.filter { rule.relative($0) != nil }.sorted()
                guard !paths.isEmpty else { continue }
                count.formUnion(paths)
                switch rule.action {
                case "rebuild": rebuild = true
                case "restart": restart = true
                default:
                    syncs += paths.map { (rule, $0) }
                    if rule.action == "sync+restart" { restart = true }
                    if rule.action == "sync+exec" { execs.append(rule) }
                }
            }
            if rebuild {
                self.rebuild(service)
                continue
            }
            if !syncs.isEmpty {
                report("Syncing service \"\(service)\" after \(count.count) changes were detected")
                sync(service, syncs)
            }
            if restart { self.restart(service) }
            for rule in execs { exec(rule) }
        }
    }

    /// The service's running containers (their records carry the state just read).
    func running(_ service: String) -> [ContainerRecord] {
        orchestrator.containers(services: [service]).filter { $0.state.isAlive }
    }

    /// Each changed path into each running container: files and directories (what the rule does not
    /// ignore in them) written over what is there, paths gone on the host removed.
    func sync(_ service: String, _ changes: [(WatchRule, String)]) {
        for record in running(service) {
            let tree: ContainerTree
            do throws(SystemError) { tree = try ContainerTree.open(record, runtime: orchestrator.runtime) } catch {
                report("cannot sync into \(record.name): \(error)")
                continue
            }
            for (rule, path) in changes {
                guard let relative = rule.relative(path) else { continue }
                do throws(SystemError) { try place(path, relative, rule, tree) } catch {
                    report("cannot sync \(path) into \(record.name): \(error)")
                }
            }
        }
    }

    func place(_ path: String, _ relative: String, _ rule: WatchRule, _ tree: ContainerTree) throws(SystemError) {
        let destination = rule.destination(relative)
        // A directory without what the rule ignores in it; a file, or a path gone (removed), as it is.
        let isDirectory = (try? Sys.fileStatus(path)).map { $0.st_mode & S_IFMT == S_IFDIR } ?? false
        try ContainerCopy.place(path, in: tree, at: destination, options: .init(), recursive: !isDirectory)
        guard isDirectory else { return }
        for name in try Sys.list(path).sorted() {
            let child = path + "/" + name
            if let childRelative = rule.relative(child) { try place(child, childRelative, rule, tree) }
        }
    }

    func restart(_ service: String) {
        report("Restarting service \"\(service)\" after changes were detected")
        let o = orchestrator
        do throws(SwcomposeError) {
            try o.exclusively {  () throws(SwcomposeError) in
                try o.stop(o.containers(services: [service]), timeout: nil)
                try o.start(services: [service])
            }
        } catch {
            report("cannot restart service \"\(service)\": \(error.description)")
        }
    }

    func exec(_ rule: WatchRule) {
        guard let hook = rule.exec, let command = hook.command, !command.isEmpty else { return }
        for record in running(rule.service) {
            let request = orchestrator.hookRequest(hook, in: record)
            do {
                let null = try Sys.open("/dev/null", O_RDONLY)
                defer { Sys.close(null) }
                let code = try ContainerExec.run(request, runtime: orchestrator.runtime, stdio: (null, 1, 2))
                if code != 0 { report("service \"\(rule.service)\": \(command.joined(separator: " ")) exited with code \(code)") }
            } catch {
                report("cannot run \(command.joined(separator: " ")) in \(record.name): \(error)")
            }
        }
    }

    /// Builds the service's image again (only the steps whose inputs changed run), then recreates
    /// its containers on it, its dependencies untouched.
    func rebuild(_ service: String) {
        report("Rebuilding service(s) [\"\(service)\"] after changes were detected...")
        let o = orchestrator
        let before = o.containers(services: [service]).first.map(\.spec.image.id)
        do throws(SwcomposeError) {
            try o.exclusively { () throws(SwcomposeError) in
                var build = Orchestrator.BuildOptions()
                build.progress = options.quiet ? .quiet : .auto
                try o.buildServices([service], options: build)
                report("service(s) [\"\(service)\"] successfully built")
                var up = Orchestrator.UpOptions()
                up.services = [service]
                up.noDeps = true
                try o.up(up)
            }
        } catch {
            report("cannot rebuild service \"\(service)\": \(error.description)")
            return
        }
        if options.prune, let before, before != o.containers(services: [service]).first?.spec.image.id {
            o.pruneIfUnused(image: before)
        }
    }
}

extension Orchestrator {
    /// Deletes an image nothing names and no container uses (a rebuild's predecessor).
    func pruneIfUnused(image id: String) {
        guard let record = try? images.resolve(id), record.references.isEmpty else { return }
        let inUse = ContainerUsage.imagesInUse(root: runtime.root)
        guard !inUse.contains(record.id.description) else { return }
        _ = try? images.remove(record.id.description, force: false, usedBy: { inUse.contains($0.description) ? ["in use"] : [] })
    }
}
