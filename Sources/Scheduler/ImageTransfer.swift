#if canImport(Glibc)
import Glibc
#endif
import ComposeModel
import Engine
import Synchronization

/// Progress of the layers under a service line (`292027204928 Downloading [==>   ]  1.2MB/3.4MB`).
public protocol LayerProgressReporter: ProgressReporter {
    func layer(_ service: String, _ id: String, _ status: String, _ detail: String)
}

/// Delivers events from concurrent transfers to a reporter one at a time.
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

    func layer(_ service: String, _ digest: Digest, _ status: String, _ detail: String = "") {
        guard !quiet, let r = reporter as? LayerProgressReporter else { return }
        lock.withLock { _ in r.layer(service, digest.short, status, detail) }
    }

    func warning(_ text: String) { lock.withLock { _ in reporter.warning(text) } }
}

/// docker's progress bar: `[=====>      ]  12.3MB/45.6MB` (50 wide, sizes in SI units).
public func transferBar(_ done: Int64, _ total: Int64) -> String {
    guard total > 0 else { return humanSize(done) }
    let filled = Int(min(50, max(0, 50 * Double(done) / Double(total))))
    let bar = String(repeating: "=", count: filled) + ">" + String(repeating: " ", count: 50 - filled)
    return "[\(bar)]  \(humanSize(done))/\(humanSize(total))"
}

/// go-units' `HumanSizeWithPrecision(n, 4)`: `36.45kB`, `1.069MB`.
public func humanSize(_ n: Int64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB"]
    var value = Double(n)
    var i = 0
    while value >= 1000 && i < units.count - 1 {
        value /= 1000
        i += 1
    }
    // printf's %.4g: four significant digits, trailing zeros dropped.
    let integerDigits = value >= 100 ? 3 : value >= 10 ? 2 : 1
    var text = formatFixed(value, max(0, 4 - integerDigits))
    if text.contains(".") {
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
    }
    return text + units[i]
}

func formatFixed(_ v: Double, _ digits: Int) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let rounded = (v * scale).rounded() / scale
    let whole = Int64(rounded)
    if digits == 0 { return String(whole) }
    var fraction = String(Int64(((rounded - Double(whole)) * scale).rounded()))
    fraction = String(repeating: "0", count: max(0, digits - fraction.count)) + fraction
    return "\(whole).\(fraction)"
}

extension LayerProgress {
    var words: (String, String) {
        switch self {
        case .alreadyExists: return ("Already exists", "")
        case .pullingFSLayer: return ("Pulling fs layer", "")
        case .waiting: return ("Waiting", "")
        case .downloading(let done, let total): return ("Downloading", transferBar(done, total))
        case .verifyingChecksum: return ("Verifying Checksum", "")
        case .downloadComplete: return ("Download complete", "")
        case .extracting: return ("Extracting", "")
        case .pullComplete: return ("Pull complete", "")
        }
    }
}

extension PushProgress {
    var words: (String, String) {
        switch self {
        case .preparing: return ("Preparing", "")
        case .layerAlreadyExists: return ("Layer already exists", "")
        case .pushing(let done, let total): return ("Pushing", transferBar(done, total))
        case .pushed: return ("Pushed", "")
        }
    }
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

    struct PullJob: Sendable {
        var service: String
        var reference: ImageReference
        var platform: Platform?
    }

    /// `pull`: every selected service's image (services without one, or built ones whose policy is
    /// `build`, are left out).
    public func pull(_ options: PullOptions) throws(OrchestrationError) {
        try checkServices(options.services)
        let names = selection(options.services, withDependencies: options.includeDependencies)
        var jobs: [PullJob] = []
        for name in names {
            guard let service = project.services[name], !service.image.isEmpty, service.pullPolicy != "build" else { continue }
            let job = try pullJob(service)
            if options.policy == "missing" && (try? images.resolve(job.reference.description)) != nil { continue }
            jobs.append(job)
        }
        let failures = runPulls(jobs, quiet: options.quiet)
        if let first = failures.first, !options.ignoreFailures {
            throw OrchestrationError(first.message, diagnostics: [])
        }
    }

    func pullJob(_ service: ServiceConfig) throws(OrchestrationError) -> PullJob {
        let reference: ImageReference
        do { reference = try ImageReference(parsing: service.image) } catch {
            let message = "service \"\(service.name)\": \(error)"
            throw OrchestrationError(message, diagnostics: [.error(message, at: service.locations["image"] ?? service.location)])
        }
        var platform: Platform?
        if !service.platform.isEmpty {
            guard let p = Platform(parsing: service.platform) else {
                let message = "service \"\(service.name)\": invalid platform \"\(service.platform)\" (use os/arch[/variant], e.g. linux/arm64)"
                throw OrchestrationError(message, diagnostics: [.error(message, at: service.locations["platform"] ?? service.location)])
            }
            platform = p
        }
        return PullJob(service: service.name, reference: reference, platform: platform)
    }

