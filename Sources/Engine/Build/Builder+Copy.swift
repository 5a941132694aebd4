#if canImport(Glibc)
import Glibc
#endif
import Diagnostics

/// COPY and ADD: files from the context (read in place, `.dockerignore` applied), a stage or an image,
/// written straight into a new layer (no container), with docker's rules for destinations,
/// ownership and modes.
extension Builder {
    func copy(_ i: Dockerfile.Instruction, number: Int, total: Int, label: String, state: inout StageState, request: BuildRequest,
              context: BuildContext, results: [Int: StageState], stages: [Stage], words: ShellWords) throws(BuildError) {
        func fail(_ message: String, at location: SourceLocation? = nil) -> BuildError { .failed(message, location: location ?? i.location) }
        var list: [String] = []
        do throws(ShellWords.Failure) {
            if let json = i.json {
                for w in json { list.append(try words.expand(w)) }
            } else {
                list = try words.words(i.text)
            }
        } catch { throw fail(error.description, at: i.textLocation) }
        // `COPY <<EOF /path`: here-documents are files of their own.
        let heredocNames = Set(i.heredocs.map(\.name))
        guard list.count >= 2 else { throw fail("\(i.keyword) requires at least two arguments, but only one was provided. Destination could not be determined.", at: i.textLocation) }
        let destination = list.removeLast()
        let sources = list
        let isAdd = i.keyword == "ADD"
        // --parents keeps each source's directories (from the context root, or from a `/./` in it).
        let parents = i.flag("parents") != nil
        if parents && isAdd { throw fail("ADD takes no --parents (COPY does)", at: i.flag("parents")!.location) }
        var pivots: [String] = []
        for s in sources where !isAdd && (s.hasPrefix("http://") || s.hasPrefix("https://")) {
            throw fail("COPY takes files of the context, not URLs (\(s)): use ADD", at: i.textLocation)
        }
        for s in sources where isAdd && (s.hasPrefix("git@") || s.hasSuffix(".git") || s.contains(".git#")) {
            throw fail("ADD of a git repository (\(s)) is not supported: clone it in a RUN step, or into the context", at: i.textLocation)
        }
        if i.flag("checksum") != nil && !sources.allSatisfy({ $0.hasPrefix("http://") || $0.hasPrefix("https://") }) {
            throw fail("ADD --checksum is for URL sources only", at: i.flag("checksum")!.location)
        }
        let scratch = runtime.root.path + "/build-tmp/" + ContainerStore.newID()
        defer {
            StageView.unmount(scratch + "/from")
            try? Sys.removeAll(scratch)
        }
        do { try Sys.mkdirAll(scratch + "/layer", 0o755) } catch { throw fail("\(error)") }
        // Where sources come from.
        var root = context.directory
        var fromKey: String?
        var fromContext = true
        var namedDirectory = false
        var owner: (uid: UInt32, gid: UInt32)? = nil
        if let fromFlag = i.flag("from"), let from = fromFlag.value {
            let name: String
            do { name = try words.expand(from) } catch { throw fail(error.description, at: fromFlag.location) }
            fromContext = false
            var layers: [String] = []
            if case .directory(let dir)? = request.namedContexts[name] {
                // A named local context: read in place, owned by root in the layer as the main context.
                root = dir
                fromKey = "context \(dir)"
                if owner == nil { owner = (0, 0) }
                namedDirectory = true
            } else if case .image(let reference)? = request.namedContexts[name] {
                let image: ImageRecord
                do { image = try base(reference, request.pull) } catch { throw fail("COPY --from=\(name) (\(reference)): \(error)", at: fromFlag.location) }
                do { layers = try images.layers(of: image).map(\.directory) } catch { throw fail("COPY --from=\(name): \(error)", at: fromFlag.location) }
                fromKey = image.id.description
            } else if let n = stageIndex(name, stages: stages), let s = results[n] {
                layers = s.layers.map(\.directory)
                fromKey = s.key.description
            } else {
                let image: ImageRecord
                do { image = try base(name, request.pull) } catch { throw fail("COPY --from=\(name): \(error)", at: fromFlag.location) }
                do { layers = try images.layers(of: image).map(\.directory) } catch { throw fail("COPY --from=\(name): \(error)", at: fromFlag.location) }
                fromKey = image.id.description
            }
            if namedDirectory {
                // root is the directory itself
            } else if layers.isEmpty {
                do { try Sys.mkdirAll(scratch + "/from/merged") } catch { throw fail("\(error)") }
                root = scratch + "/from/merged"
            } else {
                do { try StageView.mount(layers, at: scratch + "/from") } catch { throw fail("COPY --from=\(name): \(error)", at: fromFlag.location) }
                root = scratch + "/from/merged"
            }
        }
        // The sources, wildcards expanded (docker's filepath.Match per component).
        var matches: [(relative: String, path: String)] = []
        var downloaded: Set<String> = []
        for source in sources {
            if isAdd && (source.hasPrefix("http://") || source.hasPrefix("https://")) {
                // Fetched by the builder (not in a container), checked against --checksum, kept as a
                // file of mode 0600 named after the URL's last path component, as docker does.
                guard let fetch else { throw fail("ADD \(source): this build cannot fetch URLs", at: i.textLocation) }
                var name = String(source.split(separator: "?").first?.split(separator: "/").last ?? "download")
                if name.isEmpty || name.contains(":") { name = "download" }
                let dir = scratch + "/url-\(matches.count)"
                let file = dir + "/" + name
                let got: (digest: Digest, size: Int64, modified: Int64?)
                do {
                    try Sys.mkdirAll(dir, 0o700)
                    got = try fetch(source, file)
                } catch { throw fail("ADD \(source): \(error)", at: i.textLocation) }
                if let checksum = i.flag("checksum")?.value, checksum != got.digest.description {
                    throw fail("ADD \(source): the content's digest is \(got.digest), not the --checksum \(checksum)", at: i.flag("checksum")!.location)
                }
                do {
                    try Sys.chmod(file, 0o600)
                    if let modified = got.modified {
                        let t = timespec(tv_sec: Int(modified), tv_nsec: 0)
                        try Sys.setTimes(file, at: AT_FDCWD, accessed: t, modified: t)
                    }
                } catch { throw fail("ADD \(source): \(error)", at: i.textLocation) }
                matches.append((name, file))
                pivots.append("")
                downloaded.insert(file)
                continue
            }
            if heredocNames.contains(String(source.dropFirst(2).drop { $0 == "-" }).trimmingCharacters(in: "\"'")) && source.hasPrefix("<<") {
                let doc = i.heredocs.first { source.contains($0.name) }!
                let file = scratch + "/heredoc-" + doc.name
                let content: String
                do { content = doc.quoted ? doc.content : try words.expand(doc.content) } catch { content = doc.content }
                do { try Files.writeAtomically(file, content, mode: 0o644, durable: false) } catch { throw fail("\(error)") }
                matches.append((doc.name, file))
                pivots.append("")
                continue
            }
            if fromContext && BuildContext.escapes(source) {
                throw fail("forbidden path outside the build context: \(source): COPY and ADD read only what is inside the context (\(context.directory))", at: i.textLocation)
            }
            let found = fromContext ? context.glob(source) : BuildContext.glob(source, in: root, ignore: nil)
            if found.isEmpty {
                let message = source.contains(where: { "*?[".contains($0) })
                    ? "no source files were specified: \(source) matches nothing in the \(fromContext ? "build context" : "stage")"
                    : "failed to compute cache key: \"/\(BuildPath.clean(source).dropFirst())\": not found"
                throw fail(message, at: i.textLocation)
            }
            matches += found
            let pivot = source.range(of: "/./").map { String(BuildPath.clean("/" + source[..<$0.lowerBound]).dropFirst()) } ?? ""
            pivots += Array(repeating: pivot, count: found.count)
        }
        // Where they go.
        let workdir = state.config.workingDir ?? "/"
        var target = destination.hasPrefix("/") ? destination : workdir + "/" + destination
        let intoDirectory = parents || destination.hasSuffix("/") || destination.hasSuffix("/.") || destination == "." || matches.count > 1
            || LayerLookup.isDirectory(BuildPath.clean(target), in: state.layers.map(\.directory))
        target = BuildPath.clean(target)
        if matches.count > 1 && !parents && !(destination.hasSuffix("/") || destination.hasSuffix("/.") || destination == "." || LayerLookup.isDirectory(target, in: state.layers.map(\.directory))) {
            throw fail("When using COPY with more than one source file, the destination must be a directory and end with a /", at: i.textLocation)
        }
        // Ownership and mode.
        if let chown = i.flag("chown")?.value {
            let spec: String
            do { spec = try words.expand(chown) } catch { throw fail(error.description, at: i.flag("chown")!.location) }
            guard let resolved = LayerLookup.owner(spec, in: state.layers.map(\.directory)) else {
                throw fail("unable to convert uid/gid chown string to host mapping: no such user or group \(spec) in the image's /etc/passwd and /etc/group", at: i.flag("chown")!.location)
            }
            owner = resolved
        } else if fromContext {
            owner = (0, 0)
        }
        var mode: FileMode? = nil
        if let chmod = i.flag("chmod")?.value {
            guard let m = FileMode.parse(chmod) else { throw fail("invalid --chmod \(chmod): an octal mode (0755) or a symbolic one (u+x,go-w)", at: i.flag("chmod")!.location) }
            mode = m
        }
        let excludes = i.flags("exclude").compactMap(\.value)
        // The step's key: the instruction, the owner and mode, the content of exactly what it copies.
        var key = "\(state.key)\n\(i.keyword) \(i.flags.filter { $0.name != "from" }.map { "\($0.name)=\($0.value ?? "")" }) \(sources) -> \(target) \(intoDirectory)"
        if let fromKey { key += "\nfrom \(fromKey)" }
        var read: [String: String] = [:]
        for m in matches {
            key += "\n\(m.relative) " + (fromContext && !m.path.hasPrefix(scratch) ? context.digest(of: m.relative, files: files, excluding: excludes, record: { read[$0] = $1 }).description
                                                          : BuildContext.treeDigest(m.path, files: nil, ignore: nil, relative: m.relative).description)
        }
        let stepKey = Digest.of(key)
        let shown = "\(i.keyword) " + i.flagsWritten
            + sources.joined(separator: " ") + " " + destination + " # buildkit"
        let title = "[\(label)\(number)/\(total)] \(i.original)"
        if let hit = try lookup(stepKey, id: "\(label)\(number)", parent: state, instruction: shown, args: [:], files: read, title: title, label: label, request: request) {
            state.apply(hit, instruction: shown, key: stepKey)
            return
        }
        defer { common.claims.release(stepKey) }
        let layer = scratch + "/layer"
        let lowers = state.layers.map(\.directory)
        do {
            let created = owner ?? (0, 0)
            for (n, m) in matches.enumerated() {
                // Where this source lands: the destination, or with --parents its own path below it.
                var kept = m.relative
                if parents, n < pivots.count, !pivots[n].isEmpty, kept.hasPrefix(pivots[n] + "/") { kept = String(kept.dropFirst(pivots[n].count + 1)) }
                let target = parents ? BuildPath.clean(target + "/" + kept) : target
                let ignore: ((String) -> Bool)? = fromContext && !m.path.hasPrefix(scratch) ? { context.isIgnored($0) || BuildContext.matchesAny(excludes, $0) } : (excludes.isEmpty ? nil : { BuildContext.matchesAny(excludes, $0) })
                let st = try Sys.fileStatus(m.path, follow: true)
                let isDirectory = st.st_mode & S_IFMT == S_IFDIR
                if isDirectory {
                    // A directory's contents go into the destination.
                    try LayerWriter.ensureDirectory(target, in: layer, lowers: lowers, owner: created)
                    try LayerWriter.copyTree(m.path, relative: m.relative, into: layer + target, owner: owner, mode: mode, ignore: ignore)
                } else if isAdd && !m.path.hasPrefix(scratch + "/heredoc") && !downloaded.contains(m.path) && fromContext, LayerWriter.isArchive(m.path) {
                    try LayerWriter.ensureDirectory(target, in: layer, lowers: lowers, owner: created)
                    try LayerWriter.extract(m.path, into: layer + target)
                } else {
                    let name = m.relative.split(separator: "/").last.map(String.init) ?? m.relative
                    let file = parents ? target : intoDirectory ? target + "/" + name : target
                    try LayerWriter.ensureDirectory(BuildPath.parent(file), in: layer, lowers: lowers, owner: intoDirectory ? created : (0, 0))
                    try LayerWriter.copyEntry(m.path, to: layer + file, owner: owner, mode: mode, follow: true)
                }
            }
        } catch { throw fail("\(i.keyword) failed: \(error)") }
        let added = try addLayer(from: layer, parent: state, excluding: [], location: i.location)
        remember(stepKey, added)
        state.apply(added, instruction: shown, key: stepKey)
    }
}

