#if canImport(Glibc)
import Glibc
#endif
import Diagnostics
import Synchronization

/// Builds images from Dockerfiles on the container core: a RUN step is a container of the runtime
/// (docker's default capabilities and seccomp profile) over the parent layers with a fresh upper
/// directory, packed as the step's layer; COPY and ADD write a new layer directly. Every step that
/// makes a layer is cached by a key of its parent's key, the instruction as expanded, the build args
/// in scope and, for COPY/ADD, the content of exactly the files it copies.
public final class Builder {
    public let runtime: Runtime
    public let images: ImageStore
    /// Finds (or pulls) a FROM image; pulls it even when the store has it when asked to (`pull`).
    let base: (_ reference: String, _ pull: Bool) throws -> ImageRecord
    /// Progress lines (to standard error).
    let output: (String) -> Void
    /// Downloads a URL (`ADD https://…`) to a file: its digest, size and Last-Modified time.
    let fetch: ((String, String) throws -> (digest: Digest, size: Int64, modified: Int64?))?
    let cache: BuildCache
    let files: FileHashCache
    /// What this builder shares with its siblings (builds at the same time in this process).
    let common: Common
    var explainer: BuildExplainer?
    /// Lines held back while a `quietUntilChanged` build finds everything cached; nil once it did not.
    var heldBack: [String]?
    /// Whether the last build ran any step (false: everything came from the cache).
    public private(set) var ranSteps = false
    /// The steps that made the last build's image, and every stage's steps (what `cache_to` exports,
    /// in mode `min` and `max`).
    public private(set) var imageSteps: [BuildCacheStep] = []
    public private(set) var allSteps: [BuildCacheStep] = []
    var interruptsAtStart: Int32 = 0
    /// Independent stages build at once: what they share (progress, the explainer) goes one at a time.
    let shared = Mutex<Int>(0)

    public init(runtime: Runtime, images: ImageStore, base: @escaping (_ reference: String, _ pull: Bool) throws -> ImageRecord,
                output: @escaping (String) -> Void,
                fetch: ((String, String) throws -> (digest: Digest, size: Int64, modified: Int64?))? = nil) {
        self.runtime = runtime
        self.images = images
        self.base = base
        self.output = output
        self.fetch = fetch
        cache = BuildCache(directory: runtime.root.path + "/build-cache")
        files = FileHashCache(path: runtime.root.path + "/build-cache/files")
        common = Common()
    }

    private init(sibling of: Builder) {
        runtime = of.runtime
        images = of.images
        base = of.base
        output = of.output
        fetch = of.fetch
        cache = of.cache
        files = of.files
        common = of.common
    }

    /// What builds running at once share: a step one of them is running is waited for by the others
    /// (and then found in the cache), so a base stage several services share is built once; the
    /// build network stays until `finish()`; a failed build can cancel the others.
    final class Common: @unchecked Sendable {
        let claims = StepClaims()
        let cancelled = Atomic<Bool>(false)
        let usedNetwork = Atomic<Bool>(false)
    }

    /// A builder for another build at the same time as this one's: the same store, cache, file digests
    /// and steps in progress; its own progress and explanation. `finish()` the first one, once.
    public func sibling() -> Builder { Builder(sibling: self) }

    /// Stops the builds of this builder and its siblings at their next step (their running steps'
    /// containers are stopped), as Ctrl-C would; they fail with `.interrupted`.
    public func cancel() { common.cancelled.store(true, ordering: .relaxed) }

    /// Once the builds are done: remembers the context files' digests and lets the build network and
    /// supervisor go.
    public func finish() {
        files.save()
        if common.usedNetwork.load(ordering: .relaxed) { BuildNetwork(runtime: runtime).release() }
        SupervisorClient.release(runtime: runtime, group: Self.group)
    }

    /// What each stage is when it has been built.
    struct StageResult {
        var state: StageState
    }

