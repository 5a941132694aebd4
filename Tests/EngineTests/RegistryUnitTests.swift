import Foundation
import Testing
import TestSupport
@testable import Engine
@testable import Registry

@Suite struct RegistryUnitTests {
    @Test func bearerAndBasicChallengesParse() throws {
        let bearer = try #require(RegistryClient.parseChallenge(#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/redis:pull""#))
        #expect(bearer.scheme == "bearer")
        #expect(bearer.parameters == ["realm": "https://auth.docker.io/token", "service": "registry.docker.io", "scope": "repository:library/redis:pull"])
        let basic = try #require(RegistryClient.parseChallenge(#"Basic realm="swcompose-test""#))
        #expect(basic.scheme == "basic" && basic.parameters["realm"] == "swcompose-test")
        let escaped = try #require(RegistryClient.parseChallenge(#"Bearer realm="https://x/t", error="insufficient_scope", scope="a \"b\"""#))
        #expect(escaped.parameters["error"] == "insufficient_scope" && escaped.parameters["scope"] == #"a "b""#)
        #expect(RegistryClient.parseChallenge("") == nil)
    }

    @Test func registryErrorsReadAsDockerPrintsThem() {
        let body = Array(#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"nope"}}]}"#.utf8)
        #expect(RegistryClient.errorText(body) == "manifest unknown: manifest unknown")
        let limited = Array(#"{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached your pull rate limit."}]}"#.utf8)
        #expect(RegistryClient.errorText(limited) == "toomanyrequests: You have reached your pull rate limit.")
        #expect(RegistryClient.errorText(Array("<html>".utf8)) == nil)
    }

    @Test func redirectsResolveAndKeepCredentialsAtHome() {
        #expect(RegistryClient.resolve("/v2/x/blobs/uploads/abc?_state=1", against: "http://127.0.0.1:5000/v2/x/blobs/uploads/") == "http://127.0.0.1:5000/v2/x/blobs/uploads/abc?_state=1")
        #expect(RegistryClient.resolve("https://cdn.example/blob", against: "https://r.example/v2/x") == "https://cdn.example/blob")
        #expect(RegistryClient.origin("https://r.example:443/v2/x") == "https://r.example:443")
        #expect(RegistryClient.origin("https://r.example/v2/") != RegistryClient.origin("https://cdn.example/blob"))
        #expect(RegistryClient.formEncode("a b/c:d") == "a%20b%2Fc%3Ad")
    }

    @Test func plainHTTPOnlyForLoopbackAndInsecureRegistries() throws {
        let hosts = RegistryHosts(insecure: ["registry.lan:5000", "10.1.0.0/16", "http://plain.example"])
        #expect(hosts.allowsPlainHTTP("localhost:5000") && hosts.allowsPlainHTTP("127.0.0.1:5000") && hosts.allowsPlainHTTP("127.3.4.5"))
        #expect(hosts.allowsPlainHTTP("[::1]:5000"))
        #expect(hosts.allowsPlainHTTP("registry.lan:5000") && !hosts.allowsPlainHTTP("registry.lan:6000"))
        #expect(hosts.allowsPlainHTTP("10.1.2.3:5000") && !hosts.allowsPlainHTTP("10.2.0.1:5000"))
        #expect(hosts.allowsPlainHTTP("plain.example"))
        #expect(!hosts.allowsPlainHTTP("docker.io") && !hosts.allowsPlainHTTP("ghcr.io"))
        #expect(RegistryHosts.apiHost("docker.io") == "registry-1.docker.io")

        let dir = TemporaryDirectory("hosts")
        try #"{"insecure-registries": ["a.lan:5000"]}"#.write(toFile: dir.sub("daemon.json"), atomically: true, encoding: .utf8)
        let loaded = RegistryHosts.load(environment: ["SWCOMPOSE_INSECURE_REGISTRIES": "b.lan, c.lan:1"], daemonConfig: dir.sub("daemon.json"))
        #expect(loaded.insecure == ["a.lan:5000", "b.lan", "c.lan:1"])
    }

    @Test func platformsAreChosenFromAnIndex() throws {
        func d(_ arch: String, _ variant: String? = nil, attestation: Bool = false) -> Descriptor {
            var p = Platform(architecture: arch, os: attestation ? "unknown" : "linux", variant: variant)
            if attestation { p.architecture = "unknown" }
            return Descriptor(mediaType: MediaType.ociManifest, digest: Digest.of(arch + (variant ?? "") + "\(attestation)"), size: 1,
                              annotations: attestation ? ["vnd.docker.reference.type": "attestation-manifest"] : nil, platform: p)
        }
        let index = ImageIndex(manifests: [d("amd64"), d("arm", "v6"), d("arm", "v7"), d("arm64", "v8"), d("x", attestation: true)])
        #expect(ImagePuller.select(index, for: Platform(architecture: "amd64", os: "linux"))?.platform?.architecture == "amd64")
        #expect(ImagePuller.select(index, for: Platform(architecture: "arm", os: "linux", variant: "v7"))?.platform?.variant == "v7")
        #expect(ImagePuller.select(index, for: Platform(architecture: "arm64", os: "linux"))?.platform?.variant == "v8")
        #expect(ImagePuller.select(index, for: Platform(architecture: "s390x", os: "linux")) == nil)
        #expect(ImagePuller.offered(index).map(\.description) == ["linux/amd64", "linux/arm/v6", "linux/arm/v7", "linux/arm64/v8"])
        #expect(Platform(parsing: "linux/arm64/v8") == Platform(architecture: "arm64", os: "linux", variant: "v8"))
        #expect(Platform(parsing: "x86_64") == Platform(architecture: "amd64", os: "linux"))
        #expect(Platform(parsing: "a/b/c/d") == nil)
    }

    @Test func credentialsFromAuthsAndHelpers() throws {
        let dir = TemporaryDirectory("creds")
        let store = CredentialStore(path: dir.sub("config.json"), environment: ["PATH": dir.path])
        #expect(try store.credential(for: "r.example") == nil)
        try store.store(RegistryCredential(username: "u", password: "p:w"), for: "r.example")
        try store.store(RegistryCredential(username: "hub", password: "x"), for: "docker.io")
        #expect(try store.credential(for: "r.example") == RegistryCredential(username: "u", password: "p:w"))
        let doc = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir.sub("config.json")))) as! [String: Any]
        let auths = doc["auths"] as! [String: [String: String]]
        #expect(auths["r.example"]?["auth"] == Data("u:p:w".utf8).base64EncodedString())
        #expect(auths["https://index.docker.io/v1/"] != nil, "Docker Hub under docker's key")
        #expect(try store.erase("r.example") && !(try store.erase("r.example")))
        #expect(try store.credential(for: "docker.io")?.username == "hub")

