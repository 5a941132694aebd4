#if canImport(Glibc)
import Glibc
#endif
import Diagnostics

/// RUN: a container of the runtime over the stage's layers; its upper directory is the step's layer.
extension Builder {
    /// The supervisor group build steps run under.
    static let group = "swcompose-build"

    func run(_ i: Dockerfile.Instruction, number: Int, total: Int, label: String, state: inout StageState, request: BuildRequest,
             context: BuildContext, results: [Int: StageState], stages: [Stage], network: inout BuildNetwork?) throws(BuildError) {
        var args: [String]
        var scripts: [(path: String, content: String)] = []
        if let json = i.json {
            args = json
        } else if !i.heredocs.isEmpty {
            let t = i.text.trimmingWhitespace()
            let only = i.heredocs.count == 1 && Dockerfile.heredocMarkers(t).count == 1 && t.hasPrefix("<<") && !t.contains(" ")
            if only, i.heredocs[0].content.hasPrefix("#!") {
                // A script with its own interpreter: run as a file, as BuildKit does.
                let path = "/dev/pipes/" + i.heredocs[0].name
                scripts.append((path, i.heredocs[0].content))
                args = [path]
            } else if only {
                args = state.shell + [i.heredocs[0].content]
            } else {
                args = state.shell + [t + "\n" + i.heredocs.map { $0.content + $0.name }.joined(separator: "\n")]
            }
        } else {
            args = state.shell + [i.text]
        }
        // Build args in scope are the step's environment (ENV wins), as docker gives them.
        var env = state.env
        for (k, v) in state.args.sorted(by: { $0.key < $1.key }) where !env.contains(where: { $0.hasPrefix(k + "=") }) {
            env.append(k + "=" + v)
        }
        for k in Self.proxyArgs.sorted() { if let v = request.args[k], !env.contains(where: { $0.hasPrefix(k + "=") }) { env.append(k + "=" + v) } }
        var mounts: [MountFlag] = []
        for f in i.flags("mount") {
            guard let m = MountFlag.parse(f.value ?? "") else {
                throw .failed("invalid --mount \(f.value ?? ""): expected type=cache|bind|secret|tmpfs|ssh,target=PATH,…", location: f.location)
            }
            mounts.append(m)
        }
        let networkMode = i.flag("network")?.value ?? request.network
        guard ["default", "none", "host", "bridge"].contains(networkMode) else {
            throw .failed("invalid --network \(networkMode): default, none or host", location: i.flag("network")?.location ?? i.location)
        }
        let shown = "RUN " + i.flagsWritten
            + (i.json.map { Self.shown($0) } ?? (state.shell.joined(separator: " ") + " " + i.text)) + " # buildkit"
        let argsInScope = state.args.filter { !Self.proxyArgs.contains($0.key) }.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        var key = "\(state.key)\nRUN \(args)\nenv \(state.env)\nargs \(argsInScope)\nuser \(state.config.user ?? "")\nworkdir \(state.config.workingDir ?? "/")\nnetwork \(networkMode)"
        var read: [String: String] = [:]
        for m in mounts where m.type == "bind" {
            // A bind from the context: the files it exposes are part of what the step reads.
            if m.from == nil { key += "\nbind \(m.source ?? "."): \(context.digest(of: m.source ?? ".", files: files, record: { read[$0] = $1 }))" }
            else if let n = stageIndex(m.from!, stages: stages), let s = results[n] { key += "\nbind \(s.key) \(m.source ?? "/")" }
        }
        let stepKey = Digest.of(key)
        let title = "[\(label)\(number)/\(total)] \(i.original.count > 200 ? String(i.original.prefix(200)) + "…" : i.original)"
        let scope = Dictionary(state.args.filter { !Self.proxyArgs.contains($0.key) }.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        if let hit = try lookup(stepKey, id: "\(label)\(number)", parent: state, instruction: shown, args: scope, files: read, title: title, label: label, request: request) {
            state.apply(hit, instruction: shown, key: stepKey)
            return
        }
        defer { common.claims.release(stepKey) }
        let started = MonotonicClock.now()
        let id = ContainerStore.newID()
        var spec = ContainerSpec(id: id, name: "swcompose-build-" + String(id.prefix(12)),
                                 image: ImageBinding(reference: "build", id: "", chainIDs: state.layers.map { $0.chainID.description }),
                                 process: ProcessSpec(args: args, env: env, workingDir: state.config.workingDir ?? "/", user: state.config.user ?? ""),
                                 hostname: String(id.prefix(12)))
        spec.group = Self.group
        spec.labels = ["swcompose.build.step": String(number)]
        spec.shmSize = request.shmSize
        spec.extraHosts = request.extraHosts
        var security = SecuritySpec()
        spec.rlimits = request.rlimits
        if let flag = i.flag("security"), flag.value == "insecure", !request.allowInsecure {
            throw .failed("RUN --security=insecure needs the security.insecure entitlement: set privileged: true in the service's build section", location: flag.location)
        }
        if networkMode == "host" && !request.allowHostNetwork {
            throw .failed("RUN --network=host needs the network.host entitlement: add it to the service's build.entitlements", location: i.flag("network")?.location ?? i.location)
        }
        if i.flag("security")?.value == "insecure" {
            security.privileged = true
            security.capabilities = (try? Capabilities.resolve(add: [], drop: [], privileged: true)) ?? security.capabilities
        }
        do { security.seccomp = security.privileged ? nil : try SeccompProfile.dockerDefault.resolve(capabilities: security.capabilities) } catch {
            throw .failed("seccomp: \(error)", location: i.location)
        }
        spec.security = security
        switch networkMode {
        case "none": spec.network = .isolated
        case "host": spec.network = .host
        default:
            if network == nil { network = try BuildNetwork.acquire(runtime: runtime) }
            spec.network = .bridged([NetworkEndpointSpec(network: BuildNetwork.name, names: [String(id.prefix(12))])])
        }
        // Scratch space the step may use, removed with it.
        let scratch = runtime.root.path + "/build-tmp/" + id
        defer {
            for entry in (try? Sys.list(scratch)) ?? [] where entry.hasPrefix("from-") { StageView.unmount(scratch + "/" + entry) }
            try? Sys.removeAll(scratch)
        }
        do {
            try Sys.mkdirAll(scratch, 0o700)
            for (n, s) in scripts.enumerated() {
                let file = scratch + "/script-\(n)"
                try Files.writeAtomically(file, s.content, mode: 0o755, durable: false)
                spec.mounts.append(MountSpec(kind: .bind, source: file, destination: s.path, readOnly: true))
            }
        } catch { throw .failed("\(error)", location: i.location) }
        for m in mounts { spec.mounts.append(try mountSpec(m, i: i, context: context, request: request, results: results, stages: stages, scratch: scratch)) }
        let upper = runtime.containerDirectory(id) + "/upper"
        let store = ContainerStore(runtime: runtime)
        do { try store.create(spec) } catch { throw .failed("cannot create the step's container: \(error)", location: i.location) }
        defer { try? store.remove(id) }
        let outcome = try execute(spec, request: request, step: number)
        guard outcome.code == 0 else {
            throw .runFailed(step: args.joined(separator: " "), location: i.location, code: outcome.code, lastLines: outcome.lastLines)
        }
        // What the runtime made as mount points is not part of the step's layer.
        var excluding: Set<String> = ["etc/hosts", "etc/hostname", "etc/resolv.conf", "dev/pipes"]
        for dir in ["dev", "proc", "sys", "run/secrets", "dev/pipes"] where ((try? Sys.list(upper + "/" + dir)) ?? ["x"]).isEmpty { excluding.insert(dir) }
        for m in spec.mounts {
            let target = String(m.destination.drop { $0 == "/" })
            if ((try? Sys.list(upper + "/" + target)) ?? ["x"]).isEmpty || (Sys.exists(upper + "/" + target) && !Sys.isDirectory(upper + "/" + target)) { excluding.insert(target) }
        }
        let layer = try addLayer(from: upper, parent: state, excluding: excluding, location: i.location)
        remember(stepKey, layer)
        state.apply(layer, instruction: shown, key: stepKey)
        if request.progress == .plain { output(String(format: "#%d DONE %.1fs", number, MonotonicClock.now() - started)) }
    }

    func stageIndex(_ name: String, stages: [Stage]) -> Int? {
        if let n = Int(name), n < stages.count { return n }
        return stages.firstIndex { $0.name == name.lowercased() }
    }

    /// A `--mount` as the runtime mounts it.
    func mountSpec(_ m: MountFlag, i: Dockerfile.Instruction, context: BuildContext, request: BuildRequest, results: [Int: StageState],
                   stages: [Stage], scratch: String) throws(BuildError) -> MountSpec {
        let target = m.target ?? ""
        guard target.hasPrefix("/") || m.type == "secret" || m.type == "ssh" else {
            throw .failed("--mount type=\(m.type) needs an absolute target (target=/path)", location: i.location)
        }
        switch m.type {
        case "cache":
            // Kept between builds, shared by every step (and build) naming the same id.
            let id = m.id ?? target
            let dir = runtime.root.path + "/build-cache/mounts/" + Digest.of(id).hex
            do {
                if !Sys.exists(dir) {
                    try Sys.mkdirAll(dir, 0o755)
                    if let mode = m.mode.flatMap({ mode_t($0, radix: 8) }) { try Sys.chmod(dir, mode) }
                    try Sys.chown(dir, m.uid ?? 0, m.gid ?? 0)
                }
            } catch { throw .failed("cache mount \(id): \(error)", location: i.location) }
            return MountSpec(kind: .bind, source: dir, destination: target, readOnly: m.readOnly)
        case "tmpfs":
            var s = MountSpec(kind: .tmpfs, source: "", destination: target)
            s.tmpfsSize = m.size ?? 0
            return s
        case "secret":
            let id = m.id ?? String(target.split(separator: "/").last ?? "")
            guard let source = request.secrets[id] else {
                if m.required { throw .failed("secret \(id) not found: give it with --secret id=\(id),src=FILE (or the service's build.secrets)", location: i.location) }
                return MountSpec(kind: .tmpfs, source: "", destination: target.hasPrefix("/") ? target : "/run/secrets/" + id)
            }
            // Never in a layer: a read-only bind of the file, removed with the step's container.
            return MountSpec(kind: .bind, source: source, destination: m.target.map { $0.hasPrefix("/") ? $0 : "/run/secrets/" + $0 } ?? "/run/secrets/" + id, readOnly: true)
        case "ssh":
            let id = m.id ?? "default"
            let given = request.ssh[id] ?? (id == "default" ? getenv("SSH_AUTH_SOCK").map { String(cString: $0) } : nil)
            guard let sock = given, Sys.exists(sock) else {
                throw .failed("--mount type=ssh,id=\(id) needs an ssh agent: give it with the service's build.ssh (or SSH_AUTH_SOCK for default)", location: i.location)
            }
            return MountSpec(kind: .bind, source: sock, destination: m.target ?? "/run/buildkit/ssh_agent.0", readOnly: false)
        case "bind":
            let source = m.source ?? "."
            if let from = m.from {
                guard let n = stageIndex(from, stages: stages), let s = results[n] else {
                    throw .failed("--mount from=\(from): no such stage (images in --mount from are not supported)", location: i.location)
                }
                let view = scratch + "/from-\(n)"
                do {
                    try StageView.mount(s.layers.map(\.directory), at: view)
                } catch { throw .failed("--mount from=\(from): \(error)", location: i.location) }
                return MountSpec(kind: .bind, source: view + "/merged/" + source, destination: target, readOnly: !m.readWrite)
            }
            guard let path = context.resolve(source) else {
                throw .failed("--mount source \(source) is outside the build context", location: i.location)
            }
            return MountSpec(kind: .bind, source: path, destination: target, readOnly: !m.readWrite)
        default:
            throw .failed("--mount type=\(m.type) is not one of bind, cache, tmpfs, secret, ssh", location: i.location)
        }
    }

    /// Starts the step's container through the build supervisor, streams its output, waits.
    func execute(_ spec: ContainerSpec, request: BuildRequest, step: Int) throws(BuildError) -> (code: Int32, lastLines: [String]) {
        let client: SupervisorClient
        do { client = try SupervisorClient.connect(runtime: runtime, group: Self.group) } catch {
            throw .failed("cannot start the build's supervisor: \(error)", location: nil)
        }
        let pipe: (read: Int32, write: Int32)
        let null: Int32
        do {
            pipe = try Sys.pipe()
            null = try Sys.open("/dev/null", O_RDWR | O_CLOEXEC)
        } catch { throw .failed("\(error)", location: nil) }
        defer { Sys.close(pipe.read) }
        do {
            try client.send(.start(id: spec.id, attach: true), fds: [null, pipe.write, pipe.write])
            try client.send(.wait(id: spec.id))
        } catch {
            Sys.close(pipe.write); Sys.close(null)
            throw .failed("cannot start the step: \(error)", location: nil)
        }
        Sys.close(pipe.write)
        Sys.close(null)
        var last: [String] = []
        var partial: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var interrupted = false
        var stopper: SupervisorClient?
        defer { withExtendedLifetime(stopper) {} }
        let began = MonotonicClock.now()
        func emit(_ line: [UInt8]) {
            let text = String(decoding: line, as: UTF8.self)
            last.append(text)
            if last.count > 10 { last.removeFirst() }
            if request.progress == .plain { output(String(format: "#%d %.3f %@", step, MonotonicClock.now() - began, text)) }
        }
        while true {
            // Ctrl-C (counted by `Interrupts`, whichever thread it reached) stops the step's container
            // and then the build, rather than leaving anything behind.
            let ready = Sys.poll([(pipe.read, Int16(POLLIN))], timeout: 100)
            if self.interrupted && !interrupted {
                interrupted = true
                // A kill; where the supervisor has not seen the start complete yet (the process can be
                // printing before that, notably under user-mode Linux), a stop, which aborts the start.
                Trace.mark("build: interrupted, killing step \(spec.name)")
                let killed = (try? SupervisorClient.connect(runtime: runtime, group: Self.group).request(.kill(id: spec.id, signal: SIGKILL)))?.0 == .ok
                if !killed {
                    Trace.mark("build: the step is still starting: stopping it")
                    if let c = try? SupervisorClient.connect(runtime: runtime, group: Self.group) {
                        try? c.send(.stop(id: spec.id, signal: SIGKILL, timeout: 0))
                        stopper = c
                    }
                }
            }
            guard ready[0] != 0 else { continue }
            let n: Int
            do { n = try Sys.read(pipe.read, into: &buffer) } catch { break }
            if n == 0 { break }
            for b in buffer[0..<n] {
                if b == 10 { emit(partial); partial = [] } else { partial.append(b) }
            }
        }
        if !partial.isEmpty { emit(partial) }
        var code: Int32 = -1
        do {
            while true {
                let (reply, _) = try client.receive()
                if case .failed(let message) = reply {
                    if interrupted { throw BuildError.interrupted }
                    throw BuildError.failed("the step could not start: \(message)", location: nil)
                }
                if case .exited(let c, _) = reply { code = c; break }
            }
        } catch let e as BuildError { throw e } catch {
            if interrupted { throw .interrupted }
            throw .failed("the build's supervisor went away: \(error)", location: nil)
        }
        if interrupted { throw .interrupted }
        return (code, last)
    }
}

/// `--mount=type=…,target=…` of RUN.
struct MountFlag: Equatable {
    var type = "bind"
    var target: String?
    var source: String?
    var from: String?
    var id: String?
    var sharing: String?
    var mode: String?
    var uid: UInt32?
    var gid: UInt32?
    var size: Int64?
    var readOnly = false
    var readWrite = false
    var required = false

