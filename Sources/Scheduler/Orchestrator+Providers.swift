#if canImport(Glibc)
import Glibc
#endif
import ComposeModel
import Diagnostics
import Engine

/// Services run by a provider plugin (`provider: {type, options}`), by docker compose's protocol:
/// the plugin (`docker-<type>` among docker's CLI plugins, else `<type>` on the PATH) is run as
/// `<plugin> compose --project-name=NAME up|down [--option=value…] SERVICE` with the project's
/// environment; it answers with JSON messages on its standard output (`info`, `debug`, `error`, and
/// `setenv` KEY=VALUE, which the services depending on it get as `<SERVICE>_KEY`). `<plugin> compose
/// metadata` may describe its parameters: required ones must be given, others are not passed.
extension Orchestrator {
    struct ProviderMetadata: Decodable {
        struct Parameter: Decodable {
            var name: String
            var required: Bool?
        }
        struct Command: Decodable { var parameters: [Parameter]? }
        var description: String?
        var up: Command?
        var down: Command?

        var isEmpty: Bool { (description ?? "").isEmpty && up?.parameters == nil && down?.parameters == nil }
    }

    /// Where docker looks for CLI plugins.
    func pluginDirectories() -> [String] {
        let home = processEnvironment["HOME"] ?? "/root"
        let config = processEnvironment["DOCKER_CONFIG"] ?? home + "/.docker"
        return [config + "/cli-plugins", "/usr/local/lib/docker/cli-plugins", "/usr/local/libexec/docker/cli-plugins",
                "/usr/lib/docker/cli-plugins", "/usr/libexec/docker/cli-plugins"]
    }

    /// The provider's program: a docker CLI plugin `docker-<type>`, else `<type>` on the PATH.
    func providerProgram(_ provider: ServiceProvider, service: ServiceConfig) throws(SwcomposeError) -> String {
        let at = provider.location ?? service.location
        guard provider.type != "compose" else {
            throw SwcomposeError(.invalidArgument, "service \"\(service.name)\": 'compose' is not a valid provider type", at: at)
        }
        for dir in pluginDirectories() where Sys.isExecutable(dir + "/docker-" + provider.type) {
            return dir + "/docker-" + provider.type
        }
        if provider.type.contains("/") {
            if Sys.isExecutable(provider.type) { return provider.type }
        } else {
            let path = processEnvironment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
            for dir in path.split(separator: ":") where Sys.isExecutable(dir + "/" + provider.type) {
                return dir + "/" + provider.type
            }
        }
        throw SwcomposeError(.notFound, "service \"\(service.name)\": provider \(provider.type) is not installed: no docker CLI plugin docker-\(provider.type) in "
            + "\(pluginDirectories().joined(separator: ", ")) and no \(provider.type) on the PATH", at: at)
    }

    /// The project's environment as the plugin sees it.
    var providerEnvironment: [String] {
        var env = processEnvironment
        for (k, v) in environment { env[k] = v }
        env.removeValue(forKey: "DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND")
        return env.keys.sorted().map { $0 + "=" + env[$0]! }
    }

    /// Runs the provider of `service` for `up` or `down`; for `up`, gives the services that depend on
    /// it the variables it set.
    func runProvider(_ service: ServiceConfig, _ command: String) throws(SwcomposeError) {
        guard let provider = service.provider else { return }
        let at = provider.location ?? service.location
        if dryRun {
            progress.event("", service.name, command == "up" ? "Creating" : "Removing")
            return
        }
        let program = try providerProgram(provider, service: service)
        // What it says it takes (a plugin without metadata gets every option).
        var metadata = ProviderMetadata()
        if let r = try? Subprocess.run(program, ["compose", "metadata"], environment: providerEnvironment), r.status == 0,
           let parsed = try? JSON.decode(ProviderMetadata.self, Array(r.output.utf8)) {
            metadata = parsed
        }
        let parameters = (command == "up" ? metadata.up : metadata.down)?.parameters ?? []
        if !metadata.isEmpty {
            for p in parameters where p.required == true && provider.options[p.name] == nil {
                throw SwcomposeError(.invalidArgument, "required parameter \"\(p.name)\" is missing from provider \"\(provider.type)\" definition", at: at)
            }
        }
        var args = ["compose", "--project-name=\(project.name)", command]
        for key in provider.options.keys.sorted() where metadata.isEmpty || parameters.contains(where: { $0.name == key }) {
            for value in provider.options[key]! { args.append("--\(key)=\(value)") }
        }
        args.append(service.name)

        progress.event("", service.name, command == "up" ? "Creating" : "Removing")
        let variables = try execute(program, args, service: service, action: command == "up" ? "create" : "remove")
        progress.event("", service.name, command == "up" ? "Created" : "Removed")
        guard command == "up", !variables.isEmpty else { return }
        let prefix = service.name.uppercased() + "_"
        var updated = project
        for (name, s) in project.services where s.dependsOn[service.name] != nil {
            var dependent = s
            for (k, v) in variables { dependent.environment[prefix + k] = .some(v) }
            updated.services[name] = dependent
        }
        replaceProject(updated)
    }

