import ArgumentParser
import ComposeModel
import Engine
import Registry
import Scheduler
import Synchronization

struct PullCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pull", abstract: "Pull service images.")

    @ParentCommand var root: SWCompose

    @Flag(name: [.short, .long], help: "Pull without printing progress information.")
    var quiet = false

    @Flag(name: .customLong("ignore-pull-failures"), help: "Pull what it can and ignores images with pull failures.")
    var ignorePullFailures = false

    @Flag(name: .customLong("ignore-buildable"), help: "Ignore images that can be built.")
    var ignoreBuildable = false

    @Flag(name: .customLong("include-deps"), help: "Also pull services declared as dependencies.")
    var includeDeps = false

    @Option(name: .customLong("policy"), help: "Apply pull policy (\"missing\"|\"always\").")
    var policy: String?

    @Argument(help: "Services to pull (default: all).")
    var services: [String] = []

    func validate() throws {
        if let policy, policy != "missing" && policy != "always" {
            throw ValidationError("invalid pull policy \"\(policy)\": use missing or always")
        }
    }

    func run() throws {
        let session = try ComposeSession.open(root.global, services: services)
        var options = Orchestrator.PullOptions()
        options.services = services
        options.includeDependencies = includeDeps
        options.ignoreFailures = ignorePullFailures
        options.policy = policy ?? "always"
        options.quiet = quiet
        if ignoreBuildable {
            options.services = session.orchestrator.selection(services, withDependencies: includeDeps)
                .filter { session.project.services[$0]?.build == nil }
            if options.services.isEmpty { return }
        }
        try session.run { () throws(SwcomposeError) in try session.orchestrator.pull(options) }
        (session.progress as? TerminalProgress)?.finish()
    }
}

struct PushCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "push", abstract: "Push service images (those with build and image).")

    @ParentCommand var root: SWCompose

    @Flag(name: [.short, .long], help: "Push without printing progress information.")
    var quiet = false

    @Flag(name: .customLong("ignore-push-failures"), help: "Push what it can and ignores images with push failures.")
    var ignorePushFailures = false

    @Flag(name: .customLong("include-deps"), help: "Also push images of services declared as dependencies.")
    var includeDeps = false

    @Argument(help: "Services to push (default: all).")
    var services: [String] = []

    func run() throws {
        let session = try ComposeSession.open(root.global, services: services)
        var options = Orchestrator.PushOptions()
        options.services = services
        options.includeDependencies = includeDeps
        options.ignoreFailures = ignorePushFailures
        options.quiet = quiet
        try session.run { () throws(SwcomposeError) in try session.orchestrator.push(options) }
        (session.progress as? TerminalProgress)?.finish()
    }
}

/// `--pull` and `--quiet-pull` of `up`, `create` and `run`.
struct PullFlags: ParsableArguments {
    @Option(name: .customLong("pull"), help: "Pull image before running (always, missing, never; default: each service's pull_policy).")
    var pull: String?

    @Flag(name: .customLong("quiet-pull"), help: "Pull without printing progress information.")
    var quietPull = false
}

/// `docker.io`, `localhost:5000` from what users type (`https://index.docker.io/v1/`, `http://host:5000`).
func registryDomain(_ text: String?) -> String {
    guard var s = text?.filter({ $0 != " " }), !s.isEmpty else { return ImageReference.defaultDomain }
    if s.hasPrefix("https://") { s.removeFirst(8) } else if s.hasPrefix("http://") { s.removeFirst(7) }
    if let slash = s.firstIndex(of: "/") { s = String(s[..<slash]) }
    if s == "index.docker.io" || s == "registry-1.docker.io" { return ImageReference.defaultDomain }
    return s.lowercased()
}

struct LoginCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "login", abstract: "Log in to a registry (credentials go where docker keeps them).")

    @Option(name: [.short, .long], help: "Username.")
    var username: String?

    @Option(name: [.short, .long], help: "Password (prefer --password-stdin).")
    var password: String?

    @Flag(name: .customLong("password-stdin"), help: "Take the password from standard input.")
    var passwordStdin = false

    @Argument(help: "The registry (default: Docker Hub).")
    var server: String?

    func validate() throws {
        if password != nil && passwordStdin { throw ValidationError("--password and --password-stdin are mutually exclusive") }
        if passwordStdin && username == nil { throw ValidationError("must provide --username with --password-stdin") }
    }

    func run() throws {
        let domain = registryDomain(server)
        var user = username
        var secret = password
        if password != nil { Terminal.writeError("WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n") }
        if passwordStdin {
            var text = Terminal.readStandardInput()
            while text.hasSuffix("\n") || text.hasSuffix("\r") { text.removeLast() }
            secret = text
        }
        if user == nil {
            guard Terminal.isTTY(0) else {
                Terminal.writeError("error: cannot prompt for a username: standard input is not a terminal (use --username)\n")
                throw ExitCode.failure
            }
            user = Terminal.prompt("Username: ", echo: true)
        }
        if secret == nil {
            guard Terminal.isTTY(0) else {
                Terminal.writeError("error: cannot prompt for a password: standard input is not a terminal (use --password-stdin)\n")
                throw ExitCode.failure
            }
            secret = Terminal.prompt("Password: ", echo: false)
        }
        guard let user, !user.isEmpty, let secret, !secret.isEmpty else {
            Terminal.writeError("error: username and password are required\n")
            throw ExitCode.failure
        }
        let credential = RegistryCredential(username: user, password: secret)
        let environment = Terminal.environment
        do {
            try runBlocking {
                try await RegistryClient.with(environment: environment) { client in
                    try await client.checkLogin(domain, credential)
                }
            }
            try CredentialStore.load(environment: environment).store(credential, for: domain)
        } catch {
            Terminal.writeError("error: login to \(domain): \(error)\n")
            throw ExitCode.failure
        }
        print("Login Succeeded")
    }
}

