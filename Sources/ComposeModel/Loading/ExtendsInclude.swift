extension ProjectLoader {
    /// How deep `extends` may chain and `include` may nest: far beyond any real project, and short of
    /// what a generated file could make expensive.
    static let maximumExtendsDepth = 128
    static let maximumIncludeDepth = 128

    struct ExtendsLink: Equatable {
        var file: String
        var service: String
    }

    /// Resolves `extends` for every service of one file's model.
    mutating func applyExtends(_ cfg: inout Node, file: String, workingDirectory: String, environment: ProjectEnvironment, chain: [ExtendsLink]) throws(ComposeError) {
        guard var services = cfg["services"], services.isMapping else { return }
        for name in services.keys {
            try resolveExtends(name, in: &services, file: file, workingDirectory: workingDirectory, environment: environment, chain: chain)
        }
        cfg["services"] = services
    }

    /// Resolves the `extends` of one service in place (and, recursively, of what it extends).
    mutating func resolveExtends(_ name: String, in services: inout Node, file: String, workingDirectory: String,
                                 environment: ProjectEnvironment, chain: [ExtendsLink]) throws(ComposeError)
    {
        guard let service = services[name], service.isMapping, let ext = service["extends"] else { return }
        let link = ExtendsLink(file: file, service: name)
        if chain.contains(link) {
            let cycle = (chain + [link]).map { "\($0.service) in \(displayPath($0.file))" }
            throw ComposeError(.error("circular extends: " + cycle.joined(separator: " extends "), at: ext.location), sources: sources)
        }
        guard chain.count < Self.maximumExtendsDepth else {
            throw ComposeError(.error("services.\(name): extends chains more than \(Self.maximumExtendsDepth) services deep (from \(chain[0].service) in \(displayPath(chain[0].file)))",
                                      at: ext.location), sources: sources)
        }
        var reference: String
        var baseFile: String?
        switch ext.kind {
        case .string(let s):
            reference = s
        case .mapping:
            guard let s = ext["service"]?.stringValue else {
                throw ComposeError(.error("services.\(name).extends must name the service to extend (service: NAME)", at: ext.location), sources: sources)
            }
            reference = s
            baseFile = ext["file"]?.stringValue
        default:
            throw ComposeError(.error("services.\(name).extends must be a service name or a mapping", at: ext.location), sources: sources)
        }

        var base: Node
        if let baseFile {
            let path = Path.absolute(Path.expandingTilde(baseFile, home: home), relativeTo: workingDirectory)
            var baseServices = try extendsFile(path, environment: environment, referencedAt: ext)
            guard baseServices[reference] != nil else {
                throw ComposeError(.error("cannot extend service \"\(name)\": service \"\(reference)\" not found in \(displayPath(path))",
                                          at: ext["service"]?.location ?? ext.location), sources: sources)
            }
            try resolveExtends(reference, in: &baseServices, file: path, workingDirectory: Path.directory(path),
                               environment: environment, chain: chain + [link])
            base = baseServices[reference]!
        } else {
            guard services[reference] != nil else {
                throw ComposeError(.error("cannot extend service \"\(name)\": service \"\(reference)\" not found in \(displayPath(file))",
                                          at: (ext["service"] ?? ext).location), sources: sources)
            }
            try resolveExtends(reference, in: &services, file: file, workingDirectory: workingDirectory, environment: environment, chain: chain + [link])
            base = services[reference]!
        }
        guard base.isMapping else {
            services[name] = service
            return
        }
        base["extends"] = nil
        var merged = Merger.merge(base, service, path: ["services", "x"])
        merged["extends"] = nil
        services[name] = merged
    }

    /// The services of a file named by `extends.file`: interpolated, in canonical form, with relative
    /// paths resolved against that file's directory.
    mutating func extendsFile(_ path: String, environment: ProjectEnvironment, referencedAt ext: Node) throws(ComposeError) -> Node {
        let bytes: [UInt8]
        do { bytes = try FileSystem.readSource(path) } catch {
            throw ComposeError(.error("cannot read \(displayPath(path)) named by extends: \(error.isMissing ? "no such file" : "\(error)")",
                                      at: (ext["file"] ?? ext).location), sources: sources)
        }
        let text = try FileSystem.source(bytes, file: path)
        sources[path] = text
        let documents = try YAMLParser.parse(text, file: path)
        var model = Node.mapping([], at: SourceLocation(file: path, line: 1, column: 1))
        for document in documents where document.isMapping {
            var cfg = document
            if options.interpolate { try interpolate(&cfg, environment: environment) }
            model = Merger.merge(model, cfg, path: [])
            Unicity.enforce(&model)
            var canonicalizer = Canonicalizer(diagnostics: DiagnosticBag())
            canonicalizer.canonicalize(&model)
            if canonicalizer.diagnostics.hasErrors { throw ComposeError(canonicalizer.diagnostics.errors, sources: sources) }
            Unicity.enforce(&model)
        }
        guard let services = model["services"], services.isMapping else {
            throw ComposeError(.error("cannot extend from \(displayPath(path)): it has no services section", at: (ext["file"] ?? ext).location), sources: sources)
        }
        var base = options.resolvePaths ? Path.directory(path) : Path.relative(Path.directory(path), to: options.workingDirectory)
        if base.isEmpty { base = "." }
        var wrapped = Node.mapping([Node.Entry(key: "services", keyLocation: services.location, value: services)], at: services.location)
        PathResolver(base: base, home: home).resolve(&wrapped)
        return wrapped["services"]!
    }

    /// Loads the projects named by `include` and imports their resources into `cfg`.
    mutating func applyInclude(_ cfg: inout Node, file: String, workingDirectory: String, environment: ProjectEnvironment, included: [String]) throws(ComposeError) {
        guard let include = cfg.entry("include") else { return }
        guard let items = include.value.items else {
            throw ComposeError(.error("include must be a list", at: include.value.location), sources: sources)
        }
        for item in items {
            var paths: [String] = []
            var projectDirectory: String?
            var envFiles: [String]?
            switch item.kind {
            case .string(let s): paths = [s]
            case .mapping:
                paths = item["path"]?.stringList(DecodeContext(), "include.path") ?? []
                projectDirectory = item["project_directory"]?.stringValue
                envFiles = item["env_file"].map { $0.stringList(DecodeContext(), "include.env_file") }
            default:
                throw ComposeError(.error("include entries must be a path or a mapping", at: item.location), sources: sources)
            }
            guard let first = paths.first else {
                throw ComposeError(.error("include entry has no path", at: item.location), sources: sources)
            }
            let absolutePaths = paths.map { Path.absolute(Path.expandingTilde($0, home: home), relativeTo: workingDirectory) }
            if included.contains(absolutePaths[0]) {
                let cycle = (included + [absolutePaths[0]]).map(displayPath)
                throw ComposeError(.error("include cycle: " + cycle.joined(separator: " includes "), at: item.location), sources: sources)
            }
            guard included.count < Self.maximumIncludeDepth else {
                throw ComposeError(.error("include: files included more than \(Self.maximumIncludeDepth) deep (from \(displayPath(included[0])))", at: item.location), sources: sources)
            }
            _ = first
            let directory: String
            if let projectDirectory {
                directory = Path.absolute(Path.expandingTilde(projectDirectory, home: home), relativeTo: workingDirectory)
            } else {
                directory = Path.directory(absolutePaths[0])
            }
            var envFilePaths: [String] = []
            if let envFiles {
                for f in envFiles {
                    let p = Path.absolute(f, relativeTo: workingDirectory)
                    switch FileSystem.kind(p) {
                    case .missing: throw ComposeError(.error("env file \(displayPath(p)) named by include does not exist", at: item.location), sources: sources)
                    case .directory: throw ComposeError(.error("\(displayPath(p)) is not a file", at: item.location), sources: sources)
                    default: envFilePaths.append(p)
                    }
                }
            } else {
                let dotEnv = Path.join(directory, ".env")
                if FileSystem.kind(dotEnv) == .file { envFilePaths = [dotEnv] }
            }
            var includeEnvironment = environment
            includeEnvironment.addMissing(try ProjectEnvironment.read(envFiles: envFilePaths, environment: environment, sources: &sources))

            var files: [ConfigFile] = []
            for path in absolutePaths {
                let bytes: [UInt8]
                do { bytes = try FileSystem.readSource(path) } catch {
                    throw ComposeError(.error("cannot read included file \(displayPath(path)): \(error.isMissing ? "no such file" : "\(error)")", at: item.location), sources: sources)
                }
                let text = try FileSystem.source(bytes, file: path)
                sources[path] = text
                files.append(ConfigFile(path: path, documents: try YAMLParser.parse(text, file: path)))
            }
            let imported = try loadModel(files: files, workingDirectory: directory, environment: includeEnvironment, included: included)
            for kind in ["services", "volumes", "networks", "secrets", "configs"] {
                guard let resources = imported[kind]?.entries, !resources.isEmpty else { continue }
                var target = cfg[kind] ?? .mapping([], at: imported[kind]!.location)
                for r in resources {
                    if let existing = target[r.key] {
                        if SchemaValidator.canonicalText(existing) == SchemaValidator.canonicalText(r.value) { continue }
                        throw ComposeError(.error("\(kind).\(r.key) is defined here and in the included file \(displayPath(absolutePaths[0])); rename one of them",
                                                  at: target.entry(r.key)?.keyLocation ?? item.location,
                                                  notes: [.note("\(kind).\(r.key) defined in the included project here", at: r.keyLocation)]), sources: sources)
                    }
                    target[r.key] = r.value
                }
                cfg[kind] = target
            }
        }
        cfg["include"] = nil
    }

    func displayPath(_ path: String) -> String {
        DiagnosticRenderer(sources: SourceTexts(), workingDirectory: options.workingDirectory).displayPath(path)
    }
}
