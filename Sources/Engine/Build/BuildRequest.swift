import Diagnostics

/// What to build: a Dockerfile and its context, as `docker build` takes them. The builder knows
/// nothing of compose; the Scheduler maps a service's `build:` to one of these.
public struct BuildRequest: Sendable {
    /// The context directory (absolute), read in place.
    public var context: String
    /// The Dockerfile: a path (absolute, or relative to the context), default `Dockerfile`.
    public var dockerfile: String?
    /// Or its text (`dockerfile_inline`), named `Dockerfile` in diagnostics.
    public var dockerfileInline: String?
    public var args: [String: String] = [:]
    public var target: String?
    public var labels: [String: String] = [:]
    /// Named contexts (compose's `additional_contexts`, `docker build --build-context`): `FROM NAME`,
    /// `COPY --from=NAME` and `RUN --mount=from=NAME` read them instead of a stage or image so named.
    public var namedContexts: [String: NamedContext] = [:]
    public var tags: [ImageReference] = []
    /// `--secret id=…,src=…`: id → file on the host.
    public var secrets: [String: String] = [:]
    /// RUN's network unless a step says otherwise: `default` (a bridge with NAT), `none`, `host`.
    public var network: String = "default"
    public var extraHosts: [HostEntry] = []
    public var noCache = false
    /// Stages (by name) whose steps are not taken from the cache (compose's `no_cache_filter`,
    /// BuildKit's `--no-cache-filter`).
    public var noCacheStages: Set<String> = []
    /// Fetch FROM (and `COPY --from`) images from their registry even when the store has them
    /// (`--pull`, compose's `build.pull`).
    public var pull = false
    /// Which RUN steps (as the plain progress names them) to show the output of; all with `.plain`.
    public var progress: BuildProgress = .auto
    /// Shown in progress lines (`[app 3/7]`); empty: none.
    public var label: String = ""
    public var shmSize: Int64 = 64 << 20
    /// RUN's resource limits (compose's `build.ulimits`).
    public var rlimits: [ResourceLimit] = []
    /// `RUN --security=insecure` is allowed (compose's `build.privileged`, the `security.insecure`
    /// entitlement); refused otherwise, as BuildKit does.
    public var allowInsecure = false
    /// `RUN --network=host` is allowed (the `network.host` entitlement, or the build's network is
    /// the host's); refused otherwise, as BuildKit does.
    public var allowHostNetwork = false
    /// ssh agents RUN may mount (`type=ssh,id=ID`): id → socket; `default` is `SSH_AUTH_SOCK`'s.
    public var ssh: [String: String] = [:]
    /// Say why each step that is not cached runs (`build --explain`).
    public var explain = false
    /// Print nothing while every step is cached; at the first that is not, a line
    /// `Rebuild LABEL (why)` and from then on the usual progress (`up` finding a stale image).
    public var quietUntilChanged = false

    public init(context: String) { self.context = context }

    /// The Dockerfile's path as diagnostics show it.
    public var dockerfilePath: String {
        if dockerfileInline != nil { return context + "/Dockerfile" }
        let d = dockerfile ?? "Dockerfile"
        return d.hasPrefix("/") ? d : context + "/" + d
    }
}

public enum NamedContext: Sendable, Equatable {
    /// A directory on the host, read in place.
    case directory(String)
    /// An image (`docker-image://REF`, or a service's built image for `service:NAME`).
    case image(String)
}

public enum BuildProgress: Sendable, Equatable {
    /// docker compose's compact lines (`=> [app 2/5] RUN …`, `=> CACHED [app 3/5] COPY …`).
    case auto
    /// Every step's output streamed with its number, as BuildKit's plain progress.
    case plain
    /// Nothing but the image id at the end.
    case quiet
}

/// Why a build failed; Dockerfile problems carry their locations.
public enum BuildError: Error, Sendable, CustomStringConvertible {
    /// Syntax and semantic problems of the Dockerfile (all of them), with its text for carets.
    case dockerfile([Diagnostic], source: String, file: String)
    /// A RUN exited non-zero: its last output lines.
    case runFailed(step: String, location: SourceLocation, code: Int32, lastLines: [String])
    case failed(String, location: SourceLocation?)
    /// Ctrl-C: the step's container was stopped and everything the build made removed.
    case interrupted

    public var description: String {
        switch self {
        case .dockerfile(let diagnostics, _, _):
            return diagnostics.map(\.description).joined(separator: "\n")
        case .runFailed(let step, let location, let code, let lines):
            let tail = lines.isEmpty ? "" : "\n" + lines.map { "  " + $0 }.joined(separator: "\n")
            return "\(location): error: process \"\(step)\" did not complete successfully: exit code: \(code)\(tail)"
        case .failed(let message, let location):
            return location.map { "\($0): error: \(message)" } ?? message
        case .interrupted:
            return "the build was interrupted: nothing was tagged, and what it had made is removed"
        }
    }

    /// As diagnostics, for the renderer (a line and a caret under each location).
    public var diagnostics: [Diagnostic] {
        switch self {
        case .dockerfile(let d, _, _): return d
        case .runFailed(let step, let location, let code, let lines):
            return [.error("process \"\(step)\" did not complete successfully: exit code: \(code)", at: location,
                           notes: lines.isEmpty ? [] : [.note("its last output:\n" + lines.map { "  " + $0 }.joined(separator: "\n"))])]
        case .failed(let message, let location): return [.error(message, at: location)]
        case .interrupted: return [.error(description)]
        }
    }
}