    /// One stage as it builds: the image so far and the scope of its instructions.
    struct StageState {
        var config = ContainerConfig()
        var layers: [LayerStore.Layer] = []
        var layerDescriptors: [Descriptor] = []
        var history: [ImageConfiguration.History] = []
        /// The cache key of the image so far.
        var key: Digest
        /// The cached steps whose layers the image so far has (a stage built on another has its steps).
        var steps: [BuildCacheStep] = []
        /// ARGs in scope (name → value; nil when declared without a value).
        var args: [String: String] = [:]
        /// The global ARGs (before the first FROM), as a stage's `ARG NAME` finds their defaults.
        var meta: [String: String] = [:]
        var shell = ["/bin/sh", "-c"]
        /// CMD set in this build (an ENTRYPOINT then keeps it).
        var cmdSet = false
        /// The base image's ONBUILD triggers, still to run.
        var triggers: [String] = []
        /// The time of the newest layer so far (metadata steps and the image take it).
        var lastCreated: String?
        var author: String?
        var platform = Platform.host

        var env: [String] { config.env ?? [] }

        /// What `$VAR` sees: args, then ENV over them.
        var variables: [String: String] {
            var v = args
            for e in env {
                if let eq = e.firstIndex(of: "=") { v[String(e[..<eq])] = String(e[e.index(after: eq)...]) }
            }
            return v
        }

        /// As docker: a variable already set keeps its place, a new one goes last.
        mutating func setEnv(_ key: String, _ value: String) {
            var e = config.env ?? []
            if let i = e.firstIndex(where: { $0.hasPrefix(key + "=") }) {
                e[i] = key + "=" + value
                e = e.enumerated().filter { $0.offset == i || !$0.element.hasPrefix(key + "=") }.map(\.element)
            } else {
                e.append(key + "=" + value)
            }
            config.env = e
        }
    }

    struct Stage {
        var index: Int
        var name: String?
        var from: Dockerfile.Instruction
        var instructions: [Dockerfile.Instruction]
    }

    // MARK: - Building

    public func build(_ request: BuildRequest) throws(BuildError) -> ImageRecord {
        try Interrupts.counting { () throws(BuildError) -> ImageRecord in
            interruptsAtStart = Interrupts.count
            return try buildCounting(request)
        }
    }

    /// Whether Ctrl-C came since the build began (or a sibling's failure cancelled it).
    var interrupted: Bool { Interrupts.count != interruptsAtStart || common.cancelled.load(ordering: .relaxed) }

