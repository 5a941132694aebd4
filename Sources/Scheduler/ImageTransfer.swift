#if canImport(Glibc)
import Glibc
#endif
import ComposeModel
import Engine
import Registry
import Synchronization

/// How far a layer's transfer is: bytes done of the total.
public struct TransferAmount: Sendable, Equatable {
    public var done: Int64
    public var total: Int64
}

/// Progress of the layers under a service line (`292027204928 Downloading [==>   ]  1.2MB/3.4MB`).
public protocol LayerProgressReporter: ProgressReporter {
    func layer(_ service: String, _ id: String, _ status: String, _ amount: TransferAmount?)
}

/// Delivers events from concurrent transfers to a reporter one at a time: every call to the
/// (non-Sendable) reporter happens under the lock, which is what makes sharing it sound.
final class SerializedReporter: @unchecked Sendable {
    let reporter: ProgressReporter
    let lock = Mutex(())
    let quiet: Bool

    init(_ reporter: ProgressReporter, quiet: Bool) {
        self.reporter = reporter
        self.quiet = quiet
    }

    func event(_ name: String, _ status: String) {
        guard !quiet else { return }
        lock.withLock { _ in reporter.event("", name, status) }
    }

    func layer(_ service: String, _ digest: Digest, _ words: (status: String, amount: TransferAmount?)) {
        guard !quiet, let r = reporter as? LayerProgressReporter else { return }
        lock.withLock { _ in r.layer(service, digest.short, words.status, words.amount) }
    }

    func warning(_ text: String) { lock.withLock { _ in reporter.warning(text) } }

    func event(_ kind: String, _ name: String, _ status: String) {
        guard !quiet else { return }
        lock.withLock { _ in reporter.event(kind, name, status) }
    }

    /// A build's progress line.
    func line(_ text: String) {
        guard !quiet else { return }
        lock.withLock { _ in reporter.line(text) }
    }
}

/// docker's progress bar: `[=====>      ]  12.3MB/45.6MB` (50 wide, sizes in SI units).
public func transferBar(_ done: Int64, _ total: Int64) -> String {
    guard total > 0 else { return humanSize(done) }
    let filled = Int(min(50, max(0, 50 * Double(done) / Double(total))))
    let bar = String(repeating: "=", count: filled) + ">" + String(repeating: " ", count: 50 - filled)
    return "[\(bar)]  \(humanSize(done))/\(humanSize(total))"
}

public func humanSize(_ n: Int64) -> String { ByteCount.human(n, significant: 4) }

extension LayerProgress {
    /// docker's words for the state, and the amount when bytes are moving.
    public var words: (status: String, amount: TransferAmount?) {
        switch self {
        case .alreadyExists: return ("Already exists", nil)
        case .pullingFSLayer: return ("Pulling fs layer", nil)
        case .waiting: return ("Waiting", nil)
        case .downloading(let done, let total): return ("Downloading", TransferAmount(done: done, total: total))
        case .verifyingChecksum: return ("Verifying Checksum", nil)
        case .downloadComplete: return ("Download complete", nil)
        case .extracting: return ("Extracting", nil)
        case .pullComplete: return ("Pull complete", nil)
        }
    }
}

extension PushProgress {
    public var words: (status: String, amount: TransferAmount?) {
        switch self {
        case .preparing: return ("Preparing", nil)
        case .layerAlreadyExists: return ("Layer already exists", nil)
        case .pushing(let done, let total): return ("Pushing", TransferAmount(done: done, total: total))
        case .pushed: return ("Pushed", nil)
        }
    }
}

/// A transfer done for a service (its progress goes on the service's line).
protocol ServiceTransfer {
    var service: String { get }
}

extension Orchestrator {
    public struct PullOptions: Sendable {
        public var services: [String] = []
        public var includeDependencies = false
        public var ignoreFailures = false
        /// `missing` pulls only what the store lacks; `always` (the default of `pull`) everything.
        public var policy = "always"
        public var quiet = false

        public init() {}
    }

    struct PullJob: Sendable, ServiceTransfer {
        var service: String
        var reference: ImageReference
        var platform: Platform?
    }

