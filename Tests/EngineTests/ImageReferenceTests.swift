import Testing
@testable import Engine

@Suite struct ImageReferenceTests {
    @Test(arguments: [
        ("busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
        ("library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("user/app", "docker.io/user/app:latest", "user/app:latest"),
        ("docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("index.docker.io/user/app:v1", "docker.io/user/app:v1", "user/app:v1"),
        ("localhost:5000/x", "localhost:5000/x:latest", "localhost:5000/x:latest"),
        ("localhost/x", "localhost/x:latest", "localhost/x:latest"),
        ("registry.example.com:443/a/b/c:tag", "registry.example.com:443/a/b/c:tag", "registry.example.com:443/a/b/c:tag"),
        ("ghcr.io/o/r@sha256:" + String(repeating: "a", count: 64), "ghcr.io/o/r@sha256:" + String(repeating: "a", count: 64), "ghcr.io/o/r@sha256:" + String(repeating: "a", count: 64)),
        ("a-b__c/d.e_f:1", "docker.io/a-b__c/d.e_f:1", "a-b__c/d.e_f:1"),
    ])
    func normalisation(_ input: String, _ full: String, _ familiar: String) throws {
        let r = try ImageReference(parsing: input)
        #expect(r.description == full)
        #expect(r.familiar == familiar)
    }

    @Test(arguments: ["", "Busybox", "busy box", "a:b:c", "x@sha256:123", "-x", "x/-y", "a__-b", ":tag", "x:" + String(repeating: "t", count: 129), "a-b__c.d/e"])
    func refusals(_ input: String) {
        #expect(throws: ImageReference.ParseError.self) { try ImageReference(parsing: input) }
    }

    @Test func chainIDs() {
        let a = Digest.of("a"), b = Digest.of("b")
        let chains = LayerStore.chainIDs([a, b])
        #expect(chains[0] == a)
        #expect(chains[1] == Digest.of("\(a) \(b)"))
    }

    @Test func digests() {
        #expect(Digest.of("").description == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(Digest("sha256:xyz") == nil)
        #expect(Digest("md5:" + String(repeating: "a", count: 64)) == nil)
    }
}
