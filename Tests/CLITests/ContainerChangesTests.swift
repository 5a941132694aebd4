import Foundation
import Testing
import TestSupport

/// `diff`, `commit` and `export` on a running busybox container that added, changed and deleted
/// files, with volumes, a bind, a tmpfs and a secret mounted: exactly the container's own changes, as
/// `docker diff` lists them and `docker commit` packs them, and `run` of the committed image sees them.
@Suite(.serialized) struct ContainerChangesTests {
    @Test func diffCommitAndExportCarryExactlyTheContainersChanges() throws {
        let p = try ProjectFixture("diff", compose: """
            services:
              app:
                image: swcompose/busybox
                command: ["sh", "-c", "echo new > /added.txt && echo more >> /etc/passwd && rm /bin/vi && mkdir -p /srv/new/deep && echo x > /srv/new/deep/f && rm -rf /srv/www && mkdir /srv/www && echo replaced > /srv/www/other.html && echo in the volume > /data/kept-out && touch /ready && exec sleep 1000"]
                volumes: [data:/data, ./host:/mnt/host]
                tmpfs: [/scratch]
                secrets: [token]
                healthcheck: {test: ["CMD", "test", "-f", "/ready"], interval: 100ms, retries: 100}
            secrets:
              token: {file: ./token.txt}
            volumes:
              data: {}
            """, files: ["token.txt": "s3cret\n", "host/readme": "from the host\n"])
        let up = try p.run(["up", "-d", "--wait"])
        #expect(up.status == 0, "\(up.stderr)")
        let r = try p.run(["diff", "app"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == """
            A /added.txt
            C /bin
            D /bin/vi
            C /etc
            C /etc/passwd
            A /ready
            C /srv
            A /srv/new
            A /srv/new/deep
            A /srv/new/deep/f
            C /srv/www
            D /srv/www/index.html
            A /srv/www/other.html

            """, "\(r.stdout)")
        let missing = try p.run(["diff", "--index", "2", "app"])
        #expect(missing.status == 1 && missing.stderr.contains("has no container 2"), "\(missing.stderr)")

        // commit: exactly those changes on top of the image, the -c instructions applied, history kept.
        let commit = try p.run(["commit", "-m", "froze it", "-a", "Ann <ann@example.com>", "-c", "ENV FROZEN=yes",
                                "-c", "CMD [\"cat\", \"/added.txt\"]", "app", "example/frozen:1"])
        #expect(commit.status == 0 && commit.stdout.hasPrefix("sha256:"), "\(commit.stderr)")
        let history = try p.run(["image", "history", "--no-trunc", "example/frozen:1"])
        #expect(history.stdout.contains("froze it") && history.stdout.contains("sh -c echo new > /added.txt"), "\(history.stdout)")
        #expect(commit.stderr.isEmpty, "\(commit.stderr)")
        // By the container's name, as docker commit takes it.
        let byName = try p.run(["commit", "--no-pause", "\(p.project)-app-1", "example/frozen:by-name"])
        #expect(byName.status == 0 && byName.stdout.hasPrefix("sha256:"), "\(byName.stderr)")
        #expect(try p.run(["image", "inspect", "example/frozen:by-name"]).status == 0)
        try """
            services:
              frozen:
                image: example/frozen:1
            """.write(toFile: p.directory + "/compose.frozen.yaml", atomically: true, encoding: .utf8)
        let f = ["-f", p.directory + "/compose.frozen.yaml"]
        #expect(try p.run(f + ["run", "--rm", "-T", "frozen"]).stdout == "new\n", "the CMD given with -c")
        let seen = try p.run(f + ["run", "--rm", "-T", "frozen", "sh", "-c",
                                  "echo $FROZEN; tail -n 1 /etc/passwd; ls /srv/www; test -e /bin/vi || echo vi gone; cat /srv/new/deep/f; test -e /data/kept-out || echo volume kept out"])
        #expect(seen.stdout == "yes\nmore\nother.html\nvi gone\nx\nvolume kept out\n", "\(seen.stdout) \(seen.stderr)")
        // export: the merged filesystem as one tar, the volume's content not in it.
        let tar = p.directory + "/app.tar"
        let export = try p.run(["export", "app", "-o", tar])
        #expect(export.status == 0, "\(export.stderr)")
        func untar(_ args: [String]) throws -> String { try Process.output("/bin/tar", args) }
        let entries = Set(try untar(["-tf", tar]).split(separator: "\n").map(String.init))
        for present in ["added.txt", "bin/sh", "srv/www/", "srv/www/other.html", "srv/new/deep/f", "etc/passwd"] {
            #expect(entries.contains(present), "\(present) in \(entries.sorted().prefix(40))")
        }
        for absent in ["bin/vi", "srv/www/index.html", "data/kept-out"] { #expect(!entries.contains(absent), "\(absent) is not in the export") }
        #expect(try untar(["-xOf", tar, "added.txt"]) == "new\n")
        #expect(try untar(["-xOf", tar, "etc/passwd"]).hasSuffix("more\n"))

        let app = try #require(p.container("app"))
        #expect(p.store.state(app.id).isAlive, "the container runs on after the commit (unpaused)")
        #expect(try p.run(["exec", "-T", "app", "cat", "/added.txt"]).stdout == "new\n")
    }
}
