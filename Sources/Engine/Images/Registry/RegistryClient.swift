#if canImport(Glibc)
import Glibc
#endif
import Engine
import AsyncHTTPClient
import FoundationEssentials
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization

/// A registry said no, or could not be reached.
public struct RegistryError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case notFound, unauthorized, denied, unreachable, rateLimited, unsupportedPlatform, corrupt, invalid, local
    }

    public var kind: Kind
    public var message: String
    /// The failure underneath (a local one: the store, a lock, a file).
    public var cause: (any Error & Sendable)?

    public init(_ kind: Kind, _ message: String, cause: (any Error & Sendable)? = nil) {
        self.kind = kind
        self.message = message
        self.cause = cause
    }

    public var description: String { cause.map { "\(message): \($0)" } ?? message }
}

/// The distribution API v2 as a client sees it: which scheme a registry answers on (pinged once per
/// command), the auth it asks for in its `WWW-Authenticate` challenge (bearer tokens, anonymous or
/// from credentials, identity tokens, or basic auth), tokens cached per scope, redirects followed by
/// hand so that credentials never travel to another host, and the registry's error documents turned
/// into messages.
public final class RegistryClient: Sendable {
    let http: HTTPClient
    public let hosts: RegistryHosts
    public let credentials: CredentialStore
    let state = Mutex(State())

    struct State {
        /// `https://host` or `http://host` per domain, once pinged.
        var bases: [String: String] = [:]
        var challenges: [String: Challenge] = [:]
        /// `Authorization` values per "domain scope".
        var authorizations: [String: String] = [:]
        var credentials: [String: RegistryCredential?] = [:]
        /// TLS settings per `host:port` with files in docker's certs.d (nil: the system's CAs only).
        var tls: [String: TLSConfiguration?] = [:]
    }

    struct Challenge: Sendable {
        var scheme: String
        var parameters: [String: String]
    }

