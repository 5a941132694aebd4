#if canImport(Glibc)
import Glibc
#endif
import Engine
import FoundationEssentials

/// What a registry is told about who is asking.
public struct RegistryCredential: Sendable, Equatable {
    public var username: String
    public var password: String
    /// An OAuth2 refresh token (docker's `identitytoken`), used instead of the password when present.
    public var identityToken: String?

    public init(username: String, password: String, identityToken: String? = nil) {
        self.username = username
        self.password = password
        self.identityToken = identityToken
    }
}

/// Credentials as docker keeps them: `$DOCKER_CONFIG/config.json` (else `~/.docker/config.json`),
/// `auths` entries (base64 `user:password`, `identitytoken`), and the `credsStore` / `credHelpers`
/// programs (`docker-credential-<name> get|store|erase`). The rest of the file is kept as it is.
public struct CredentialStore: Sendable {
    public let path: String
    /// The caller's environment: where helpers are looked for (`PATH`) and what they run with.
    let environment: [String: String]

    public init(path: String, environment: [String: String]) {
        self.path = path
        self.environment = environment
    }

    public static func load(environment: [String: String]) -> CredentialStore {
        if let dir = environment["DOCKER_CONFIG"], !dir.isEmpty {
            return CredentialStore(path: dir + "/config.json", environment: environment)
        }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? "/root"
        return CredentialStore(path: home + "/.docker/config.json", environment: environment)
    }

    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    func document() throws(Failure) -> [String: JSONValue] {
        guard Sys.exists(path) else { return [:] }
        let bytes: [UInt8]
        do { bytes = try Files.read(path) } catch { throw Failure(message: "cannot read \(path): \(error)") }
        if bytes.allSatisfy({ $0 == 32 || $0 == 10 || $0 == 9 || $0 == 13 }) { return [:] }
        guard let doc = JSONValue.parse(bytes)?.object else { throw Failure(message: "\(path) is not a JSON object") }
        return doc
    }

    /// The helper program that keeps `domain`'s credentials, if any.
    func helper(for domain: String, in doc: [String: JSONValue]) -> String? {
        let key = RegistryHosts.credentialKey(domain)
        if let h = doc["credHelpers"]?[key]?.string ?? doc["credHelpers"]?[domain]?.string, !h.isEmpty { return h }
        if let s = doc["credsStore"]?.string, !s.isEmpty { return s }
        return nil
    }

    /// `auths` keys may carry a scheme and a path (`https://index.docker.io/v1/`); docker compares
    /// the host part.
    static func authsKeyMatches(_ key: String, _ domain: String) -> Bool {
        let wanted = RegistryHosts.credentialKey(domain)
        if key == wanted { return true }
        var k = Substring(key)
        if k.hasPrefix("https://") { k = k.dropFirst(8) } else if k.hasPrefix("http://") { k = k.dropFirst(7) }
        if let slash = k.firstIndex(of: "/") { k = k[..<slash] }
        if domain == ImageReference.defaultDomain { return k == "index.docker.io" || k == "docker.io" || k == "registry-1.docker.io" }
        return k == domain
    }

    /// The credential for `domain`, or nil to go anonymous.
    public func credential(for domain: String) throws(Failure) -> RegistryCredential? {
        let doc = try document()
        if let helper = helper(for: domain, in: doc) {
            return try helperGet(helper, domain: domain)
        }
        guard let auths = doc["auths"]?.object else { return nil }
        for (key, entry) in auths.sorted(by: { $0.key < $1.key }) where Self.authsKeyMatches(key, domain) {
            var username = entry["username"]?.string ?? ""
            var password = entry["password"]?.string ?? ""
            if let auth = entry["auth"]?.string, !auth.isEmpty {
                guard let data = Data(base64Encoded: auth), let text = String(data: data, encoding: .utf8),
                      let colon = text.firstIndex(of: ":") else {
                    throw Failure(message: "\(path): the auth entry of \(key) is not base64 of user:password")
                }
                username = String(text[..<colon])
                password = String(text[text.index(after: colon)...])
            }
            let token = entry["identitytoken"]?.string.flatMap { $0.isEmpty ? nil : $0 }
            if username.isEmpty && token == nil { continue }
            return RegistryCredential(username: username, password: password, identityToken: token)
        }
        return nil
    }

