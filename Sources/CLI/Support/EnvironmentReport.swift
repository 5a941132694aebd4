import ComposeModel

/// `config --environment`: every variable the project reads, its value and where that value came
/// from, and where each service's container environment comes from.
struct EnvironmentReport {
    let loaded: LoadedProject
    let workingDirectory: String

    func place(_ location: SourceLocation) -> String {
        let path = DiagnosticRenderer(sources: SourceTexts(), workingDirectory: workingDirectory).displayPath(location.file)
        return "\(path):\(location.line):\(location.column)"
    }

    func origin(_ name: String) -> String {
        guard let v = loaded.environment.variables[name] else { return "not set" }
        var text: String
        switch v.origin {
        case .shell: text = "shell environment"
        case .envFile(let path, let line): text = place(SourceLocation(file: path, line: line, column: 1))
        case .implicit: text = "set by swcompose (the project name)"
        }
        for s in loaded.environment.shadowed[name] ?? [] {
            switch s.origin {
            case .envFile(let path, let line):
                text += "; overrides \(place(SourceLocation(file: path, line: line, column: 1)))=\(s.value)"
            default: break
            }
        }
        return text
    }

    func render() -> String {
        var rows: [[String]] = [["NAME", "VALUE", "SOURCE", "USED AT"]]
        var byName: [String: [VariableReference]] = [:]
        for r in loaded.references { byName[r.name, default: []].append(r) }
        for name in byName.keys.sorted() {
            let refs = byName[name]!
            let value = loaded.environment[name]
            var source = origin(name)
            if value == nil {
                let defaults = refs.compactMap { r -> String? in
                    switch r.use {
                    case .defaultValue(let d, _): return "default \"\(d)\" at \(place(r.location))"
                    case .required: return "required at \(place(r.location))"
                    default: return nil
                    }
                }
                source = defaults.isEmpty ? "not set anywhere: an empty string is used" : "not set; " + defaults.joined(separator: ", ")
            }
            let uses = refs.map { place($0.location) }
            var seen = Set<String>()
            let unique = uses.filter { seen.insert($0).inserted }
            rows.append([name, value.map { "\"\($0)\"" } ?? "(unset)", source, unique.joined(separator: ", ")])
        }
        var out = "Variables used by the compose files (shell environment first, then .env files):\n"
        out += table(rows)
        let sources = loaded.serviceEnvironmentSources
        for service in loaded.project.services.keys.sorted() {
            guard let vars = sources[service], !vars.isEmpty else { continue }
            out += "\nContainer environment of service \(service) (environment: wins over env_file):\n"
            var serviceRows: [[String]] = [["NAME", "VALUE", "SOURCE"]]
            let environment = loaded.project.services[service]!.environment
            for name in vars.keys.sorted() {
                let value = environment[name].flatMap { $0 }.map { "\"\($0)\"" } ?? "(unset)"
                serviceRows.append([name, value, describe(vars[name]!)])
            }
            out += table(serviceRows)
        }
        return out
    }

    func describe(_ source: ServiceVariableSource) -> String {
        var text: String
        switch source.kind {
        case .literal(let at): text = "environment at \(place(at))"
        case .inherited(let at):
            text = "\(origin(source.name)) (named without a value at \(place(at)))"
        case .unset(let at): text = "named without a value at \(place(at)) and set nowhere"
        case .envFile(let path, let line): text = "env_file \(place(SourceLocation(file: path, line: line, column: 1)))"
        }
        if let overridden = source.overriddenEnvFile {
            text += "; overrides env_file \(place(SourceLocation(file: overridden.path, line: overridden.line, column: 1)))"
        }
        return text
    }

    func table(_ rows: [[String]]) -> String {
        var widths = [Int](repeating: 0, count: rows.first?.count ?? 0)
        for row in rows { for (i, cell) in row.enumerated() where i < widths.count - 1 { widths[i] = max(widths[i], cell.count) } }
        var out = ""
        for row in rows {
            var line = ""
            for (i, cell) in row.enumerated() {
                line += cell
                if i < row.count - 1 { line += String(repeating: " ", count: widths[i] - cell.count + 3) }
            }
            out += line + "\n"
        }
        return out
    }
}
