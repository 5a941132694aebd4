/// What to load and how: the equivalent of docker compose's global flags and environment.
public struct LoadOptions: Sendable {
    /// The process's working directory.
    public var workingDirectory: String
    /// `-f` files, in order (`-` for standard input).
    public var configFiles: [String] = []
    /// `--project-directory`.
    public var projectDirectory: String?
    /// `-p` / `--project-name`.
    public var projectName: String?
    /// `--env-file`, in order.
    public var envFiles: [String] = []
    /// `--profile`; when empty, `COMPOSE_PROFILES` applies.
    public var profiles: [String] = []
    /// The shell environment.
    public var environment: [String: String]
    /// Services named on the command line: they and their dependencies are enabled whatever their
    /// profiles, and the project is restricted to them.
    public var selectedServices: [String] = []
    public var interpolate = true
    public var resolvePaths = true
    public var normalize = true
    public var checkConsistency = true
    /// Resolve `env_file` into `environment` (and drop `env_file`), as `config` prints it.
    public var discardEnvFiles = false
    /// Reads standard input for `-f -`.
    public var readStandardInput: (@Sendable () -> [UInt8])?

    public init(workingDirectory: String, environment: [String: String]) {
        self.workingDirectory = workingDirectory
        self.environment = environment
    }
}

/// A loaded project and what loading it learned.
public struct LoadedProject: Sendable {
    public var project: Project
    public var warnings: [Diagnostic]
    public var sources: SourceTexts
    public var environment: ProjectEnvironment
    /// Every variable the compose files read, where, and with which value.
    public var references: [VariableReference]
    /// The merged model before normalisation (what `config --no-normalize` would show).
    public var model: Node
    /// Service → variable → where its value comes from.
    public var serviceEnvironmentSources: [String: [String: ServiceVariableSource]] = [:]
}

/// Loads a compose project as docker compose v2 does, reporting every problem with its location.
public struct ProjectLoader {
    public static let defaultFileNames = ["compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml"]
    public static let defaultOverrideFileNames = ["compose.override.yml", "compose.override.yaml", "docker-compose.override.yml", "docker-compose.override.yaml"]

    let options: LoadOptions
    var sources = SourceTexts()
    var warnings = DiagnosticBag()
    var references: [VariableReference] = []
    var home: String
    /// Service → variable → where `environment` names it and whether it gives a value.
    var environmentDeclarations: [String: [String: (SourceLocation, Bool)]] = [:]
    /// Service → variable → the env_file line that set it.
    var envFileOrigins: [String: [String: ServiceVariableSource.FileLine]] = [:]

    init(options: LoadOptions) {
        self.options = options
        self.home = options.environment["HOME"] ?? FileSystem.homeDirectory
    }

    public static func load(_ options: LoadOptions) throws(ComposeError) -> LoadedProject {
        var loader = ProjectLoader(options: options)
        do {
            return try loader.run(modelOnly: false)
        } catch {
            var e = error
            e.sources.merge(loader.sources)
            e.diagnostics = loader.warnings.diagnostics + e.diagnostics
            throw e
        }
    }

    /// Loads and merges the compose files into one model without building the typed project (what
    /// `config --no-interpolate` prints). The result's `project` has only the name and directory.
    public static func loadModel(_ options: LoadOptions) throws(ComposeError) -> LoadedProject {
        var loader = ProjectLoader(options: options)
        do {
            return try loader.run(modelOnly: true)
        } catch {
            var e = error
            e.sources.merge(loader.sources)
            e.diagnostics = loader.warnings.diagnostics + e.diagnostics
            throw e
        }
    }

    /// `[a-z0-9_-]` only, lower-cased, without leading `_` or `-`.
    public static func normalizeProjectName(_ s: String) -> String {
        let kept = s.lowercased().filter { c in
            c.isASCII && (c.isLetter || c.isNumber || c == "_" || c == "-")
        }
        return String(kept.drop(while: { $0 == "_" || $0 == "-" }))
    }

    static func invalidProjectName(_ name: String) -> Diagnostic {
        var message = "invalid project name \"\(name)\": must consist only of lowercase alphanumeric characters, hyphens, and underscores as well as start with a letter or number"
        let normalized = normalizeProjectName(name)
        if !normalized.isEmpty { message += " (did you mean \"\(normalized)\"?)" }
        return .error(message)
    }

