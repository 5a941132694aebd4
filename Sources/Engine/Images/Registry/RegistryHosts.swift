#if canImport(Glibc)
import Glibc
#endif
import Engine
import FoundationEssentials

/// Where a registry domain is served and how: `docker.io` is `registry-1.docker.io`; everything is
/// TLS with the system's CAs, except loopback registries and those listed as insecure, which are tried
/// over TLS first and then over plain HTTP (as dockerd does).
public struct RegistryHosts: Sendable {
    /// Entries of docker's `insecure-registries`: `host`, `host:port` or a CIDR (`10.0.0.0/8`).
    public var insecure: [String]
    /// docker's per-registry TLS files: `<dir>/<host:port>/*.crt` are CAs trusted for that registry
    /// (beside the system's), `*.cert` with the `*.key` of the same name a client certificate.
    public var certificatesDirectory: String
    /// docker's `registry-mirrors`: registries asked first for Docker Hub's images, as
    /// `host[:port]` (a mirror given as `http://…` may be reached over plain HTTP).
    public var mirrors: [String]

    public init(insecure: [String] = [], certificatesDirectory: String = "/etc/docker/certs.d", mirrors: [String] = []) {
        self.insecure = insecure
        self.certificatesDirectory = certificatesDirectory
        self.mirrors = []
        for m in mirrors {
            var text = m.trimmingWhitespace()
            var plain = false
            if text.hasPrefix("http://") { text.removeFirst(7); plain = true } else if text.hasPrefix("https://") { text.removeFirst(8) }
            while text.hasSuffix("/") { text.removeLast() }
            guard !text.isEmpty, !text.contains("/") else { continue }
            self.mirrors.append(text)
            if plain { self.insecure.append(text) }
        }
    }

    /// Where an image of `domain` is pulled from, in order: Docker Hub's images from the mirrors
    /// first (as dockerd does), then the registry itself. Pushes never go to mirrors.
    public func pullDomains(_ domain: String) -> [String] {
        domain == ImageReference.defaultDomain ? mirrors + [domain] : [domain]
    }

    public struct TLSFiles: Sendable, Equatable {
        public var authorities: [String] = []
        public var clientCertificate: (certificate: String, key: String)?

        public static func == (a: TLSFiles, b: TLSFiles) -> Bool {
            a.authorities == b.authorities && a.clientCertificate?.certificate == b.clientCertificate?.certificate
                && a.clientCertificate?.key == b.clientCertificate?.key
        }
    }

    /// The TLS files docker would use for `domain`, if any.
    public func tlsFiles(_ domain: String) -> TLSFiles? {
        let dir = "\(certificatesDirectory)/\(domain)"
        guard let names = try? Sys.list(dir) else { return nil }
        var files = TLSFiles()
        for name in names.sorted() {
            if name.hasSuffix(".crt") { files.authorities.append("\(dir)/\(name)") }
            if name.hasSuffix(".cert") {
                let key = "\(dir)/\(name.dropLast(5)).key"
                if Sys.exists(key) { files.clientCertificate = ("\(dir)/\(name)", key) }
            }
        }
        return files.authorities.isEmpty && files.clientCertificate == nil ? nil : files
    }

    /// docker's `/etc/docker/daemon.json` `insecure-registries` and `registry-mirrors`, and
    /// `$SWCOMPOSE_INSECURE_REGISTRIES` and `$SWCOMPOSE_REGISTRY_MIRRORS` (comma-separated; the
    /// variable's mirrors come first); the certificates of `/etc/docker/certs.d` (or `$SWCOMPOSE_CERTS_D`).
    public static func load(environment: [String: String], daemonConfig: String = "/etc/docker/daemon.json") -> RegistryHosts {
        var insecure: [String] = []
        var mirrors: [String] = []
        func list(_ text: String?) -> [String] {
            (text ?? "").split(separator: ",").map { String($0).trimmingWhitespace() }.filter { !$0.isEmpty }
        }
        mirrors += list(environment["SWCOMPOSE_REGISTRY_MIRRORS"])
        if let bytes = try? Files.read(daemonConfig), let json = JSONValue.parse(bytes) {
            insecure += json["insecure-registries"]?.array?.compactMap(\.string) ?? []
            mirrors += json["registry-mirrors"]?.array?.compactMap(\.string) ?? []
        }
        insecure += list(environment["SWCOMPOSE_INSECURE_REGISTRIES"])
        return RegistryHosts(insecure: insecure,
                             certificatesDirectory: environment["SWCOMPOSE_CERTS_D"].flatMap { $0.isEmpty ? nil : $0 } ?? "/etc/docker/certs.d",
                             mirrors: mirrors)
    }

    /// The host (and port) requests for `domain` go to.
    public static func apiHost(_ domain: String) -> String {
        domain == ImageReference.defaultDomain ? "registry-1.docker.io" : domain
    }

    /// The key docker's `config.json` files credentials of `domain` under.
    public static func credentialKey(_ domain: String) -> String {
        domain == ImageReference.defaultDomain ? "https://index.docker.io/v1/" : domain
    }

    /// Whether `domain` may be reached over plain HTTP.
    public func allowsPlainHTTP(_ domain: String) -> Bool {
        let host = Self.hostPart(domain)
        if host == "localhost" || host.hasSuffix(".localhost") || host == "::1" { return true }
        if let a = IPv4Address(host), IPv4Network("127.0.0.0/8")!.contains(a) { return true }
        for entry in insecure {
            let e = entry.hasPrefix("http://") ? String(entry.dropFirst(7)) : (entry.hasPrefix("https://") ? String(entry.dropFirst(8)) : entry)
            if e == domain || e == host { return true }
            if e.contains("/"), let network = IPv4Network(e), let a = IPv4Address(host), network.contains(a) { return true }
        }
        return false
    }

    /// `host` of `host:port` (and of `[v6]:port`).
    static func hostPart(_ domain: String) -> String {
        if domain.hasPrefix("["), let close = domain.firstIndex(of: "]") {
            return String(domain[domain.index(after: domain.startIndex)..<close])
        }
        if let colon = domain.lastIndex(of: ":") { return String(domain[..<colon]) }
        return domain
    }
}