    /// Runs the plugin, reading its messages as they come; the variables it set.
    func execute(_ program: String, _ args: [String], service: ServiceConfig, action: String) throws(SwcomposeError) -> [String: String] {
        let null: Int32, pipe: (read: Int32, write: Int32), spawned: (pid: Int32, pidfd: Int32)
        do {
            null = try Sys.open("/dev/null", O_RDWR)
            pipe = try Sys.pipe()
        } catch {
            throw SwcomposeError(.failed, "service \"\(service.name)\": cannot run provider \(program)", cause: error)
        }
        defer { Sys.close(null) }
        do {
            spawned = try Sys.spawn(program, [program] + args, environment: providerEnvironment, fds: [null, pipe.write, null])
        } catch {
            Sys.close(pipe.read)
            Sys.close(pipe.write)
            throw SwcomposeError(.failed, "service \"\(service.name)\": cannot run provider \(program)", cause: error)
        }
        Sys.close(pipe.write)
        var scanner = JSONObjectScanner()
        var variables: [String: String] = [:]
        var failure: SwcomposeError?
        var buffer = [UInt8](repeating: 0, count: 8192)
        reading: while failure == nil {
            let n = (try? Sys.read(pipe.read, into: &buffer)) ?? 0
            if n <= 0 { break }
            for object in scanner.feed(buffer[..<n]) {
                guard let message = JSONValue.parse(object), let type = message["type"]?.string else {
                    failure = SwcomposeError(.failed, "service \"\(service.name)\": invalid response from plugin: \(String(decoding: object, as: UTF8.self))")
                    break reading
                }
                let text = message["message"]?.string ?? ""
                switch type {
                case "error":
                    progress.event("", service.name, "Error " + text)
                    failure = SwcomposeError(.failed, text)
                    break reading
                case "info":
                    progress.event("", service.name, text)
                case "setenv":
                    guard let eq = text.firstIndex(of: "=") else {
                        failure = SwcomposeError(.failed, "service \"\(service.name)\": invalid response from plugin: \(text)")
                        break reading
                    }
                    variables[String(text[..<eq])] = String(text[text.index(after: eq)...])
                case "debug":
                    continue
                default:
                    failure = SwcomposeError(.failed, "service \"\(service.name)\": invalid response from plugin: \(type)")
                    break reading
                }
            }
        }
        Sys.close(pipe.read)
        if failure != nil { Sys.signal(pidfd: spawned.pidfd, SIGKILL) }
        let status = (try? Sys.wait(pidfd: spawned.pidfd)) ?? nil
        Sys.close(spawned.pidfd)
        if let failure { throw failure }
        if let status, status.code != 0 || status.signal != nil {
            let reason = status.signal.map { "signal: \($0)" } ?? "exit status \(status.code)"
            progress.event("", service.name, "Error " + reason)
            throw SwcomposeError(.failed, "failed to \(action) service provider: \(reason)", at: service.provider?.location ?? service.location)
        }
        return variables
    }
}

/// Splits a stream of JSON objects (one after another, as Go's json.Decoder reads them) into objects.
struct JSONObjectScanner {
    var pending: [UInt8] = []
    var depth = 0
    var inString = false
    var escaped = false

    mutating func feed(_ bytes: ArraySlice<UInt8>) -> [[UInt8]] {
        var objects: [[UInt8]] = []
        for b in bytes {
            if depth == 0 && b != UInt8(ascii: "{") {
                if !(b == 32 || b == 9 || b == 10 || b == 13) { pending.append(b) }
                continue
            }
            pending.append(b)
            if inString {
                if escaped { escaped = false } else if b == UInt8(ascii: "\\") { escaped = true } else if b == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch b {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "{"): depth += 1
            case UInt8(ascii: "}"):
                depth -= 1
                if depth == 0 {
                    objects.append(pending)
                    pending = []
                }
            default: break
            }
        }
        return objects
    }
}