    func buildCounting(_ request: BuildRequest) throws(BuildError) -> ImageRecord {
        let started = MonotonicClock.now()
        let file = request.dockerfilePath
        let text: String
        if let inline = request.dockerfileInline {
            text = inline
        } else {
            do { text = try Files.readText(file) } catch {
                throw .failed("failed to read dockerfile: open \(file): \(error.message)", location: nil)
            }
        }
        let (dockerfile, problems) = Dockerfile.parse(text, file: file)
        if !problems.isEmpty { throw .dockerfile(problems, source: text, file: file) }
        let (globalArgs, stages) = split(dockerfile)
        let predefined = Self.predefinedArgs(request.args)
        // Global ARGs: expanded with the ones before them.
        var meta: [String: String] = predefined
        var semantic: [Diagnostic] = []
        for a in globalArgs {
            do {
                for (k, v) in try ShellWords(escape: dockerfile.escape, variables: meta).pairs(a.text, legacy: false) {
                    if let value = request.args[k] ?? v { meta[k] = value }
                }
            } catch { semantic.append(.error(error.description, at: a.textLocation)) }
        }
        // The target and the stages it needs.
        let targetIndex: Int
        if let target = request.target {
            guard let i = stages.firstIndex(where: { $0.name?.lowercased() == target.lowercased() }) else {
                throw .failed("target stage \"\(target)\" could not be found", location: nil)
            }
            targetIndex = i
        } else {
            targetIndex = stages.count - 1
        }
        // The stages it needs, each with the stages it reads.
        var dependsOn: [Int: Set<Int>] = [:]
        func need(_ i: Int) {
            guard dependsOn[i] == nil else { return }
            let reads = dependencies(of: stages[i], among: stages, meta: meta, escape: dockerfile.escape, problems: &semantic)
            dependsOn[i] = Set(reads)
            for dependency in reads { need(dependency) }
        }
        need(targetIndex)
        let needed = Set(dependsOn.keys)
        if !semantic.isEmpty { throw .dockerfile(semantic, source: text, file: file) }
        let context = try BuildContext(directory: request.context, dockerfile: request.dockerfileInline == nil ? file : nil)
        explainer = BuildExplainer(directory: runtime.root.path + "/build-cache/explain", build: "\(file)\n\(request.target ?? "")\n\(request.tags.first?.description ?? "")")
        defer { explainer?.save(); explainer = nil }
        heldBack = request.quietUntilChanged ? [] : nil
        defer { heldBack = nil }
        ranSteps = false
        imageSteps = []
        allSteps = []
        for name in request.noCacheStages.sorted() where !stages.contains(where: { $0.name == name }) {
            progress(request, "WARNING: no_cache_filter names \(name), which is not a stage of \(request.dockerfileInline == nil ? file : "the Dockerfile")")
        }
        var results: [Int: StageState] = [:]
        var steps = 0
        /// A stage's state, and its number of steps as BuildKit counts them (FROM and each instruction
        /// that makes a layer, the base image's ONBUILD triggers included).
        func buildStage(_ i: Int, _ results: [Int: StageState], _ network: inout BuildNetwork?) throws(BuildError) -> (StageState, Int) {
            let s = stages[i]
            let label = (request.label.isEmpty ? "" : request.label + " ") + (s.name.map { "\($0) " } ?? (stages.count > 1 ? "stage-\(i) " : ""))
            var request = request
            if let name = s.name, request.noCacheStages.contains(name) { request.noCache = true }
            var (state, base) = try from(s, meta: meta, results: results, stages: stages, escape: dockerfile.escape, request: request)
            var vertex = 1
            // The base image's ONBUILD triggers run first, as the child's own instructions.
            var instructions = s.instructions
            if !state.triggers.isEmpty {
                let (parsed, problems) = Dockerfile.parse("FROM scratch\n" + state.triggers.joined(separator: "\n"), file: s.from.location.file)
                if let problem = problems.first { throw .failed("ONBUILD trigger of the base image: \(problem.message)", location: s.from.location) }
                instructions = parsed.instructions.dropFirst().map { var t = $0; t.location = s.from.location; t.textLocation = s.from.textLocation; return t } + instructions
                state.triggers = []
            }
            let total = 1 + instructions.filter { Self.layerInstructions.contains($0.keyword) }.count
            progress(request, " => [\(label)1/\(total)] FROM \(base)")
            for instruction in instructions {
                if interrupted { throw .interrupted }
                if Self.layerInstructions.contains(instruction.keyword) { vertex += 1 }
                try step(instruction, number: vertex, total: total, label: label, state: &state, request: request,
                         context: context, results: results, stages: stages, escape: dockerfile.escape, network: &network)
            }
            return (state, total)
        }
        // Waves of the stages whose dependencies are built: a wave's stages build at once.
        while results.count < needed.count {
            let ready = needed.filter { results[$0] == nil && dependsOn[$0]!.allSatisfy { results[$0] != nil } }.sorted()
            guard !ready.isEmpty else { throw .failed("the build stages depend on each other in a cycle", location: nil) }
            let done = results
            let outcomes = Mutex<[Int: UncheckedBox<(Result<(StageState, Int), BuildError>, BuildNetwork?)>]>([:])
            // The stages' states are values and what they share is locked (`shared`, the file-hash
            // cache): safe to hand to the worker threads.
            let job = UncheckedBox { (n: Int) -> (Result<(StageState, Int), BuildError>, BuildNetwork?) in
                var network: BuildNetwork?
                do throws(BuildError) {
                    return (.success(try buildStage(ready[n], done, &network)), network)
                } catch {
                    return (.failure(error), network)
                }
            }
            Threads.concurrently(ready.count) { n in
                let outcome = job.value(n)
                outcomes.withLock { $0[ready[n]] = UncheckedBox(outcome) }
            }
            var failure: BuildError?
            for i in ready {
                let (outcome, network) = outcomes.withLock { $0[i]!.value }
                if network != nil { common.usedNetwork.store(true, ordering: .relaxed) }
                switch outcome {
                case .success(let (state, total)):
                    results[i] = state
                    steps += total
                case .failure(let error):
                    failure = failure ?? error
                }
            }
            if let failure { throw failure }
        }
        if interrupted { throw .interrupted }
        var final = results[targetIndex]!
        for (k, v) in request.labels.sorted(by: { $0.key < $1.key }) {
            var labels = final.config.labels ?? [:]
            labels[k] = v
            final.config.labels = labels
        }
        let image = try commit(final, tags: request.tags)
        imageSteps = final.steps
        var seen: Set<Digest> = []
        allSteps = results.keys.sorted().flatMap { results[$0]!.steps }.filter { seen.insert($0.key).inserted }
        if request.progress != .quiet && heldBack == nil {
            output(" => exporting to image")
            for t in request.tags { output(" => => naming to \(t.description)") }
            output(String(format: "[+] Building %.1fs (%d/%d) FINISHED", MonotonicClock.now() - started, steps, steps))
        }
        return image
    }

