import Testing
@testable import Scheduler

/// How `cache_from`/`cache_to` entries and git contexts are read (BuildKit's and docker's syntax).
@Suite struct BuildSourcesTests {
    @Test func cacheEntriesInBuildKitsSyntax() {
        func parse(_ s: String, export: Bool = false) -> String {
            switch BuildCacheEntry.parse(s, export: export) {
            case .success(let e): return "\(e)"
            case .failure(let e): return "error: " + e.message
            }
        }
        #expect(parse("registry.example/app:cache") == #"registry(ref: "registry.example/app:cache", mode: "min", ignoreError: false)"#)
        #expect(parse("type=registry,ref=r.example/a:c,mode=max,ignore-error=true", export: true)
            == #"registry(ref: "r.example/a:c", mode: "max", ignoreError: true)"#)
        #expect(parse("type=local,src=./cache") == #"local(path: "./cache", tag: "latest", digest: nil, mode: "min", ignoreError: false)"#)
        #expect(parse("type=local,src=./cache", export: true) == "error: cache_to type=local needs dest=DIRECTORY")
        #expect(parse("type=gha") == "error: cache_from type=gha is a BuildKit cache backend swcompose does not have: use type=registry or type=local")
        #expect(parse("type=inline", export: true).hasPrefix("error: cache_to type=inline (cache records inside the image) is not supported"))
        #expect(parse("type=registry,ref=a/b,compression=zstd", export: true).hasPrefix("error: cache_to attribute compression is not supported"))
        #expect(parse("type=registry,ref=a/b,mode=all") == "error: cache_from mode all: min or max")
        #expect(parse("type=registry") == "error: cache_from type=registry needs ref=IMAGE")
        #expect(parse("Not A Ref") == "error: cache_from \"Not A Ref\" is not an image reference or a type=… entry")
    }

    @Test func gitContextsAsDockerRecognisesThem() {
        #expect(GitContext("git://host/repo.git") == GitContext(url: "git://host/repo.git", ref: nil, subdirectory: nil))
        #expect(GitContext("https://host/repo.git#v1.2:docker/app") == GitContext(url: "https://host/repo.git", ref: "v1.2", subdirectory: "docker/app"))
        #expect(GitContext("git@github.com:user/repo.git#:sub") == GitContext(url: "git@github.com:user/repo.git", ref: nil, subdirectory: "sub"))
        #expect(GitContext("github.com/user/repo") == GitContext(url: "https://github.com/user/repo", ref: nil, subdirectory: nil))
        #expect(GitContext("ssh://git@host/repo#main") == GitContext(url: "ssh://git@host/repo", ref: "main", subdirectory: nil))
        // Not git: a tarball URL, a directory.
        #expect(GitContext("https://host/context.tar.gz") == nil)
        #expect(GitContext("./app") == nil)
        #expect(GitContext.looksLikeCommit("8f3c2a1") && !GitContext.looksLikeCommit("main"))
    }
}