    /// `pull`: every selected service's image (services without one, or built ones whose policy is
    /// `build`, are left out).
    public func pull(_ options: PullOptions) throws(SwcomposeError) {
        try checkServices(options.services)
        let names = selection(options.services, withDependencies: options.includeDependencies)
        let stored = (try? images.list()) ?? []
        var jobs: [PullJob] = []
        for name in names {
            guard let service = project.services[name], !service.image.isEmpty, service.pullPolicy != "build" else { continue }
            let job = try pullJob(service)
            if options.policy == "missing" && isStored(job, stored) { continue }
            jobs.append(job)
        }
        var failures = runPulls(jobs, quiet: options.quiet)
        // As docker compose: an image that a service can build is not a pull failure.
        let buildable = failures.filter { project.services[$0.service]?.build != nil }.map(\.service)
        if !buildable.isEmpty {
            failures.removeAll { buildable.contains($0.service) }
            progress.warning("Some service image(s) must be built from source: \(buildable.sorted().joined(separator: " ")) (swcompose does not build images: build them elsewhere and load them with `swcompose image load`)")
        }
        if let first = failures.first, !options.ignoreFailures {
            throw SwcomposeError(.network, first.message)
        }
    }

    func pullJob(_ service: ServiceConfig) throws(SwcomposeError) -> PullJob {
        let reference: ImageReference
        do { reference = try ImageReference(parsing: service.image) } catch {
            let message = "service \"\(service.name)\": \(error)"
            throw SwcomposeError(.invalidArgument, message, at: service.locations["image"] ?? service.location)
        }
        var platform: Platform?
        if !service.platform.isEmpty {
            guard let p = Platform(parsing: service.platform) else {
                let message = "service \"\(service.name)\": invalid platform \"\(service.platform)\" (use os/arch[/variant], e.g. linux/arm64)"
                throw SwcomposeError(.invalidArgument, message, at: service.locations["platform"] ?? service.location)
            }
            platform = p
        }
        return PullJob(service: service.name, reference: reference, platform: platform)
    }

    func isStored(_ job: PullJob, _ stored: [ImageRecord]) -> Bool {
        (try? images.resolve(job.reference.description, among: stored)) != nil
    }

    /// Whether `up` pulls a service's image: its `pull_policy` (or `--pull`, which overrides it).
    func shouldPull(_ service: ServiceConfig, job: PullJob, override: String?, present: Bool) throws(SwcomposeError) -> Bool {
        let policy = override ?? (service.pullPolicy.isEmpty ? "missing" : service.pullPolicy)
        switch policy {
        case "always", "refresh": return true
        case "never": return false
        case "missing", "if_not_present": return !present
        case "build": return false
        case "daily", "weekly":
            return !present || isStale(job.reference, seconds: policy == "daily" ? 86400 : 7 * 86400)
        default:
            if policy.hasPrefix("every_"), let seconds = Self.duration(String(policy.dropFirst(6))) {
                return !present || isStale(job.reference, seconds: seconds)
            }
            let message = "service \"\(service.name)\": invalid pull_policy \"\(policy)\""
            throw SwcomposeError(.invalidArgument, message, at: service.locations["pull_policy"] ?? service.location)
        }
    }

    func isStale(_ reference: ImageReference, seconds: Int64) -> Bool {
        guard let last = images.lastPulled(reference) else { return true }
        return Int64(time(nil)) - last >= seconds
    }

    /// `1w2d3h4m5s` in seconds.
    static func duration(_ text: String) -> Int64? {
        var total: Int64 = 0
        var number: Int64?
        for c in text {
            if let d = c.wholeNumberValue, c.isASCII {
                number = (number ?? 0) * 10 + Int64(d)
                continue
            }
            guard let n = number else { return nil }
            switch c {
            case "w": total += n * 7 * 86400
            case "d": total += n * 86400
            case "h": total += n * 3600
            case "m": total += n * 60
            case "s": total += n
            default: return nil
            }
            number = nil
        }
        return number == nil && !text.isEmpty ? total : nil
    }