    /// TARGETPLATFORM, BUILDARCH…: this host's platform (builds are for the host only).
    static func predefinedArgs(_ given: [String: String]) -> [String: String] {
        let p = Platform.host
        let platform = p.description
        var a = ["TARGETPLATFORM": platform, "TARGETOS": p.os, "TARGETARCH": p.architecture, "TARGETVARIANT": p.variant ?? "",
                 "BUILDPLATFORM": platform, "BUILDOS": p.os, "BUILDARCH": p.architecture, "BUILDVARIANT": p.variant ?? ""]
        for (k, v) in given where a[k] != nil { a[k] = v }
        return a
    }

    static let layerInstructions: Set<String> = ["RUN", "COPY", "ADD", "WORKDIR"]

    /// Proxy args: usable without an ARG, kept out of the history and the cache key (as docker does).
    static let proxyArgs: Set<String> = ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"]

    func split(_ d: Dockerfile) -> ([Dockerfile.Instruction], [Stage]) {
        var global: [Dockerfile.Instruction] = []
        var stages: [Stage] = []
        for i in d.instructions {
            if i.keyword == "FROM" {
                let words = i.text.split(whereSeparator: { $0 == " " || $0 == "\t" })
                let name = words.count == 3 && words[1].uppercased() == "AS" ? String(words[2]).lowercased() : nil
                stages.append(Stage(index: stages.count, name: name, from: i, instructions: []))
            } else if stages.isEmpty {
                global.append(i)
            } else {
                stages[stages.count - 1].instructions.append(i)
            }
        }
        return (global, stages)
    }

    /// The stages a stage reads: its FROM, `COPY --from`, `RUN --mount=from=`.
    func dependencies(of s: Stage, among stages: [Stage], meta: [String: String], escape: Character, problems: inout [Diagnostic]) -> [Int] {
        var result: [Int] = []
        func stageIndex(_ name: String, before: Int) -> Int? {
            if let n = Int(name), n < before { return n }
            return stages[..<before].firstIndex { $0.name == name.lowercased() }
        }
        let fromWords = (try? ShellWords(escape: escape, variables: meta).words(s.from.text)) ?? []
        if let image = fromWords.first, let i = stageIndex(image, before: s.index), Int(image) == nil { result.append(i) }
        for i in s.instructions where i.keyword == "COPY" || i.keyword == "ADD" {
            if let from = i.flag("from")?.value {
                if let n = stageIndex(from, before: s.index) { result.append(n) } else if Int(from) != nil || stages.contains(where: { $0.name == from.lowercased() }) {
                    problems.append(.error("stage \"\(from)\" is used before it is defined (COPY --from names an earlier stage, a stage index or an image)", at: i.flag("from")!.location))
                }
            }
        }
        for i in s.instructions where i.keyword == "RUN" {
            for m in i.flags("mount") {
                if let from = MountFlag.parse(m.value ?? "")?.from, let n = stageIndex(from, before: s.index) { result.append(n) }
            }
        }
        return result
    }

    func progress(_ request: BuildRequest, _ text: String) {
        guard request.progress != .quiet else { return }
        shared.withLock { _ in
            if heldBack != nil { heldBack!.append(text) } else { output(text) }
        }
    }

    /// The cache decision for a step that makes a layer, said as progress: CACHED, or run (and why,
    /// with `explain`; the first miss of a `quietUntilChanged` build announces the rebuild).
    func lookup(_ key: Digest, id: String, parent: StageState, instruction: String, args: [String: String], files: [String: String],
                title: String, label: String, request: BuildRequest) throws(BuildError) -> AddedLayer? {
        var hit = request.noCache ? nil : cachedLayer(key, parent: parent)
        // The same step running in another build (a base stage services share): its layer, once made.
        // A miss holds the step's claim until the caller releases it (`common.claims.release`).
        while hit == nil, let running = common.claims.claim(key) {
            running.wait()
            if interrupted { throw .interrupted }
            if !request.noCache || common.claims.wasMade(key) { hit = cachedLayer(key, parent: parent) }
        }
        let record = BuildExplainer.StepRecord(key: key.description, parent: parent.key.description, instruction: instruction, args: args, files: files)
        let reason = shared.withLock { _ in explainer?.note(id, record, hit: hit != nil) }
        if hit != nil {
            progress(request, " => CACHED \(title)")
            return hit
        }
        let why = request.noCache ? "--no-cache" : reason
        shared.withLock { _ in
            ranSteps = true
            if let held = heldBack {
                heldBack = nil
                if request.progress != .quiet {
                    output("Rebuild \(request.label.isEmpty ? "image" : request.label) (\(why ?? "its inputs changed"))")
                    held.forEach(output)
                }
            }
        }
        progress(request, " => \(title)" + (request.explain ? "  (\(why ?? "its inputs changed"))" : ""))
        return nil
    }