    /// Saves a credential (in the helper when one is configured, else base64 in `auths`).
    public func store(_ credential: RegistryCredential, for domain: String) throws(Failure) {
        var doc = try document()
        let key = RegistryHosts.credentialKey(domain)
        if let helper = helper(for: domain, in: doc) {
            let secret = credential.identityToken ?? credential.password
            let user = credential.identityToken != nil ? "<token>" : credential.username
            let input = String(decoding: JSONValue.object(["ServerURL": .string(key), "Username": .string(user), "Secret": .string(secret)]).compact(), as: UTF8.self)
            _ = try runHelper(helper, "store", input: input)
            var auths = doc["auths"]?.object ?? [:]
            auths[key] = .object([:])
            doc["auths"] = .object(auths)
        } else {
            var auths = doc["auths"]?.object ?? [:]
            for k in auths.keys where Self.authsKeyMatches(k, domain) { auths[k] = nil }
            var entry: [String: JSONValue] = [:]
            if let token = credential.identityToken {
                entry["identitytoken"] = .string(token)
            } else {
                entry["auth"] = .string(Data("\(credential.username):\(credential.password)".utf8).base64EncodedString())
            }
            auths[key] = .object(entry)
            doc["auths"] = .object(auths)
        }
        try save(doc)
    }

    /// Forgets `domain`'s credential; false when there was none.
    public func erase(_ domain: String) throws(Failure) -> Bool {
        var doc = try document()
        var found = false
        if let helper = helper(for: domain, in: doc) {
            let result = try runHelper(helper, "erase", input: RegistryHosts.credentialKey(domain), allowFailure: true)
            found = result.status == 0
        }
        if var auths = doc["auths"]?.object {
            for k in auths.keys where Self.authsKeyMatches(k, domain) {
                auths[k] = nil
                found = true
            }
            doc["auths"] = .object(auths)
            try save(doc)
        }
        return found
    }

    func save(_ doc: [String: JSONValue]) throws(Failure) {
        let dir = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        do {
            if !dir.isEmpty { try Sys.mkdirAll(dir, 0o700) }
            var bytes = JSONValue.object(doc).pretty()
            bytes.append(10)
            try Files.writeAtomically(path, bytes, mode: 0o600)
        } catch {
            throw Failure(message: "cannot write \(path): \(error)")
        }
    }

    // MARK: - Helpers

    func helperPath(_ name: String) throws(Failure) -> String {
        let program = "docker-credential-" + name
        let searchPath = environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in searchPath.split(separator: ":") where !dir.isEmpty {
            let candidate = "\(dir)/\(program)"
            if Sys.isExecutable(candidate) { return candidate }
        }
        throw Failure(message: "\(path) names the credential helper \"\(name)\", but \(program) is not on PATH")
    }

    @discardableResult
    func runHelper(_ name: String, _ verb: String, input: String, allowFailure: Bool = false) throws(Failure) -> Subprocess.Result {
        let program = try helperPath(name)
        let env = environment.map { "\($0.key)=\($0.value)" }
        let result: Subprocess.Result
        do { result = try Subprocess.run(program, [verb], input: input, environment: env) } catch {
            throw Failure(message: "\(program) \(verb): \(error)")
        }
        if result.status != 0 && !allowFailure {
            throw Failure(message: "\(program) \(verb): \(result.output.trimmingWhitespace())")
        }
        return result
    }

    func helperGet(_ name: String, domain: String) throws(Failure) -> RegistryCredential? {
        let result = try runHelper(name, "get", input: RegistryHosts.credentialKey(domain), allowFailure: true)
        if result.status != 0 {
            // "credentials not found in native keychain": anonymous, as docker goes on.
            if result.output.lowercased().contains("not found") { return nil }
            throw Failure(message: "docker-credential-\(name) get: \(result.output.trimmingWhitespace())")
        }
        guard let json = JSONValue.parse(Array(result.output.utf8)), let secret = json["Secret"]?.string else {
            throw Failure(message: "docker-credential-\(name) get: unexpected answer")
        }
        let user = json["Username"]?.string ?? ""
        if secret.isEmpty { return nil }
        if user == "<token>" { return RegistryCredential(username: "", password: "", identityToken: secret) }
        return RegistryCredential(username: user, password: secret)
    }
}

extension JSONValue {
    /// One line, keys sorted.
    public func compact() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array((try? encoder.encode(self)) ?? Data("null".utf8))
    }
}