    /// Whether `up` pulls a service's image: its `pull_policy` (or `--pull`, which overrides it).
    func shouldPull(_ service: ServiceConfig, job: PullJob, override: String?) throws(OrchestrationError) -> Bool {
        let policy = override ?? (service.pullPolicy.isEmpty ? "missing" : service.pullPolicy)
        let present = (try? images.resolve(job.reference.description)) != nil
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
            throw OrchestrationError(message, diagnostics: [.error(message, at: service.locations["pull_policy"] ?? service.location)])
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
    public func pullForUp(services names: [String], override: String?, quiet: Bool) throws(OrchestrationError) {
        if let override, !["always", "missing", "never", "build", "policy"].contains(override) {
            throw OrchestrationError("invalid --pull \"\(override)\": use always, missing or never")
        }
        let effective = override == "policy" || override == "build" ? nil : override
        var jobs: [PullJob] = []
        for name in names {
            guard let service = project.services[name], !service.image.isEmpty else { continue }
            let job = try pullJob(service)
            if try shouldPull(service, job: job, override: effective) { jobs.append(job) }
        }
        guard !jobs.isEmpty else { return }
        if dryRun {
            for job in jobs { progress.event("", job.service, "Pulling") }
            return
        }
        let failures = runPulls(jobs, quiet: quiet)
        for failure in failures {
            if let job = jobs.first(where: { $0.service == failure.service }), (try? images.resolve(job.reference.description)) != nil {
                progress.warning("pulling \(job.reference.familiar) for service \(failure.service) failed; using the image in the store: \(failure.message)")
                continue
            }
            let message = "cannot pull image \(project.services[failure.service]?.image ?? "") of service \"\(failure.service)\": \(failure.message)"
            let location = project.services[failure.service].flatMap { $0.locations["image"] ?? $0.location }
            throw OrchestrationError(message, diagnostics: location.map { [.error(message, at: $0)] } ?? [])
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
        let pulls = unique
        let store = images
        let environment = processEnvironment
        let result: [TransferFailure]
        do {
            result = try runBlocking { () async throws -> [TransferFailure] in
                try await RegistryClient.with(environment: environment) { client in
                    let puller = ImagePuller(store: store, client: client)
                    return await withTaskGroup(of: TransferFailure?.self) { group in
                        for job in pulls {
                            group.addTask {
                                sink.event(job.service, "Pulling")
                                do {
                                    _ = try await puller.pull(job.reference, platform: job.platform) { digest, state in
                                        let (status, detail) = state.words
                                        sink.layer(job.service, digest, status, detail)
                                    }
                                    sink.event(job.service, "Pulled")
                                    return nil
                                } catch {
                                    let message = "\(error)"
                                    sink.event(job.service, "Error \(message)")
                                    return TransferFailure(service: job.service, message: message)
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
            return pulls.map { TransferFailure(service: $0.service, message: "\(error)") }
        }
        return result
    }

    // MARK: - Push

    public struct PushOptions: Sendable {
        public var services: [String] = []
        public var includeDependencies = false
        public var ignoreFailures = false
        public var quiet = false

        public init() {}
    }

    /// `push`: as docker compose, the images of services that have both a `build` section and an
    /// `image` name (the image is taken from the store; swcompose does not build).
    public func push(_ options: PushOptions) throws(OrchestrationError) {
        try checkServices(options.services)
        let names = selection(options.services, withDependencies: options.includeDependencies)
        let sink = SerializedReporter(progress, quiet: options.quiet)
        var work: [(service: String, image: ImageRecord, reference: ImageReference)] = []
        for name in names {
            guard let service = project.services[name] else { continue }
            guard service.build != nil, !service.image.isEmpty else {
                sink.event(name, "Skipped")
                continue
            }
            let job = try pullJob(service)
            let image = try self.image(for: service)
            work.append((name, image, job.reference))
        }
        guard !work.isEmpty else { return }
        let store = images
        let environment = processEnvironment
        let items = work
        let failures: [TransferFailure]
        do {
            failures = try runBlocking { () async throws -> [TransferFailure] in
                try await RegistryClient.with(environment: environment) { client in
                    let pusher = ImagePusher(store: store, client: client)
                    return await withTaskGroup(of: TransferFailure?.self) { group in
                        for item in items {
                            group.addTask {
                                sink.event(item.service, "Pushing")
                                do {
                                    _ = try await pusher.push(item.image, to: item.reference) { digest, state in
                                        let (status, detail) = state.words
                                        sink.layer(item.service, digest, status, detail)
                                    }
                                    sink.event(item.service, "Pushed")
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
            throw OrchestrationError("\(error)")
        }
        if let first = failures.first, !options.ignoreFailures { throw OrchestrationError(first.message) }
    }
}
