#if canImport(Glibc)
import Glibc
#endif
import Diagnostics
import Engine

/// A build context (or additional context) that is a git repository, as docker takes one:
/// `git://…`, `ssh://…`, `git@host:path`, `github.com/…`, or an `http(s)://` URL ending in `.git`,
/// each with an optional `#ref:subdirectory`. It is fetched (that ref only, shallow, with its
/// submodules) into a directory of this process's own with the `git` program, the repository's
/// metadata left out (as BuildKit leaves `.git` out of a context), and removed after the build.
struct GitContext: Equatable {
    var url: String
    var ref: String?
    var subdirectory: String?

    init(url: String, ref: String?, subdirectory: String?) {
        self.url = url
        self.ref = ref
        self.subdirectory = subdirectory
    }

    init?(_ text: String) {
        var remote = text
        var fragment: String?
        if let hash = text.firstIndex(of: "#") {
            remote = String(text[..<hash])
            fragment = String(text[text.index(after: hash)...])
        }
        let lower = remote.lowercased()
        if lower.hasPrefix("git://") || lower.hasPrefix("ssh://") || lower.hasPrefix("git@") {
            url = remote
        } else if lower.hasPrefix("github.com/") {
            url = "https://" + remote
        } else if (lower.hasPrefix("https://") || lower.hasPrefix("http://")) && lower.hasSuffix(".git") {
            url = remote
        } else {
            return nil
        }
        if let fragment, !fragment.isEmpty {
            let parts = fragment.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            ref = parts[0].isEmpty ? nil : parts[0]
            subdirectory = parts.count > 1 && !parts[1].isEmpty ? parts[1] : nil
        }
    }

    static var gitProgram: String? {
        ["/usr/bin/git", "/usr/local/bin/git", "/bin/git"].first(where: Sys.isExecutable)
    }

    /// The checkout's directory prefix: the process's pid, so a later build can tell a dead one's.
    static func prefix() -> String { "git-\(Sys.pid)-" }

    /// Fetches the repository and returns the context directory (the subdirectory, when one is named).
    func checkout(into base: String, service: String, environment: [String: String], at location: SourceLocation?) throws(SwcomposeError) -> String {
        func fail(_ message: String) -> SwcomposeError {
            SwcomposeError(.failed, "service \"\(service)\": build context \(url)\(ref.map { "#" + $0 } ?? ""): \(message)", at: location)
        }
        guard let git = Self.gitProgram else {
            throw SwcomposeError(.unsupported, "service \"\(service)\": the build context \(url) is a git repository and git is not installed: install git (apt-get install git)", at: location)
        }
        let directory = base + "/" + Self.prefix() + String(UInt64.random(in: 0...UInt64.max), radix: 16)
        do { try Sys.mkdirAll(directory, 0o700) } catch { throw fail("\(error)") }
        var env = ["PATH=/usr/local/bin:/usr/bin:/bin", "GIT_TERMINAL_PROMPT=0", "HOME=" + (environment["HOME"] ?? "/root")]
        for key in ["SSH_AUTH_SOCK", "GIT_SSH_COMMAND", "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "no_proxy", "NO_PROXY"] {
            if let v = environment[key] { env.append(key + "=" + v) }
        }
        func run(_ args: [String]) throws(SwcomposeError) -> Subprocess.Result {
            do { return try Subprocess.run(git, ["-C", directory] + args, environment: env) } catch {
                throw fail("cannot run git: \(error)")
            }
        }
        func check(_ r: Subprocess.Result, _ what: String) throws(SwcomposeError) {
            guard r.status == 0 else {
                try? Sys.removeAll(directory)
                throw fail("\(what) failed: \(r.output.trimmingWhitespace())")
            }
        }
        try check(try run(["init", "-q"]), "git init")
        let wanted = ref ?? "HEAD"
        var fetched = try run(["fetch", "-q", "--depth", "1", "--no-tags", url, wanted])
        if fetched.status != 0, ref.map(Self.looksLikeCommit) == true {
            // A commit the server will not hand out by itself: the whole history, then the commit.
            fetched = try run(["fetch", "-q", "--no-tags", url, "+refs/heads/*:refs/remotes/origin/*"])
            try check(fetched, "git fetch")
            try check(try run(["checkout", "-q", wanted]), "git checkout \(wanted)")
        } else {
            try check(fetched, "git fetch \(wanted)")
            try check(try run(["checkout", "-q", "FETCH_HEAD"]), "git checkout")
        }
        if Sys.exists(directory + "/.gitmodules") {
            try check(try run(["submodule", "update", "-q", "--init", "--recursive", "--depth", "1"]), "git submodule update")
        }
        Self.removeMetadata(directory)
        guard let sub = subdirectory else { return directory }
        let context = directory + "/" + sub
        guard !sub.split(separator: "/").contains(".."), Sys.isDirectory(context) else {
            try? Sys.removeAll(directory)
            throw fail("the repository has no directory \(sub)")
        }
        return context
    }

    static func looksLikeCommit(_ ref: String) -> Bool {
        ref.count >= 7 && ref.count <= 64 && ref.allSatisfy { $0.isHexDigit }
    }

    /// `.git` directories and files (submodules have files) out of the tree.
    static func removeMetadata(_ directory: String) {
        guard let names = try? Sys.list(directory) else { return }
        for name in names {
            let path = directory + "/" + name
            if name == ".git" { try? Sys.removeAll(path); continue }
            if let st = try? Sys.fileStatus(path, follow: false), st.st_mode & S_IFMT == S_IFDIR { removeMetadata(path) }
        }
    }

    /// The checkouts of this process, and those of processes that are gone.
    static func removeCheckouts(in base: String) {
        for name in (try? Sys.list(base)) ?? [] where name.hasPrefix("git-") {
            let pid = name.split(separator: "-").dropFirst().first.flatMap { Int32($0) } ?? 0
            if pid == Sys.pid || (pid > 0 && !Sys.processExists(pid)) { try? Sys.removeAll(base + "/" + name) }
        }
    }
}