    // MARK: - The steps

    struct ConfigFile {
        var path: String          // absolute, or "-"
        var documents: [Node]
    }

    mutating func run(modelOnly: Bool) throws(ComposeError) -> LoadedProject {
        let cwd = options.workingDirectory
        var environment = ProjectEnvironment(shell: options.environment)
        let projectDirectory = options.projectDirectory.map { Path.absolute($0, relativeTo: cwd) }
        var configPaths = options.configFiles.map { $0 == "-" ? "-" : Path.absolute($0, relativeTo: cwd) }

        func workingDirectory() -> String {
            if let projectDirectory { return projectDirectory }
            if let first = configPaths.first(where: { $0 != "-" }) { return Path.directory(first) }
            return cwd
        }

        if let name = options.projectName, name != Self.normalizeProjectName(name) || name.isEmpty {
            throw ComposeError(Self.invalidProjectName(name))
        }

        var loadedEnvFiles: [String] = []
        func envFiles() throws(ComposeError) -> [String] {
            if !options.envFiles.isEmpty { return options.envFiles.map { Path.absolute($0, relativeTo: cwd) } }
            if let disable = options.environment["COMPOSE_DISABLE_ENV_FILE"] {
                guard let b = Node.goBool(disable) else {
                    throw ComposeError(.error("COMPOSE_DISABLE_ENV_FILE must be a boolean, not '\(disable)'"))
                }
                if b { return [] }
            }
            let dotEnv = Path.join(workingDirectory(), ".env")
            return FileSystem.kind(dotEnv) == .file ? [dotEnv] : []
        }
        loadedEnvFiles = try envFiles()
        environment.addMissing(try ProjectEnvironment.read(envFiles: loadedEnvFiles, environment: environment, sources: &sources))

        if configPaths.isEmpty, let composeFile = environment["COMPOSE_FILE"] {
            let separator = environment["COMPOSE_PATH_SEPARATOR"].flatMap { $0.isEmpty ? nil : $0 } ?? ":"
            for part in composeFile.components(separatedBy: separator) {
                if part == "-" { configPaths.append("-"); continue }
                let path = Path.absolute(part, relativeTo: cwd)
                guard FileSystem.exists(path) else {
                    throw ComposeError(.error("COMPOSE_FILE names \(path), which does not exist"))
                }
                configPaths.append(path)
            }
        }
        if configPaths.isEmpty {
            var directory = workingDirectory()
            while true {
                let candidates = Self.defaultFileNames.map { Path.join(directory, $0) }.filter { FileSystem.kind($0) == .file }
                if let winner = candidates.first {
                    if candidates.count > 1 {
                        warnings.warning("found multiple config files with supported names: \(candidates.joined(separator: ", ")); using \(winner)", at: nil)
                    }
                    configPaths.append(winner)
                    let overrides = Self.defaultOverrideFileNames.map { Path.join(directory, $0) }.filter { FileSystem.kind($0) == .file }
                    if let override = overrides.first {
                        if overrides.count > 1 {
                            warnings.warning("found multiple override files with supported names: \(overrides.joined(separator: ", ")); using \(override)", at: nil)
                        }
                        configPaths.append(override)
                    }
                    break
                }
                let parent = Path.directory(directory)
                if parent == directory { break }
                directory = parent
            }
        }
        guard !configPaths.isEmpty else {
            throw ComposeError(.error("no configuration file provided: no compose.yaml, compose.yml, docker-compose.yml or docker-compose.yaml in \(workingDirectory()) or its parents (use -f to name one)"))
        }

        let secondEnvFiles = try envFiles()
        if secondEnvFiles != loadedEnvFiles {
            environment.addMissing(try ProjectEnvironment.read(envFiles: secondEnvFiles, environment: environment, sources: &sources))
        }

        let profiles: [String]
        if !options.profiles.isEmpty {
            profiles = options.profiles
        } else if let p = environment["COMPOSE_PROFILES"] {
            profiles = p.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingWhitespace() }
        } else {
            profiles = []
        }