    /// Before `up`/`create`/`run`: pulls what the services' policies (or `--pull`) ask for. A failed
    /// pull of an image that is present only warns; of one that is missing, fails.
    public func pullForUp(services names: [String], override: String?, quiet: Bool) throws(SwcomposeError) {
        if let override, !["always", "missing", "never", "build", "policy"].contains(override) {
            throw SwcomposeError(.notFound, "invalid --pull \"\(override)\": use always, missing or never")
        }
        let effective = override == "policy" || override == "build" ? nil : override
        let stored = (try? images.list()) ?? []
        var jobs: [PullJob] = []
        for name in names {
            guard let service = project.services[name], !service.image.isEmpty else { continue }
            let job = try pullJob(service)
            if try shouldPull(service, job: job, override: effective, present: isStored(job, stored)) { jobs.append(job) }
        }
        // The images of pre_start hooks and of image mounts, when the store lacks them.
        var hookJobs: [PullJob] = []
        for name in names {
            for v in project.services[name]?.volumes ?? [] where v.type == "image" {
                guard let reference = try? ImageReference(parsing: v.source) else {
                    throw SwcomposeError(.invalidArgument, "service \"\(name)\": invalid image \(v.source) of the image mount at \(v.target)", at: v.location)
                }
                let job = PullJob(service: name, reference: reference, platform: nil)
                if !isStored(job, stored) && !hookJobs.contains(where: { $0.reference == reference }) { hookJobs.append(job) }
            }
            for hook in project.services[name]?.preStart ?? [] where !hook.image.isEmpty {
                guard let reference = try? ImageReference(parsing: hook.image) else {
                    throw SwcomposeError(.invalidArgument, "service \"\(name)\": invalid pre_start image \(hook.image)", at: hook.location)
                }
                let job = PullJob(service: name, reference: reference, platform: nil)
                if !isStored(job, stored) && !hookJobs.contains(where: { $0.reference == reference }) { hookJobs.append(job) }
            }
        }
        if !hookJobs.isEmpty && !dryRun {
            if let failure = runPulls(hookJobs, quiet: quiet).first {
                let wanted = hookJobs.filter { $0.service == failure.service }.map(\.reference.familiar).joined(separator: ", ")
                throw SwcomposeError(.notFound, "cannot pull \(wanted) (mounted by service \"\(failure.service)\" or run as its pre_start hook): \(failure.message)")
            }
        }
        guard !jobs.isEmpty else { return }
        if dryRun {
            for job in jobs { progress.event("", job.service, "Pulling") }
            return
        }
        let failures = runPulls(jobs, quiet: quiet)
        for failure in failures {
            if let job = jobs.first(where: { $0.service == failure.service }), isStored(job, stored) {
                progress.warning("pulling \(job.reference.familiar) for service \(failure.service) failed; using the image in the store: \(failure.message)")
                continue
            }
            let message = "cannot pull image \(project.services[failure.service]?.image ?? "") of service \"\(failure.service)\": \(failure.message)"
            let location = project.services[failure.service].flatMap { $0.locations["image"] ?? $0.location }
            throw SwcomposeError(.notFound, message, at: location)
        }
    }

    struct TransferFailure: Sendable {
        var service: String
        var message: String
    }

    /// Pulls each distinct image once (services sharing one are told so), all at once.
    func runPulls(_ jobs: [PullJob], quiet: Bool) -> [TransferFailure] {
        let sink = SerializedReporter(progress, quiet: quiet)
        var firstOf: [String: String] = [:]
        var unique: [PullJob] = []
        for job in jobs {
            let key = job.reference.description + " " + (job.platform?.description ?? "")
            if let first = firstOf[key] {
                sink.event(job.service, "Skipped - Image is already being pulled by \(first)")
                continue
            }
            firstOf[key] = job.service
            unique.append(job)
        }
        guard !unique.isEmpty else { return [] }
        let store = images
        return runTransfers(unique, sink: sink, start: "Pulling", done: "Pulled") { client, job in
            _ = try await ImagePuller(store: store, client: client).pull(job.reference, platform: job.platform) { digest, state in
                sink.layer(job.service, digest, state.words)
            }
        }
    }

