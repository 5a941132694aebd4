import Foundation
import Testing
import TestSupport
import Engine

enum DebianMirror {
    /// A default route (the kernel matrix's guests have only loopback).
    static var reachable: Bool {
        let routes = (try? String(contentsOfFile: "/proc/net/route", encoding: .utf8)) ?? ""
        return routes.split(separator: "\n").dropFirst().contains { $0.split(separator: "\t").dropFirst().first == "00000000" }
    }
}

/// Builds on a Debian base made with debootstrap in the test setup (`Scripts/debian-base.sh`, made once
/// and cached), with packages from Debian's own repositories fetched through the build container's
/// network: the README's Flask + Redis stack, and an nginx reverse proxy in front of an app and a
/// database. They need a route to Debian's mirror; without one (the kernel matrix's guests) they are
/// skipped, saying so.
@Suite(.serialized, .enabled(if: DebianMirror.reachable, "no network route to Debian's mirror on this machine"))
struct DebianBuildTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The Debian base tarball (made on first use).
    static let baseTarball: String? = {
        let out = try? Process.output(repository.path + "/Scripts/debian-base.sh", [])
        return out?.split(separator: "\n").last.map(String.init)
    }()

    static func importBase(_ p: ProjectFixture) throws {
        let tarball = try #require(baseTarball, "Scripts/debian-base.sh made the Debian base")
        let r = try p.run(["image", "import", tarball, "swcompose/debian:bookworm", "--change", "CMD [\"bash\"]"])
        try #require(r.status == 0, "\(r.stderr)")
    }

    /// Copies an example's files into the fixture's project directory.
    static func copyExample(_ name: String, to p: ProjectFixture, except: Set<String> = []) throws {
        let source = repository.path + "/examples/" + name
        for entry in try FileManager.default.subpathsOfDirectory(atPath: source) where !except.contains(entry) {
            var isDirectory: ObjCBool = false
            FileManager.default.fileExists(atPath: source + "/" + entry, isDirectory: &isDirectory)
            let target = p.directory + "/" + entry
            if isDirectory.boolValue {
                try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
            } else {
                try? FileManager.default.removeItem(atPath: target)
                try FileManager.default.copyItem(atPath: source + "/" + entry, toPath: target)
            }
        }
    }

    @Test func theFlaskRedisExampleBuildsAndCountsVisits() throws {
        let p = try ProjectFixture("flask", compose: "services: {}\n")
        try Self.importBase(p)
        try Self.copyExample("flask-redis", to: p)
        let port = NetworkingTests.freePort()
        let up = try p.run(["up", "-d", "--wait"], extraEnvironment: ["WEB_PORT": String(port)])
        try #require(up.status == 0, "\(up.stderr)")
        #expect(up.stderr.contains("=> [web 2/5] RUN --mount=type=cache,target=/var/cache/apt"), "\(up.stderr)")
        // The page answers the moment `up --wait` returns, and counts.
        #expect(NetworkingTests.http("http://127.0.0.1:\(port)/") == "Hello from Flask! This page has been visited 1 times.\n")
        #expect(NetworkingTests.http("http://127.0.0.1:\(port)/") == "Hello from Flask! This page has been visited 2 times.\n")
        // A non-root USER and the image's HEALTHCHECK.
        #expect(try p.run(["exec", "-T", "web", "id", "-u"]).stdout == "1000\n")
        #expect(try p.run(["ps", "web"]).stdout.contains("(healthy)"))
        // The apt downloads stayed in the cache mount, not in the image.
        #expect(try p.run(["exec", "-T", "web", "sh", "-c", "ls /var/cache/apt/archives/*.deb 2>/dev/null | wc -l"]).stdout == "0\n")
        let cached = (try? FileManager.default.contentsOfDirectory(atPath: p.root + "/build-cache/mounts")) ?? []
        #expect(!cached.isEmpty, "the cache mount kept its downloads")
        // An edited app file: the rebuild reuses the apt layers and redoes only the COPY.
        try (try String(contentsOfFile: p.directory + "/web/app.py", encoding: .utf8)).replacingOccurrences(of: "Hello from Flask!", with: "Hello again!")
            .write(toFile: p.directory + "/web/app.py", atomically: true, encoding: .utf8)
        let rebuild = try p.run(["up", "-d", "--wait", "--build", "web"], extraEnvironment: ["WEB_PORT": String(port)])
        #expect(rebuild.status == 0, "\(rebuild.stderr)")
        #expect(rebuild.stderr.contains("=> CACHED [web 2/5] RUN --mount=type=cache") && rebuild.stderr.contains("=> [web 5/5] COPY app.py ."), "\(rebuild.stderr)")
        #expect(NetworkingTests.http("http://127.0.0.1:\(port)/") == "Hello again! This page has been visited 3 times.\n", "the count lives in redis")
        #expect(try p.run(["down", "-v", "-t", "0"]).status == 0)
        try BuildTests.expectNothingLeft(p)
    }

    @Test func anNginxProxyInFrontOfAnAppAndADatabase() throws {
        let p = try ProjectFixture("proxy", compose: """
            services:
              proxy:
                build: ./proxy
                ports: ["127.0.0.1:${WEB_PORT}:80"]
                depends_on:
                  web: {condition: service_healthy}
              web:
                build: ./web
                environment:
                  REDIS_HOST: db
                depends_on:
                  db: {condition: service_healthy}
              db:
                build: ./redis
            """, files: [
                "proxy/Dockerfile": """
                FROM swcompose/debian:bookworm
                RUN apt-get update && apt-get install -y --no-install-recommends nginx-light && rm -rf /var/lib/apt/lists/* \\
                    && rm /etc/nginx/sites-enabled/default
                COPY site.conf /etc/nginx/conf.d/site.conf
                EXPOSE 80
                HEALTHCHECK --interval=1s CMD test -e /run/nginx.pid
                CMD ["nginx", "-g", "daemon off;"]
                """,
                "proxy/site.conf": """
                server {
                    listen 80;
                    location / {
                        proxy_pass http://web:8000;
                        add_header X-Proxied-By nginx;
                    }
                }
                """,
            ])
        try Self.importBase(p)
        try Self.copyExample("flask-redis", to: p, except: ["compose.yaml"])
        let port = NetworkingTests.freePort()
        let up = try p.run(["up", "-d", "--wait"], extraEnvironment: ["WEB_PORT": String(port)])
        try #require(up.status == 0, "\(up.stderr)")
        #expect(NetworkingTests.http("http://127.0.0.1:\(port)/") == "Hello from Flask! This page has been visited 1 times.\n", "through nginx, flask, redis")
        #expect(try p.run(["ps", "proxy"]).stdout.contains("(healthy)"))
        #expect(try p.run(["down", "-v", "-t", "0"]).status == 0)
        try BuildTests.expectNothingLeft(p)
    }
}
