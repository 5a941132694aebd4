#if canImport(Glibc)
import Glibc
#endif
import Diagnostics

/// The instructions after FROM.
extension Builder {
    func step(_ i: Dockerfile.Instruction, number: Int, total: Int, label: String, state: inout StageState, request: BuildRequest,
              context: BuildContext, results: [Int: StageState], stages: [Stage], escape: Character, network: inout BuildNetwork?) throws(BuildError) {
        let words = ShellWords(escape: escape, variables: state.variables)
        func fail(_ message: String, at location: SourceLocation? = nil) -> BuildError {
            .failed(message, location: location ?? i.location)
        }
        func expand(_ text: String) throws(BuildError) -> String {
            do { return try words.expand(text) } catch { throw fail(error.description, at: i.textLocation) }
        }
        func split(_ text: String) throws(BuildError) -> [String] {
            do { return try words.words(text) } catch { throw fail(error.description, at: i.textLocation) }
        }
        func pairs(legacy: Bool) throws(BuildError) -> [(String, String?)] {
            do { return try words.pairs(i.text, legacy: legacy) } catch { throw fail(error.description, at: i.textLocation) }
        }
        /// The command of the exec or shell form.
        func command() -> [String] { i.json ?? state.shell + [i.text] }
        func metadata(_ shown: String) {
            state.key = Digest.of("\(state.key)\n\(shown)")
            state.history.append(ImageConfiguration.History(created: state.lastCreated ?? Timestamp.rfc3339(), createdBy: shown, comment: "buildkit.dockerfile.v0", emptyLayer: true))
            if i.keyword == "WORKDIR" { progress(request, " => CACHED [\(label)\(number)/\(total)] \(i.original)") }
        }
        switch i.keyword {
        case "ARG":
            for (k, v) in try pairs(legacy: false) {
                // --build-arg, else the default here, else the global ARG's value.
                state.args[k] = request.args[k] ?? v ?? state.meta[k]
            }
            let inScope = i.text.split(separator: " ").map { String($0.split(separator: "=").first ?? "") }
                .filter { !Self.proxyArgs.contains($0) }.map { "\($0)=\(state.args[$0] ?? "")" }.joined(separator: " ")
            state.key = Digest.of("\(state.key)\nARG \(inScope)")
        case "ENV":
            var shown: [String] = []
            for (k, v) in try pairs(legacy: true) {
                guard let v else { throw fail("ENV names \(k) without a value (ENV key=value)", at: i.textLocation) }
                state.setEnv(k, v)
                shown.append("\(k)=\(v)")
            }
            metadata("ENV " + shown.joined(separator: " "))
        case "LABEL":
            var labels = state.config.labels ?? [:]
            var shown: [String] = []
            for (k, v) in try pairs(legacy: true) {
                labels[k] = v ?? ""
                shown.append("\(k)=\(v ?? "")")
            }
            state.config.labels = labels
            metadata("LABEL " + shown.joined(separator: " "))
        case "MAINTAINER":
            state.author = i.text
            metadata("MAINTAINER " + i.text)
        case "USER":
            state.config.user = try expand(i.text)
            metadata("USER " + state.config.user!)
        case "EXPOSE":
            var ports = state.config.exposedPorts ?? [:]
            for p in try split(i.text) {
                let port = p.contains("/") ? p.lowercased() : p + "/tcp"
                guard let n = UInt16(port.split(separator: "/")[0].split(separator: "-")[0]), n > 0 else { throw fail("invalid containerPort: \(p)", at: i.textLocation) }
                ports[port] = EmptyObject()
            }
            state.config.exposedPorts = ports
            metadata("EXPOSE map[" + ports.keys.sorted().map { $0 + ":{}" }.joined(separator: " ") + "]")
        case "VOLUME":
            var volumes = state.config.volumes ?? [:]
            let list: [String]
            if let json = i.json { list = json } else { list = try split(i.text) }
            for v in list where !v.isEmpty { volumes[v] = EmptyObject() }
            state.config.volumes = volumes
            metadata("VOLUME [" + list.joined(separator: " ") + "]")
        case "STOPSIGNAL":
            state.config.stopSignal = try expand(i.text)
            metadata("STOPSIGNAL " + state.config.stopSignal!)
        case "WORKDIR":
            let dir = try expand(i.text)
            let path = dir.hasPrefix("/") ? dir : ((state.config.workingDir ?? "/") + "/" + dir)
            state.config.workingDir = BuildPath.clean(path)
            let target = state.config.workingDir!
            if LayerLookup.isDirectory(target, in: state.layers.map(\.directory)) || target == "/" {
                metadata("WORKDIR " + target)
            } else {
                // The directory is made (a layer of its own), as BuildKit's WORKDIR does.
                let stepKey = Digest.of("\(state.key)\nWORKDIR \(target)")
                if let hit = try lookup(stepKey, id: "\(label)\(number)", parent: state, instruction: "WORKDIR " + target, args: [:], files: [:],
                                    title: "[\(label)\(number)/\(total)] \(i.original)", label: label, request: request) {
                    state.apply(hit, instruction: "WORKDIR " + target, key: stepKey)
                    break
                }
                defer { common.claims.release(stepKey) }
                let scratch = runtime.root.path + "/build-tmp/" + ContainerStore.newID()
                defer { try? Sys.removeAll(scratch) }
                do {
                    try Sys.mkdirAll(scratch, 0o755)
                    try LayerWriter.ensureDirectory(target, in: scratch, lowers: state.layers.map(\.directory), owner: (0, 0))
                } catch { throw fail("WORKDIR \(target): \(error)") }
                let added = try addLayer(from: scratch, parent: state, excluding: [], location: i.location)
                remember(stepKey, added)
                state.apply(added, instruction: "WORKDIR " + target, key: stepKey)
            }
        case "CMD":
            state.config.cmd = command()
            state.cmdSet = true
            metadata("CMD " + Self.shown(state.config.cmd!))
        case "ENTRYPOINT":
            state.config.entrypoint = command()
            // As docker: an ENTRYPOINT resets a CMD the base image set.
            if !state.cmdSet { state.config.cmd = nil }
            metadata("ENTRYPOINT " + Self.shown(state.config.entrypoint!))
        case "SHELL":
            guard let json = i.json, !json.isEmpty else { throw fail("SHELL requires the arguments to be in JSON form", at: i.textLocation) }
            state.shell = json
            state.config.shell = json
            metadata("SHELL " + Self.shown(json))
        case "ONBUILD":
            let trigger = i.text.trimmingWhitespace()
            let keyword = trigger.split(separator: " ").first.map { $0.uppercased() } ?? ""
            if ["ONBUILD", "FROM", "MAINTAINER"].contains(keyword) {
                throw fail("\(keyword) isn't allowed as an ONBUILD trigger", at: i.textLocation)
            }
            state.config.onBuild = (state.config.onBuild ?? []) + [trigger]
            metadata("ONBUILD " + trigger)
        case "HEALTHCHECK":
            try healthcheck(i, state: &state, fail: fail)
            metadata("HEALTHCHECK " + i.text)
        case "RUN":
            try run(i, number: number, total: total, label: label, state: &state, request: request, context: context,
                    results: results, stages: stages, network: &network)
        case "COPY", "ADD":
            try copy(i, number: number, total: total, label: label, state: &state, request: request, context: context,
                     results: results, stages: stages, words: words)
        default:
            throw fail("unknown instruction: \(i.keyword)")
        }
    }