    /// Runs one transfer per item, all at once, each announced and concluded on its service's line
    /// (`web Pulling` … `web Pulled`, or `web Error <why>`); returns the failures.
    func runTransfers<Item: Sendable & ServiceTransfer>(_ items: [Item], sink: SerializedReporter, start: String, done: String,
                                                      _ body: @escaping @Sendable (RegistryClient, Item) async throws -> Void) -> [TransferFailure] {
        let environment = processEnvironment
        do {
            return try runBlocking { () async throws -> [TransferFailure] in
                try await RegistryClient.with(environment: environment) { client in
                    await withTaskGroup(of: TransferFailure?.self) { group in
                        for item in items {
                            group.addTask {
                                sink.event(item.service, start)
                                do {
                                    try await body(client, item)
                                    sink.event(item.service, done)
                                    return nil
                                } catch {
                                    sink.event(item.service, "Error \(error)")
                                    return TransferFailure(service: item.service, message: "\(error)")
                                }
                            }
                        }
                        var failures: [TransferFailure] = []
                        for await f in group { if let f { failures.append(f) } }
                        return failures
                    }
                }
            }
        } catch {
            return items.map { TransferFailure(service: $0.service, message: "\(error)") }
        }
    }

    // MARK: - Push

    struct PushJob: Sendable, ServiceTransfer {
        var service: String
        var image: ImageRecord
        var reference: ImageReference
    }

    public struct PushOptions: Sendable {
        public var services: [String] = []
        public var includeDependencies = false
        public var ignoreFailures = false
        public var quiet = false

        public init() {}
    }

    /// `push`: as docker compose, the images of services that have both a `build` section and an
    /// `image` name, from the store (`build --push` builds them first).
    public func push(_ options: PushOptions) throws(SwcomposeError) {
        try checkServices(options.services)
        let names = selection(options.services, withDependencies: options.includeDependencies)
        let sink = SerializedReporter(progress, quiet: options.quiet)
        var work: [PushJob] = []
        for name in names {
            guard let service = project.services[name] else { continue }
            guard service.build != nil, !service.image.isEmpty else {
                sink.event(name, "Skipped")
                continue
            }
            let job = try pullJob(service)
            let image = try self.image(for: service)
            work.append(PushJob(service: name, image: image, reference: job.reference))
        }
        guard !work.isEmpty else { return }
        let store = images
        let failures = runTransfers(work, sink: sink, start: "Pushing", done: "Pushed") { client, item in
            _ = try await ImagePusher(store: store, client: client).push(item.image, to: item.reference) { digest, state in
                sink.layer(item.service, digest, state.words)
            }
        }
        if let first = failures.first, !options.ignoreFailures { throw SwcomposeError(.network, first.message) }
    }
}

/// Image work on a project as a whole, apart from an orchestrator.
public enum ImageTransfer {
    /// `config --resolve-image-digests`: every service's image pinned to the digest its registry
    /// serves it under (`name:tag@sha256:…`).
    public static func pinDigests(_ project: inout Project, environment: [String: String]) throws(SwcomposeError) {
        var wanted: [String: ImageReference] = [:]
        for (name, service) in project.services where !service.image.isEmpty {
            guard let ref = try? ImageReference(parsing: service.image) else {
                throw SwcomposeError(.invalidArgument, "service \"\(name)\": invalid image reference \"\(service.image)\"", at: service.locations["image"])
            }
            wanted[name] = ref
        }
        let refs = wanted
        let digests: [String: Digest]
        do {
            digests = try runBlocking {
                try await RegistryClient.with(environment: environment) { client in
                    var found: [String: Digest] = [:]
                    for (name, ref) in refs.sorted(by: { $0.key < $1.key }) where ref.digest == nil {
                        found[name] = try await client.manifest(ref).digest
                    }
                    return found
                }
            }
        } catch {
            throw SwcomposeError(.network, "cannot resolve the images' digests", cause: error as? any Error & Sendable)
        }
        for (name, ref) in wanted {
            var pinned = ref
            if let digest = digests[name] { pinned.digest = digest }
            project.services[name]?.image = pinned.description
        }
    }
}