extension String {
    func trimmingCharacters(in set: String) -> String {
        var s = self[...]
        while let c = s.first, set.contains(c) { s.removeFirst() }
        while let c = s.last, set.contains(c) { s.removeLast() }
        return String(s)
    }
}

extension BuildPath {
    static func parent(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return "/" }
        return String(path[..<slash])
    }
}

/// `--chmod`: octal, or symbolic (`u+x,go-w`, `a=r`), applied to each copied entry.
struct FileMode: Equatable {
    var octal: mode_t?
    var symbolic: [(who: String, op: Character, perms: String)] = []

    static func == (a: FileMode, b: FileMode) -> Bool { a.octal == b.octal && a.symbolic.count == b.symbolic.count }

    static func parse(_ text: String) -> FileMode? {
        if let n = mode_t(text, radix: 8), n <= 0o7777 { return FileMode(octal: n) }
        var m = FileMode()
        for clause in text.split(separator: ",") {
            guard let opIndex = clause.firstIndex(where: { "+-=".contains($0) }) else { return nil }
            let who = String(clause[..<opIndex])
            guard who.allSatisfy({ "ugoa".contains($0) }) else { return nil }
            let perms = String(clause[clause.index(after: opIndex)...])
            guard perms.allSatisfy({ "rwxXst".contains($0) }) else { return nil }
            m.symbolic.append((who.isEmpty ? "a" : who, clause[opIndex], perms))
        }
        return m.symbolic.isEmpty ? nil : m
    }

    func apply(to current: mode_t, isDirectory: Bool) -> mode_t {
        if let octal { return octal }
        var mode = current & 0o7777
        for (who, op, perms) in symbolic {
            var bits: mode_t = 0
            let targets = who.contains("a") ? "ugo" : who
            for p in perms {
                for w in targets {
                    let shift: mode_t = w == "u" ? 6 : w == "g" ? 3 : 0
                    switch p {
                    case "r": bits |= 0o4 << shift
                    case "w": bits |= 0o2 << shift
                    case "x": bits |= 0o1 << shift
                    case "X": if isDirectory || current & 0o111 != 0 { bits |= 0o1 << shift }
                    case "s": if w == "u" { bits |= 0o4000 } else if w == "g" { bits |= 0o2000 }
                    case "t": bits |= 0o1000
                    default: break
                    }
                }
            }
            switch op {
            case "+": mode |= bits
            case "-": mode &= ~bits
            default:
                var clear: mode_t = 0
                for w in targets { clear |= 0o7 << (w == "u" ? 6 : w == "g" ? 3 : 0) }
                mode = (mode & ~clear) | bits
            }
        }
        return mode
    }
}