    public init(hosts: RegistryHosts, credentials: CredentialStore) {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow,
                                                     timeout: .init(connect: .seconds(15), read: .seconds(120)))
        configuration.decompression = .disabled
        // A refused or failed TLS connection is an answer (the TLS-then-HTTP fallback depends on it),
        // not something to retry until the connect timeout.
        configuration.connectionPool.retryConnectionEstablishment = false
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        self.hosts = hosts
        self.credentials = credentials
    }

    public static func load(environment: [String: String]) -> RegistryClient {
        RegistryClient(hosts: .load(environment: environment), credentials: .load(environment: environment))
    }

    /// Must be called before the client goes away.
    public func shutdown() async { try? await http.shutdown() }

    /// Runs `body` with a client that is shut down afterwards, whatever happens.
    public static func with<T: Sendable>(environment: [String: String], _ body: (RegistryClient) async throws -> T) async throws -> T {
        let client = RegistryClient.load(environment: environment)
        do {
            let result = try await body(client)
            await client.shutdown()
            return result
        } catch {
            await client.shutdown()
            throw error
        }
    }

    // MARK: - Endpoints and auth

    /// The base URL of `domain`'s API: TLS first; plain HTTP when TLS fails and the registry may be
    /// reached without it. Also learns the registry's challenge.
    func base(_ domain: String) async throws -> String {
        if let known = state.withLock({ $0.bases[domain] }) { return known }
        let host = RegistryHosts.apiHost(domain)
        var schemes = ["https"]
        if hosts.allowsPlainHTTP(domain) { schemes.append("http") }
        var errors: [Error] = []
        for scheme in schemes {
            let base = "\(scheme)://\(host)"
            do {
                let response = try await execute(HTTPClientRequest(url: base + "/v2/"), timeout: .seconds(20))
                let body = (try? await Self.collect(response, limit: 1 << 20)) ?? []
                // A registry answers its ping with 200 or 401, or at least names its API version.
                guard response.status == .ok || response.status == .unauthorized || response.headers["Docker-Distribution-Api-Version"].first != nil else {
                    let text = String(decoding: body.prefix(200), as: UTF8.self).split(separator: "\n").first.map(String.init) ?? ""
                    throw RegistryError(.unreachable, "Get \"\(base)/v2/\": \(response.status.code) \(response.status.reasonPhrase) is not a registry's answer\(text.isEmpty ? "" : " (\(text))")")
                }
                let challenge = response.status == .unauthorized ? Self.parseChallenge(response.headers["WWW-Authenticate"].first ?? "") : nil
                state.withLock {
                    $0.bases[domain] = base
                    if let challenge { $0.challenges[domain] = challenge }
                }
                return base
            } catch {
                errors.append(error)
            }
        }
        // Over TLS and then plain HTTP: both answers matter (a certificate problem hides behind
        // "HTTP request to an HTTPS server").
        func cause(_ e: Error) -> Substring {
            let text = "\(e)"
            return text.firstRange(of: "\": ").map { text[$0.upperBound...] } ?? text[...]
        }
        if errors.count > 1, cause(errors[0]) != cause(errors[1]) {
            throw RegistryError(.unreachable, errors.map { "\($0)" }.joined(separator: "; and over plain HTTP: "))
        }
        if errors.count > 1 { throw errors[1] }
        throw errors.first ?? RegistryError(.unreachable, "cannot reach \(host)")
    }

    func credential(_ domain: String) throws -> RegistryCredential? {
        if let known = state.withLock({ $0.credentials[domain] }) { return known }
        let credential: RegistryCredential?
        do { credential = try credentials.credential(for: domain) } catch { throw RegistryError(.local, "cannot read the credentials for \(domain)", cause: error) }
        state.withLock { $0.credentials[domain] = credential }
        return credential
    }

    /// Replaces the credential this client uses for `domain` (login checks one before saving it).
    public func use(_ credential: RegistryCredential?, for domain: String) {
        state.withLock {
            $0.credentials[domain] = credential
            $0.authorizations = $0.authorizations.filter { !$0.key.hasPrefix(domain + " ") }
        }
    }

    /// Parses `Bearer realm="…",service="…",scope="…"` (or `Basic realm="…"`).
    static func parseChallenge(_ header: String) -> Challenge? {
        let trimmed = header.trimmingWhitespace()
        guard let space = trimmed.firstIndex(of: " ") else {
            return trimmed.isEmpty ? nil : Challenge(scheme: trimmed.lowercased(), parameters: [:])
        }
        let scheme = trimmed[..<space].lowercased()
        var parameters: [String: String] = [:]
        var rest = Substring(trimmed[trimmed.index(after: space)...])
        while !rest.isEmpty {
            rest = rest.drop { $0 == " " || $0 == "," }
            guard let eq = rest.firstIndex(of: "=") else { break }
            let key = rest[..<eq].trimmingWhitespace().lowercased()
            rest = rest[rest.index(after: eq)...]
            var value = ""
            if rest.first == "\"" {
                rest = rest.dropFirst()
                while let c = rest.first {
                    rest = rest.dropFirst()
                    if c == "\\", let next = rest.first { value.append(next); rest = rest.dropFirst(); continue }
                    if c == "\"" { break }
                    value.append(c)
                }
            } else {
                let end = rest.firstIndex(of: ",") ?? rest.endIndex
                value = rest[..<end].trimmingWhitespace()
                rest = rest[end...]
            }
            parameters[key] = value
        }
        return Challenge(scheme: scheme, parameters: parameters)
    }

    /// The `Authorization` header for `scope` on `domain`, fetching a token when the registry's
    /// challenge asks for one. Nil when the registry wants none.
    func authorization(_ domain: String, scope: String, renew: Bool = false) async throws -> String? {
        let key = "\(domain) \(scope)"
        if !renew, let known = state.withLock({ $0.authorizations[key] }) { return known }
        guard let challenge = state.withLock({ $0.challenges[domain] }) else { return nil }
        let credential = try credential(domain)
        let value: String
        switch challenge.scheme {
        case "basic":
            guard let credential, !credential.username.isEmpty else {
                throw RegistryError(.unauthorized, "unauthorized: \(domain) requires authentication (swcompose login \(domain))")
            }
            value = "Basic " + Data("\(credential.username):\(credential.password)".utf8).base64EncodedString()
        case "bearer":
            value = "Bearer " + (try await token(domain, challenge: challenge, scope: scope, credential: credential))
        default:
            throw RegistryError(.unauthorized, "\(domain) asks for \(challenge.scheme) authentication, which swcompose does not speak")
        }
        state.withLock { $0.authorizations[key] = value }
        return value
    }

    /// A bearer token from the challenge's realm: a refresh-token grant for identity tokens, else a GET
    /// with basic credentials (or none, for anonymous access).
    func token(_ domain: String, challenge: Challenge, scope: String, credential: RegistryCredential?) async throws -> String {
        guard let realm = challenge.parameters["realm"], realm.hasPrefix("http") else {
            throw RegistryError(.invalid, "\(domain) sent a bearer challenge without a realm")
        }
        let service = challenge.parameters["service"]
        var request: HTTPClientRequest
        if let refresh = credential?.identityToken {
            request = HTTPClientRequest(url: realm)
            request.method = .POST
            var form = "grant_type=refresh_token&client_id=swcompose&refresh_token=\(Self.formEncode(refresh))"
            if let service { form += "&service=\(Self.formEncode(service))" }
            if !scope.isEmpty { form += "&scope=\(Self.formEncode(scope))" }
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.body = .bytes(ByteBuffer(string: form))
        } else {
            var query: [String] = []
            if let service { query.append("service=\(Self.formEncode(service))") }
            if !scope.isEmpty { query.append("scope=\(Self.formEncode(scope))") }
            if let credential, !credential.username.isEmpty { query.append("account=\(Self.formEncode(credential.username))") }
            request = HTTPClientRequest(url: realm + (realm.contains("?") ? "&" : "?") + query.joined(separator: "&"))
            if let credential, !credential.username.isEmpty {
                request.headers.add(name: "Authorization", value: "Basic " + Data("\(credential.username):\(credential.password)".utf8).base64EncodedString())
            }
        }
        let response = try await execute(request, timeout: .seconds(30))
        let body = try await Self.collect(response, limit: 1 << 20)
        switch response.status.code {
        case 200:
            guard let json = JSONValue.parse(body), let token = json["token"]?.string ?? json["access_token"]?.string, !token.isEmpty else {
                throw RegistryError(.invalid, "the token service of \(domain) (\(realm)) answered without a token")
            }
            return token
        case 401, 403:
            let detail = Self.errorText(body) ?? "incorrect username or password"
            throw RegistryError(credential == nil ? .denied : .unauthorized, "unauthorized: \(detail)")
        case 429:
            throw Self.rateLimited(response, body: body, domain: domain)
        default:
            throw RegistryError(.invalid, "the token service of \(domain) answered \(response.status.code) \(response.status.reasonPhrase)\(Self.errorText(body).map { ": " + $0 } ?? "")")
        }
    }

    static func formEncode(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            if (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x2E || b == 0x5F || b == 0x7E {
                out.append(Character(UnicodeScalar(b)))
            } else {
                let hex = Array("0123456789ABCDEF")
                out += "%" + String(hex[Int(b >> 4)]) + String(hex[Int(b & 15)])
            }
        }
        return out
    }

    // MARK: - Requests

    /// Sends a request to `domain`'s API (`path` from `/v2/…`, or an absolute URL the registry gave),
    /// authorised for `scope`, renewing the authorisation once on a 401, and following redirects
    /// (without credentials when they lead to another host).
    func send(_ domain: String, _ method: HTTPMethod, _ path: String, scope: String, headers: [(String, String)] = [],
              body: (@Sendable () -> HTTPClientRequest.Body)? = nil, timeout: TimeAmount = .seconds(300)) async throws -> HTTPClientResponse {
        let base = try await base(domain)
        var url = path.hasPrefix("http://") || path.hasPrefix("https://") ? path : base + path
        var renewed = false
        var hops = 0
        var sameHost = true
        var authorization = try await authorization(domain, scope: scope)
        while true {
            var request = HTTPClientRequest(url: url)
            request.method = method
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            if sameHost, let authorization { request.headers.replaceOrAdd(name: "Authorization", value: authorization) }
            if let body { request.body = body() }
            let response = try await execute(request, timeout: timeout)
            if response.status == .unauthorized && sameHost && !renewed {
                _ = try? await response.body.collect(upTo: 1 << 20)
                if let challenge = Self.parseChallenge(response.headers["WWW-Authenticate"].first ?? "") {
                    state.withLock { $0.challenges[domain] = challenge }
                }
                renewed = true
                authorization = try await self.authorization(domain, scope: scope, renew: true)
                if authorization == nil { return response }
                continue
            }
            if [301, 302, 303, 307, 308].contains(response.status.code), let location = response.headers["Location"].first {
                _ = try? await response.body.collect(upTo: 1 << 20)
                hops += 1
                guard hops <= 10 else { throw RegistryError(.invalid, "\(domain): too many redirects for \(path)") }
                let next = Self.resolve(location, against: url)
                sameHost = sameHost && Self.origin(next) == Self.origin(url)
                url = next
                continue
            }
            return response
        }
    }

    /// One HTTP exchange, with transport failures turned into "cannot reach" errors.
    func execute(_ request: HTTPClientRequest, timeout: TimeAmount) async throws -> HTTPClientResponse {
        var request = request
        request.headers.replaceOrAdd(name: "User-Agent", value: "swcompose")
        if request.url.hasPrefix("https://") { request.tlsConfiguration = try tlsConfiguration(Self.authority(request.url)) }
        do {
            return try await http.execute(request, timeout: timeout)
        } catch let error as RegistryError {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw RegistryError(.unreachable, "\(request.method.rawValue.capitalized) \"\(request.url)\": \(Self.describeTransport(error))")
        }
    }

    static func describeTransport(_ error: Error) -> String {
        let text = String(describing: error)
        if text.contains("connectionRefused") || text.contains("Connection refused") || text.contains("ECONNREFUSED") { return "connection refused" }
        if text.contains("connectTimeout") || text.contains("deadlineExceeded") { return "connection timed out" }
        if text.contains("CERTIFICATE_VERIFY_FAILED") {
            return "TLS: the registry's certificate is not trusted (a private CA goes in /etc/docker/certs.d/<host:port>/ca.crt)"
        }
        if text.contains("NIOSSL") || text.contains("handshake") {
            // BoringSSL's reason: "error:…:SSL routines:OPENSSL_internal:<REASON> at …".
            if let r = text.firstRange(of: "OPENSSL_internal:") {
                return "TLS handshake failed: " + text[r.upperBound...].prefix { $0 != " " && $0 != "]" }
            }
            return "TLS handshake failed (\(text))"
        }
        if text.contains("UnknownHost") || text.contains("getaddrinfo") || text.contains("NXDOMAIN") {
            if let hostRange = text.firstRange(of: "for host ") {
                let host = text[hostRange.upperBound...].prefix { $0 != "," && $0 != " " }
                return "lookup \(host): no such host"
            }
            return "no such host"
        }
        return text
    }

    /// The CAs and client certificate docker's certs.d holds for `authority` (`host:port`), loaded once.
    func tlsConfiguration(_ authority: String) throws -> TLSConfiguration? {
        if let known = state.withLock({ $0.tls[authority] }) { return known }
        var configuration: TLSConfiguration?
        if let files = hosts.tlsFiles(authority) {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.additionalTrustRoots = files.authorities.map { .file($0) }
            if let client = files.clientCertificate {
                do {
                    tls.certificateChain = try NIOSSLCertificate.fromPEMFile(client.certificate).map { .certificate($0) }
                    tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: client.key, format: .pem))
                } catch {
                    throw RegistryError(.local, "cannot load the client certificate \(client.certificate) for \(authority): \(error)")
                }
            }
            configuration = tls
        }
        state.withLock { $0.tls[authority] = .some(configuration) }
        return configuration
    }

    /// `host:port` of a URL.
    static func authority(_ url: String) -> String {
        let origin = origin(url)
        guard let schemeEnd = origin.firstRange(of: "://") else { return origin }
        return String(origin[schemeEnd.upperBound...])
    }

    static func origin(_ url: String) -> String {
        guard let schemeEnd = url.firstRange(of: "://") else { return url }
        let rest = url[schemeEnd.upperBound...]
        let host = rest[..<(rest.firstIndex(of: "/") ?? rest.endIndex)]
        return String(url[..<schemeEnd.upperBound] + host)
    }

    static func resolve(_ location: String, against url: String) -> String {
        if location.hasPrefix("http://") || location.hasPrefix("https://") { return location }
        if location.hasPrefix("/") { return origin(url) + location }
        let dir = url[..<(url.lastIndex(of: "/") ?? url.endIndex)]
        return dir + "/" + location
    }

    static func collect(_ response: HTTPClientResponse, limit: Int) async throws -> [UInt8] {
        do {
            var buffer = try await response.body.collect(upTo: limit)
            return buffer.readBytes(length: buffer.readableBytes) ?? []
        } catch let error as NIOTooManyBytesError {
            throw RegistryError(.invalid, "the registry's answer is larger than \(limit) bytes (\(error))")
        } catch {
            throw RegistryError(.unreachable, "reading the registry's answer: \(describeTransport(error))")
        }
    }

    /// `code: message` of a registry error document (`{"errors":[{"code":…,"message":…}]}`).
    static func errorText(_ body: [UInt8]) -> String? {
        guard let json = JSONValue.parse(body) else { return nil }
        if let errors = json["errors"]?.array, let first = errors.first {
            let code = (first["code"]?.string ?? "").lowercased().split(separator: "_").joined(separator: " ")
            let message = first["message"]?.string ?? ""
            if code.isEmpty { return message }
            return message.isEmpty ? code : "\(code): \(message)"
        }
        if let details = json["details"]?.string { return details }
        if let message = json["message"]?.string { return message }
        return nil
    }

    static func rateLimited(_ response: HTTPClientResponse, body: [UInt8], domain: String) -> RegistryError {
        var message = errorText(body) ?? "toomanyrequests: too many requests to \(domain)"
        if let after = response.headers["Retry-After"].first {
            message += " (retry after \(after)\(Int(after) != nil ? " seconds" : ""))"
        }
        return RegistryError(.rateLimited, message)
    }

    /// The error for an unexpected answer about `what` (e.g. "manifest for x:1").
    static func failure(_ response: HTTPClientResponse, body: [UInt8], domain: String, what: String, repository: String) -> RegistryError {
        let detail = errorText(body)
        switch response.status.code {
        case 401:
            return RegistryError(.unauthorized, "pull access denied for \(repository), repository does not exist or may require 'swcompose login': \(detail ?? "unauthorized: authentication required")")
        case 403:
            return RegistryError(.denied, "access to \(repository) denied: \(detail ?? "denied: requested access to the resource is denied")")
        case 404:
            return RegistryError(.notFound, "\(what) not found: \(detail ?? "not found")")
        case 429:
            return rateLimited(response, body: body, domain: domain)
        default:
            return RegistryError(.invalid, "\(what): \(domain) answered \(response.status.code) \(response.status.reasonPhrase)\(detail.map { ": " + $0 } ?? "")")
        }
    }

    // MARK: - Registry API

    public static let manifestAccept = [MediaType.ociIndex, MediaType.dockerManifestList, MediaType.ociManifest, MediaType.dockerManifest].joined(separator: ", ")

    public struct FetchedManifest: Sendable {
        public var mediaType: String
        public var digest: Digest
        public var bytes: [UInt8]
    }

    /// A manifest or index by tag or digest, verified against the digest when one is asked for.
    public func manifest(_ ref: ImageReference, reference: String? = nil) async throws -> FetchedManifest {
        let wanted = reference ?? ref.digest?.description ?? ref.tag ?? "latest"
        let response = try await send(ref.domain, .GET, "/v2/\(ref.path)/manifests/\(wanted)", scope: "repository:\(ref.path):pull",
                                      headers: [("Accept", Self.manifestAccept)], timeout: .seconds(60))
        let body = try await Self.collect(response, limit: 8 << 20)
        guard response.status == .ok else {
            let shown = wanted.hasPrefix("sha256:") ? "\(ref.name)@\(wanted)" : "\(ref.name):\(wanted)"
            throw Self.failure(response, body: body, domain: ref.domain, what: "manifest for \(shown)", repository: ref.familiarName)
        }
        let digest = Digest.of(body)
        if let expected = Digest(wanted), expected != digest {
            throw RegistryError(.corrupt, "manifest \(expected) of \(ref.name) is corrupt: its content hashes to \(digest)")
        }
        let document = JSONValue.parse(body)
        var mediaType = response.headers["Content-Type"].first.map { String($0.split(separator: ";")[0]).trimmingWhitespace() } ?? ""
        if let declared = document?["mediaType"]?.string { mediaType = declared }
        if mediaType.isEmpty || mediaType == "application/json" {
            // Untyped OCI documents: an index has manifests, a manifest has a config.
            mediaType = document?["manifests"] != nil ? MediaType.ociIndex : MediaType.ociManifest
        }
        if document?["schemaVersion"] == .number(1) || mediaType.hasPrefix("application/vnd.docker.distribution.manifest.v1+") {
            throw RegistryError(.invalid, "\(ref.familiar) has a docker schema 1 manifest, which is deprecated and not supported")
        }
        return FetchedManifest(mediaType: mediaType, digest: digest, bytes: body)
    }

    /// Whether the repository has a blob (a HEAD request).
    public func hasBlob(_ ref: ImageReference, _ digest: Digest, scope: String) async throws -> Bool {
        let response = try await send(ref.domain, .HEAD, "/v2/\(ref.path)/blobs/\(digest)", scope: scope, timeout: .seconds(60))
        _ = try? await response.body.collect(upTo: 1 << 20)
        switch response.status.code {
        case 200: return true
        case 404: return false
        default: throw Self.failure(response, body: [], domain: ref.domain, what: "blob \(digest)", repository: ref.familiarName)
        }
    }

    /// Starts fetching a blob (from `offset`, when a partial copy exists). The answer is 200 (the
    /// whole blob) or 206 (the rest).
    public func blob(_ ref: ImageReference, _ digest: Digest, offset: Int64 = 0) async throws -> HTTPClientResponse {
        var headers: [(String, String)] = []
        if offset > 0 { headers.append(("Range", "bytes=\(offset)-")) }
        let response = try await send(ref.domain, .GET, "/v2/\(ref.path)/blobs/\(digest)", scope: "repository:\(ref.path):pull", headers: headers)
        guard response.status == .ok || response.status == .partialContent else {
            let body = try await Self.collect(response, limit: 1 << 20)
            throw Self.failure(response, body: body, domain: ref.domain, what: "blob \(digest) of \(ref.name)", repository: ref.familiarName)
        }
        return response
    }

    /// Uploads a blob monolithically: POST for an upload location, then PUT with the digest.
    public func upload(_ ref: ImageReference, _ digest: Digest, size: Int64, body: @escaping @Sendable () -> HTTPClientRequest.Body) async throws {
        let scope = "repository:\(ref.path):pull,push"
        let start = try await send(ref.domain, .POST, "/v2/\(ref.path)/blobs/uploads/", scope: scope,
                                   headers: [("Content-Length", "0")], timeout: .seconds(60))
        let startBody = try await Self.collect(start, limit: 1 << 20)
        guard start.status == .accepted, let location = start.headers["Location"].first else {
            throw Self.pushFailure(start, body: startBody, ref: ref, what: "starting the upload of \(digest)")
        }
        let base = try await base(ref.domain)
        var url = Self.resolve(location, against: base + "/v2/\(ref.path)/blobs/uploads/")
        url += (url.contains("?") ? "&" : "?") + "digest=" + Self.formEncode(digest.description)
        let put = try await send(ref.domain, .PUT, url, scope: scope,
                                 headers: [("Content-Type", "application/octet-stream"), ("Content-Length", String(size))], body: body)
        let putBody = try await Self.collect(put, limit: 1 << 20)
        guard put.status == .created || put.status == .noContent || put.status == .accepted else {
            throw Self.pushFailure(put, body: putBody, ref: ref, what: "uploading \(digest)")
        }
    }

    /// Puts a manifest under a tag (or its digest).
    public func putManifest(_ ref: ImageReference, reference: String, mediaType: String, bytes: [UInt8]) async throws {
        let response = try await send(ref.domain, .PUT, "/v2/\(ref.path)/manifests/\(reference)", scope: "repository:\(ref.path):pull,push",
                                      headers: [("Content-Type", mediaType)], body: { .bytes(ByteBuffer(bytes: bytes)) }, timeout: .seconds(60))
        let body = try await Self.collect(response, limit: 1 << 20)
        guard response.status == .created || response.status == .ok || response.status == .accepted else {
            throw Self.pushFailure(response, body: body, ref: ref, what: "putting the manifest \(reference)")
        }
    }

    static func pushFailure(_ response: HTTPClientResponse, body: [UInt8], ref: ImageReference, what: String) -> RegistryError {
        let detail = errorText(body)
        switch response.status.code {
        case 401:
            return RegistryError(.unauthorized, "push access to \(ref.name) unauthorized: \(detail ?? "authentication required") (swcompose login \(ref.domain))")
        case 403:
            return RegistryError(.denied, "push access to \(ref.name) denied: \(detail ?? "denied: requested access to the resource is denied")")
        case 429:
            return rateLimited(response, body: body, domain: ref.domain)
        default:
            return RegistryError(.invalid, "\(what) to \(ref.name): \(ref.domain) answered \(response.status.code) \(response.status.reasonPhrase)\(detail.map { ": " + $0 } ?? "")")
        }
    }

    /// Checks that `credential` opens `domain` (for `login`): a ping, then a token or an authorised
    /// `/v2/` request.
    public func checkLogin(_ domain: String, _ credential: RegistryCredential) async throws {
        use(credential, for: domain)
        let base = try await base(domain)
        let response = try await send(domain, .GET, base + "/v2/", scope: "", timeout: .seconds(30))
        let body = try await Self.collect(response, limit: 1 << 20)
        switch response.status.code {
        case 200: return
        case 401, 403: throw RegistryError(.unauthorized, "unauthorized: \(Self.errorText(body) ?? "incorrect username or password")")
        default: throw RegistryError(.invalid, "login to \(domain): \(response.status.code) \(response.status.reasonPhrase)")
        }
    }
}