    /// `["a", "b"]` as docker's history shows exec forms.
    static func shown(_ list: [String]) -> String {
        "[" + list.map { JSONString.quoted($0) }.joined(separator: " ") + "]"
    }

    func healthcheck(_ i: Dockerfile.Instruction, state: inout StageState, fail: (String, SourceLocation?) -> BuildError) throws(BuildError) {
        let rest = i.text.trimmingWhitespace()
        if rest.uppercased() == "NONE" {
            var h = ContainerConfig.Healthcheck()
            h.test = ["NONE"]
            state.config.healthcheck = h
            return
        }
        guard rest.uppercased().hasPrefix("CMD") else { throw fail("HEALTHCHECK takes NONE or CMD followed by the command", i.textLocation) }
        let command = rest.dropFirst(3).trimmingWhitespace()
        var h = ContainerConfig.Healthcheck()
        if command.hasPrefix("["), let list = Dockerfile.jsonArray(command) { h.test = ["CMD"] + list } else { h.test = ["CMD-SHELL", command] }
        for f in i.flags {
            guard let value = f.value else { throw fail("--\(f.name) needs a value", f.location) }
            if f.name == "retries" {
                guard let n = Int(value), n >= 0 else { throw fail("invalid --retries \(value)", f.location) }
                h.retries = n
                continue
            }
            guard let ns = BuildDuration.parse(value) else { throw fail("invalid --\(f.name) \(value): a duration such as 30s or 1m30s", f.location) }
            switch f.name {
            case "interval": h.interval = ns
            case "timeout": h.timeout = ns
            case "start-period": h.startPeriod = ns
            case "start-interval": h.startInterval = ns
            default: throw fail("unknown flag: --\(f.name)", f.location)
            }
        }
        state.config.healthcheck = h
    }
}

/// Go-style durations (`30s`, `1m30s`, `500ms`) in nanoseconds.
enum BuildDuration {
    static func parse(_ text: String) -> Int64? {
        var total: Double = 0
        var number = ""
        var unit = ""
        var any = false
        func flush() -> Bool {
            guard let n = Double(number) else { return false }
            let scale: Double
            switch unit {
            case "ns": scale = 1
            case "us", "µs": scale = 1e3
            case "ms": scale = 1e6
            case "s": scale = 1e9
            case "m": scale = 60e9
            case "h": scale = 3600e9
            default: return false
            }
            total += n * scale
            number = ""; unit = ""; any = true
            return true
        }
        for c in text {
            if c.isNumber || c == "." {
                if !unit.isEmpty { guard flush() else { return nil } }
                number.append(c)
            } else {
                unit.append(c)
            }
        }
        if !number.isEmpty || !unit.isEmpty { guard flush() else { return nil } }
        return any ? Int64(total) : nil
    }
}

enum BuildPath {
    /// `/a/./b/../c/` → `/a/c`.
    static func clean(_ path: String) -> String {
        var parts: [Substring] = []
        for p in path.split(separator: "/") {
            if p == "." || p.isEmpty { continue }
            if p == ".." { if !parts.isEmpty { parts.removeLast() }; continue }
            parts.append(p)
        }
        return "/" + parts.joined(separator: "/")
    }
}