struct LogoutCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "logout", abstract: "Log out from a registry.")

    @Argument(help: "The registry (default: Docker Hub).")
    var server: String?

    func run() throws {
        let domain = registryDomain(server)
        let store = CredentialStore.load(environment: Terminal.environment)
        do {
            if try store.erase(domain) {
                print("Removing login credentials for \(RegistryHosts.credentialKey(domain))")
            } else {
                print("Not logged in to \(RegistryHosts.credentialKey(domain))")
            }
        } catch {
            Terminal.writeError("error: \(error)\n")
            throw ExitCode.failure
        }
    }
}

/// `image pull`: docker's own output (`Digest:`, `Status:`), layer by layer.
struct ImagePull: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pull", abstract: "Pull an image from a registry.")

    @Option(name: .customLong("platform"), help: "The platform to pull from a multi-platform image (os/arch[/variant]).")
    var platform: String?

    @Flag(name: [.short, .long], help: "Print only the image reference.")
    var quiet = false

    @Argument(help: "The image (name[:tag] or name@sha256:…).")
    var image: String

    func run() throws {
        let ref: ImageReference
        do { ref = try ImageReference(parsing: image) } catch {
            Terminal.writeError("error: \(error)\n")
            throw ExitCode.failure
        }
        var wanted: Platform?
        if let platform {
            guard let p = Platform(parsing: platform) else {
                Terminal.writeError("error: invalid platform \"\(platform)\": use os/arch[/variant]\n")
                throw ExitCode.failure
            }
            wanted = p
        }
        let chosen = wanted
        let context = StoreContext()
        let store = context.store
        let before = try? store.resolve(ref.description)
        let printer = TransferPrinter(quiet: quiet)
        if !quiet { Terminal.write("\(ref.digest?.description ?? ref.tag ?? "latest"): Pulling from \(ref.familiarName)\n") }
        let environment = Terminal.environment
        let result: PullResult
        do {
            result = try runBlocking {
                try await RegistryClient.with(environment: environment) { client in
                    try await ImagePuller(store: store, client: client).pull(ref, platform: chosen) { digest, state in
                        printer.layer(digest, state)
                    }
                }
            }
        } catch {
            Terminal.writeError("error: \(error)\n")
            throw ExitCode.failure
        }
        if !quiet {
            print("Digest: \(result.digest)")
            let fresh = before?.manifestDigest != result.image.manifestDigest
            print("Status: \(fresh ? "Downloaded newer image" : "Image is up to date") for \(ref.familiar)")
        }
        print(ref.familiar)
    }
}

/// Layer lines for `image pull`/`image push`, as docker prints them: off a terminal each state change
/// once; on a terminal a block redrawn in place, with a bar for the layers moving bytes. Transfer tasks
/// report from several threads; the drawing state lives behind one mutex.
final class TransferPrinter: Sendable {
    struct Board {
        var order: [Digest] = []
        var lines: [Digest: String] = [:]
        var drawn = 0
        var lastDraw: Double = 0
    }

    let quiet: Bool
    let tty = Terminal.isTTY(1)
    let board = Mutex(Board())

    init(quiet: Bool) { self.quiet = quiet }

    func layer(_ digest: Digest, _ state: LayerProgress) { say(digest, state.words) }

    func push(_ digest: Digest, _ state: PushProgress) { say(digest, state.words) }

    func say(_ digest: Digest, _ words: (status: String, amount: TransferAmount?)) {
        guard !quiet else { return }
        board.withLock { board in
            let line = words.amount.map { "\(words.status) \(transferBar($0.done, $0.total))" } ?? words.status
            if board.lines[digest] == line { return }
            if board.lines[digest] == nil { board.order.append(digest) }
            board.lines[digest] = line
            guard tty else {
                if words.amount == nil { Terminal.write("\(digest.short): \(words.status)\n") }
                return
            }
            let now = MonotonicClock.now()
            if let amount = words.amount, amount.done < amount.total, now - board.lastDraw < 0.1 { return }
            board.lastDraw = now
            var out = board.drawn > 0 ? "\u{1b}[\(board.drawn)A\u{1b}[J" : ""
            for d in board.order { out += "\(d.short): \(board.lines[d] ?? "")\n" }
            board.drawn = board.order.count
            Terminal.write(out)
        }
    }
}

struct ImagePush: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "push", abstract: "Push an image of the store to a registry.")

    @Flag(name: [.short, .long], help: "Print only the digest.")
    var quiet = false

    @Argument(help: "The image (name[:tag]), as named in the store.")
    var image: String

    func run() throws {
        let ref: ImageReference
        do { ref = try ImageReference(parsing: image) } catch {
            Terminal.writeError("error: \(error)\n")
            throw ExitCode.failure
        }
        let context = StoreContext()
        let store = context.store
        let record = try context.run { () throws(ImageStoreError) in try store.resolve(image) }
        let printer = TransferPrinter(quiet: quiet)
        if !quiet { Terminal.write("The push refers to repository [\(ref.name)]\n") }
        let environment = Terminal.environment
        let pushed: (digest: Digest, size: Int)
        do {
            pushed = try runBlocking {
                try await RegistryClient.with(environment: environment) { client in
                    try await ImagePusher(store: store, client: client).push(record, to: ref) { digest, state in
                        printer.push(digest, state)
                    }
                }
            }
        } catch {
            Terminal.writeError("error: \(error)\n")
            throw ExitCode.failure
        }
        if quiet { print(pushed.digest) } else { print("\(ref.tag ?? "latest"): digest: \(pushed.digest) size: \(pushed.size)") }
    }
}