        // Read and parse every file, reporting all syntax errors together.
        var files: [ConfigFile] = []
        var syntaxErrors: [Diagnostic] = []
        for path in configPaths {
            let bytes: [UInt8]
            if path == "-" {
                bytes = options.readStandardInput?() ?? []
            } else {
                do { bytes = try FileSystem.readSource(path) } catch {
                    throw ComposeError(.error(error.isMissing ? "compose file \(path) does not exist" : "\(error)"))
                }
            }
            do {
                let text = try FileSystem.source(bytes, file: path)
                sources[path] = text
                files.append(ConfigFile(path: path, documents: try YAMLParser.parse(text, file: path)))
            } catch {
                syntaxErrors.append(contentsOf: error.diagnostics)
            }
        }
        if !syntaxErrors.isEmpty { throw ComposeError(syntaxErrors, sources: sources) }

        let projectDir = workingDirectory()
        let name = try projectName(files: files, environment: environment, directory: projectDir)
        environment.set("COMPOSE_PROJECT_NAME", name, origin: .implicit)

        var model = try loadModel(files: files, workingDirectory: projectDir, environment: environment, included: [])
        if model.entries?.isEmpty ?? true {
            throw ComposeError(.error("empty compose file", at: files.first.map { SourceLocation(file: $0.path, line: 1, column: 1) }), sources: sources)
        }
        let rawModel = model
        if options.normalize {
            Normalizer.normalize(&model, projectName: name, environment: environment)
        }
        if modelOnly {
            model["name"] = .string(name, at: model.location)
            return LoadedProject(project: Project(name: name, workingDirectory: projectDir), warnings: warnings.diagnostics,
                                 sources: sources, environment: environment, references: references, model: model)
        }

        let ctx = DecodeContext()
        var project = ProjectDecoder.decode(model, name: name, workingDirectory: projectDir, ctx)
        ctx.diagnostics.append(contentsOf: warnings.diagnostics)
        warnings = DiagnosticBag()
        if ctx.diagnostics.hasErrors { throw ComposeError(ctx.diagnostics.diagnostics, sources: sources) }
        warnings.append(contentsOf: ctx.diagnostics.warnings)
        project.composeFiles = configPaths
        project.environment = environment.values

        project.profiles = profiles
        project.applyProfiles(profiles)
        if !options.selectedServices.isEmpty {
            try project.enable(options.selectedServices)
        }

        if options.checkConsistency {
            var consistency = Consistency(project: project)
            consistency.check()
            if consistency.diagnostics.hasErrors { throw ComposeError(consistency.diagnostics.diagnostics, sources: sources) }
        }

        try resolveServiceEnvironments(&project, environment: environment)
        if !options.selectedServices.isEmpty {
            try project.restrict(to: options.selectedServices)
        }
        project.removeUnusedResources()