    static func parse(_ text: String) -> MountFlag? {
        var m = MountFlag()
        for field in text.split(separator: ",") {
            let parts = field.split(separator: "=", maxSplits: 1)
            let key = parts[0].lowercased()
            let value = parts.count > 1 ? String(parts[1]) : nil
            switch key {
            case "type": m.type = value ?? ""
            case "target", "dst", "destination": m.target = value
            case "source", "src": m.source = value
            case "from": m.from = value
            case "id": m.id = value
            case "sharing": m.sharing = value
            case "mode": m.mode = value
            case "uid": m.uid = value.flatMap { UInt32($0) }
            case "gid": m.gid = value.flatMap { UInt32($0) }
            case "size": m.size = value.flatMap { Int64($0) }
            case "ro", "readonly": m.readOnly = value.map { $0 != "false" } ?? true
            case "rw", "readwrite": m.readWrite = value.map { $0 != "false" } ?? true
            case "required": m.required = value.map { $0 != "false" } ?? true
            case "env": break
            default: return nil
            }
        }
        if m.type == "cache" && m.readOnly { m.readWrite = false }
        return ["bind", "cache", "tmpfs", "secret", "ssh"].contains(m.type) ? m : nil
    }
}

/// A read-only view of a stage's layers (for `--mount from=` and `COPY --from`), mounted in the
/// builder's own mount namespace and unmounted when the step is done.
enum StageView {
    static func mount(_ layers: [String], at directory: String) throws(SystemError) {
        let rootfs = RootFilesystem(directory: directory)
        try rootfs.mount(layers: layers.isEmpty ? [] : layers)
    }

    static func unmount(_ directory: String) {
        let rootfs = RootFilesystem(directory: directory)
        try? rootfs.unmount()
        try? rootfs.remove()
    }
}

/// The bridge RUN steps use by default (NAT to the host's network, as docker's default bridge),
/// made for the build and removed after it unless another build still uses it.
final class BuildNetwork {
    static let name = "swcompose_build"
    let runtime: Runtime
    init(runtime: Runtime) { self.runtime = runtime }

    static func acquire(runtime: Runtime) throws(BuildError) -> BuildNetwork {
        let store = NetworkStore(root: runtime.root)
        if (try? store.inspect(name)) == nil {
            var spec = NetworkSpec(name: name)
            spec.labels = ["swcompose.build": "true"]
            do { _ = try store.create(spec) } catch {
                if (try? store.inspect(name)) == nil { throw .failed("cannot make the build network: \(error)", location: nil) }
            }
        }
        return BuildNetwork(runtime: runtime)
    }

    func release() {
        let store = NetworkStore(root: runtime.root)
        let containers = ContainerStore(runtime: runtime)
        try? store.remove(Self.name) { id in containers.state(id).isAlive || (try? containers.record(id)) != nil }
    }
}