    /// FROM: an image (found or pulled), `scratch`, or an earlier stage; with the base as written.
    func from(_ s: Stage, meta: [String: String], results: [Int: StageState], stages: [Stage], escape: Character,
              request: BuildRequest) throws(BuildError) -> (StageState, String) {
        let words: [String]
        do { words = try ShellWords(escape: escape, variables: meta).words(s.from.text) } catch {
            throw .dockerfile([.error(error.description, at: s.from.textLocation)], source: "", file: s.from.location.file)
        }
        guard let written = words.first, !written.isEmpty, words.count == 1 || words.count == 3 && words[1].uppercased() == "AS" else {
            throw .failed("FROM requires either one or three arguments (FROM image [AS name])", location: s.from.location)
        }
        if let p = s.from.flag("platform")?.value, let given = try? ShellWords(escape: escape, variables: meta).expand(p),
           !given.isEmpty, given != Platform.host.description, given != "linux/" + Platform.host.architecture {
            throw .failed("platform \(given) cannot be built on this \(Platform.host) host (swcompose builds for the host's platform only)", location: s.from.flag("platform")!.location)
        }
        var state = StageState(key: Digest.of("scratch"))
        // Global ARGs declared again in a stage take their global value.
        state.meta = meta
        var reference = written
        if let named = request.namedContexts[written] {
            switch named {
            case .image(let image): reference = image
            case .directory(let dir):
                throw .failed("FROM \(written): the named context is a directory (\(dir)); FROM takes an image or a stage", location: s.from.textLocation)
            }
        }
        if reference.lowercased() == "scratch" {
            state.config.env = nil
            return (state, written)
        }
        if let i = stages[..<s.index].firstIndex(where: { $0.name == reference.lowercased() }), let parent = results[i] {
            var st = parent
            st.args = [:]
            st.meta = meta
            st.key = Digest.of("stage \(parent.key)")
            return (st, written)
        }
        let image: ImageRecord
        do { image = try base(reference, request.pull) } catch {
            throw .failed("\(reference): \(error)", location: s.from.textLocation)
        }
        let layers: [LayerStore.Layer]
        do { layers = try images.layers(of: image) } catch {
            throw .failed("\(reference): \(error)", location: s.from.textLocation)
        }
        state.config = image.configuration.config ?? ContainerConfig()
        // An image's ONBUILD triggers run in the child build; the child's image does not keep them.
        state.triggers = state.config.onBuild ?? []
        state.config.onBuild = nil
        state.layers = layers
        state.layerDescriptors = image.manifest.layers
        state.history = image.configuration.history ?? []
        state.key = Digest.of("from \(image.id)")
        shared.withLock { _ in _ = explainer?.bases.insert(state.key.description) }
        state.lastCreated = image.configuration.created
        if state.config.env == nil { state.config.env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"] }
        return (state, written)
    }

    /// Writes the configuration and manifest and names the image.
    func commit(_ state: StageState, tags: [ImageReference]) throws(BuildError) -> ImageRecord {
        var configuration = ImageConfiguration(platform: state.platform, config: state.config, diffIDs: state.layers.map(\.diffID),
                                               created: Timestamp.rfc3339(), history: state.history)
        configuration.created = state.lastCreated ?? state.history.last?.created ?? configuration.created
        configuration.author = state.author
        do {
            return try images.recordBuilt(configuration: configuration, layers: state.layerDescriptors, references: tags)
        } catch {
            throw .failed("cannot record the image: \(error)", location: nil)
        }
    }
}

/// A value handed across threads whose safety the code around it ensures.
final class UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