        var loaded = LoadedProject(project: project, warnings: warnings.diagnostics, sources: sources, environment: environment,
                                   references: references, model: rawModel)
        loaded.serviceEnvironmentSources = environmentSources(project, environment)
        return loaded
    }

    mutating func projectName(files: [ConfigFile], environment: ProjectEnvironment, directory: String) throws(ComposeError) -> String {
        if let name = options.projectName { return name }
        if let fromEnvironment = environment["COMPOSE_PROJECT_NAME"], !fromEnvironment.isEmpty {
            guard fromEnvironment == Self.normalizeProjectName(fromEnvironment) else {
                var d = Self.invalidProjectName(fromEnvironment)
                if case .envFile(let path, let line)? = environment.variables["COMPOSE_PROJECT_NAME"]?.origin {
                    d.location = SourceLocation(file: path, line: line, column: 1)
                } else {
                    d.message += " (from COMPOSE_PROJECT_NAME)"
                }
                throw ComposeError(d, sources: sources)
            }
            return fromEnvironment
        }
        var nameNode: Node?
        for file in files {
            for document in file.documents {
                if let n = document["name"], !(n.scalarText ?? "").isEmpty { nameNode = n }
            }
        }
        guard var nameNode else {
            return Self.normalizeProjectName(Path.base(directory))
        }
        if options.interpolate {
            var interpolator = NodeInterpolator(interpolator: makeInterpolator(environment))
            interpolator.interpolate(&nameNode, path: ["name"], display: ["name"])
            if interpolator.diagnostics.hasErrors { throw ComposeError(interpolator.diagnostics.errors, sources: sources) }
        }
        let name = Self.normalizeProjectName(nameNode.text)
        guard !name.isEmpty else {
            throw ComposeError(.error("project name \"\(nameNode.text)\" is empty once normalised to lowercase letters, digits, '-' and '_'", at: nameNode.location), sources: sources)
        }
        return name
    }

    func makeInterpolator(_ environment: ProjectEnvironment) -> Interpolator {
        Interpolator(lookup: { environment[$0] })
    }

    // MARK: - Loading files into one model

    /// Loads files (the project's, or an include's) into one canonical model.
    mutating func loadModel(files: [ConfigFile], workingDirectory: String, environment: ProjectEnvironment, included: [String]) throws(ComposeError) -> Node {
        var model = Node.mapping([], at: SourceLocation(file: files.first?.path ?? "-", line: 1, column: 1))
        for file in files {
            for document in file.documents {
                if document.isNull { continue }
                guard document.isMapping else {
                    throw ComposeError(.error("the top level of a compose file must be a mapping, not \(SchemaValidator.describe(document))", at: document.location), sources: sources)
                }
                var cfg = document
                if options.interpolate {
                    try interpolate(&cfg, environment: environment)
                }
                try applyExtends(&cfg, file: file.path, workingDirectory: workingDirectory, environment: environment, chain: [])
                try applyInclude(&cfg, file: file.path, workingDirectory: workingDirectory, environment: environment, included: included + [file.path])
                model = Merger.merge(model, cfg, path: [])
                Unicity.enforce(&model)
                try validate(model)
                if let version = model.entry("version") {
                    warnings.warning("the attribute `version` is obsolete and ignored; remove it to avoid confusion", at: version.keyLocation)
                    model["version"] = nil
                }
                var canonicalizer = Canonicalizer(diagnostics: DiagnosticBag())
                canonicalizer.canonicalize(&model)
                warnings.append(contentsOf: canonicalizer.diagnostics.warnings)
                if canonicalizer.diagnostics.hasErrors { throw ComposeError(canonicalizer.diagnostics.errors, sources: sources) }
                Unicity.enforce(&model)
            }
        }
        Canonicalizer.applyDefaults(&model)
        try checkFileObjects(model)
        if options.resolvePaths {
            PathResolver(base: workingDirectory, home: home).resolve(&model)
        }
        recordEnvironmentDeclarations(model)
        resolveListEnvironment(&model, environment: environment)
        return model
    }

    mutating func recordEnvironmentDeclarations(_ model: Node) {
        for service in model["services"]?.entries ?? [] {
            guard let env = service.value["environment"] else { continue }
            var declarations = environmentDeclarations[service.key] ?? [:]
            switch env.kind {
            case .sequence(let items):
                for item in items {
                    let s = item.text
                    if let eq = s.firstIndex(of: "=") {
                        declarations[String(s[..<eq])] = (item.location, true)
                    } else {
                        declarations[s] = (item.location, false)
                    }
                }
            case .mapping(let entries):
                for e in entries { declarations[e.key] = (e.keyLocation, !e.value.isNull) }
            default: break
            }
            environmentDeclarations[service.key] = declarations
        }
    }

    func environmentSources(_ project: Project, _ environment: ProjectEnvironment) -> [String: [String: ServiceVariableSource]] {
        var result: [String: [String: ServiceVariableSource]] = [:]
        for (name, service) in project.services {
            var sources: [String: ServiceVariableSource] = [:]
            for variable in service.environment.keys {
                let fromFile = envFileOrigins[name]?[variable]
                if let (location, hasValue) = environmentDeclarations[name]?[variable] {
                    let kind: ServiceVariableSource.Kind = hasValue ? .literal(location)
                        : (environment[variable] != nil ? .inherited(location) : .unset(location))
                    sources[variable] = ServiceVariableSource(name: variable, kind: kind, overriddenEnvFile: fromFile)
                } else if let fromFile {
                    sources[variable] = ServiceVariableSource(name: variable, kind: .envFile(path: fromFile.path, line: fromFile.line))
                }
            }
            result[name] = sources
        }
        return result
    }

    mutating func interpolate(_ node: inout Node, environment: ProjectEnvironment) throws(ComposeError) {
        let log = ReferenceLog()
        let interpolator = Interpolator(lookup: { environment[$0] }, record: { ref in
            log.references.append(VariableReference(name: ref.name, location: log.location, use: ref.use, value: ref.value))
        })
        var ni = NodeInterpolator(interpolator: interpolator)
        var path: [String] = [], display: [String] = []
        interpolateTracking(&node, ni: &ni, log: log, path: &path, display: &display)
        for ref in log.references {
            references.append(ref)
            if ref.value == nil, ref.use == .plain {
                warnings.warning("variable \(ref.name) is not set; using an empty string", at: ref.location)
            }
        }
        warnings.append(contentsOf: ni.diagnostics.warnings)
        if ni.diagnostics.hasErrors { throw ComposeError(ni.diagnostics.errors, sources: sources) }
    }

    /// Walks the node so that every variable reference is recorded with the location of its value.
    /// The path is one stack pushed and popped on the way (not copied per level: a file nested 10,000
    /// deep would cost gigabytes).
    private func interpolateTracking(_ node: inout Node, ni: inout NodeInterpolator, log: ReferenceLog, path: inout [String], display: inout [String]) {
        switch node.kind {
        case .string:
            log.location = node.location
            ni.interpolate(&node, path: path, display: display)
        case .mapping(var entries):
            node.kind = .null
            for i in entries.indices {
                path.append(entries[i].key)
                display.append(entries[i].key)
                interpolateTracking(&entries[i].value, ni: &ni, log: log, path: &path, display: &display)
                path.removeLast()
                display.removeLast()
            }
            node.kind = .mapping(entries)
        case .sequence(var items):
            node.kind = .null
            for i in items.indices {
                path.append("[]")
                display.append("[\(i)]")
                interpolateTracking(&items[i], ni: &ni, log: log, path: &path, display: &display)
                path.removeLast()
                display.removeLast()
            }
            node.kind = .sequence(items)
        default:
            break
        }
    }

    func validate(_ model: Node) throws(ComposeError) {
        let problems = SchemaValidator.compose.validate(model)
        guard !problems.isEmpty else { return }
        throw ComposeError(problems.map { Diagnostic.error($0.message, at: $0.location) }, sources: sources)
    }

    /// compose-go's checks on secrets and configs (and external resources).
    func checkFileObjects(_ model: Node) throws(ComposeError) {
        var bag = DiagnosticBag()
        for kind in ["configs", "secrets"] {
            for entry in model[kind]?.entries ?? [] {
                let r = entry.value
                let keys = kind == "configs" ? ["file", "environment", "content"] : ["file", "environment"]
                let present = keys.filter { r[$0] != nil }
                if kind == "secrets", let content = r.entry("content") {
                    bag.error("secrets.\(entry.key): content is not allowed for secrets", at: content.keyLocation)
                }
                if present.count > 1 {
                    bag.error("\(kind).\(entry.key): \(keys.joined(separator: ", ")) are mutually exclusive (found \(present.joined(separator: " and ")))", at: r.location)
                } else if present.isEmpty && r["driver"] == nil && r["external"] == nil {
                    bag.error("\(kind).\(entry.key): one of \(keys.joined(separator: ", ")) must be set", at: entry.keyLocation)
                }
            }
        }
        for kind in ["volumes", "networks", "secrets", "configs"] {
            for entry in model[kind]?.entries ?? [] where entry.value["external"]?.boolValue == true {
                for e in entry.value.entries ?? [] where !["name", "external"].contains(e.key) && !e.key.hasPrefix("x-") {
                    bag.error("\(kind).\(entry.key): conflicting parameters \"external\" and \"\(e.key)\" specified", at: e.keyLocation)
                }
            }
        }
        if bag.hasErrors { throw ComposeError(bag.diagnostics, sources: sources) }
    }

    /// `environment: [NAME]` entries take their value from the project environment when it has one.
    func resolveListEnvironment(_ model: inout Node, environment: ProjectEnvironment) {
        model.modify("services") { services in
            services.mapValues { _, service in
                service.modify("environment") { env in
                    env.mapItems { item in
                        guard case .string(let s) = item.kind, !s.contains("="), let value = environment[s] else { return }
                        item.kind = .string("\(s)=\(value)")
                    }
                }
            }
        }
        for kind in ["secrets", "configs"] {
            model.modify(kind) { resources in
                resources.mapValues { _, r in
                    guard let name = r["environment"]?.stringValue, let value = environment[name] else { return }
                    if kind == "configs" { r["content"] = .string(value, at: r.location) }
                }
            }
        }
    }
}

/// Collects the variables interpolation reads, with the location of the value being interpolated.
final class ReferenceLog {
    var location = SourceLocation(file: "", line: 0, column: 0)
    var references: [VariableReference] = []
}