        // Keys written with a scheme and a path, and identity tokens.
        try #"{"auths":{"https://ghcr.example/v2/":{"auth":"\#(Data("a:b".utf8).base64EncodedString())"},"tok.example":{"identitytoken":"refresh"}},"other":{"kept":true}}"#
            .write(toFile: dir.sub("config.json"), atomically: true, encoding: .utf8)
        #expect(try store.credential(for: "ghcr.example") == RegistryCredential(username: "a", password: "b"))
        #expect(try store.credential(for: "tok.example")?.identityToken == "refresh")
        try store.store(RegistryCredential(username: "c", password: "d"), for: "new.example")
        let kept = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir.sub("config.json")))) as! [String: Any]
        #expect((kept["other"] as? [String: Bool])?["kept"] == true, "the rest of config.json is kept")

        // A credential helper (a real program on PATH speaking docker's helper protocol).
        try """
        #!/bin/sh
        case "$1" in
          get) read server; [ "$server" = "helped.example" ] && echo '{"ServerURL":"helped.example","Username":"hu","Secret":"hs"}' && exit 0
               echo "credentials not found in native keychain"; exit 1 ;;
          store) /bin/cat > \(dir.sub("stored")) ; exit 0 ;;
          erase) read server; exit 0 ;;
        esac
        """.write(toFile: dir.sub("docker-credential-test"), atomically: true, encoding: .utf8)
        chmod(dir.sub("docker-credential-test"), 0o755)
        try #"{"credsStore":"test"}"#.write(toFile: dir.sub("config.json"), atomically: true, encoding: .utf8)
        #expect(try store.credential(for: "helped.example") == RegistryCredential(username: "hu", password: "hs"))
        #expect(try store.credential(for: "elsewhere.example") == nil)
        try store.store(RegistryCredential(username: "su", password: "sp"), for: "helped.example")
        #expect(try String(contentsOfFile: dir.sub("stored"), encoding: .utf8).contains(#""Secret":"sp""#))

        try #"{"credsStore":"missing"}"#.write(toFile: dir.sub("config.json"), atomically: true, encoding: .utf8)
        #expect(throws: CredentialStore.Failure.self) { try store.credential(for: "x.example") }
    }
}
