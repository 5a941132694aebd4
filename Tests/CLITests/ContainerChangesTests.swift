import Foundation
import Testing
import TestSupport

/// `diff SERVICE` on a running busybox container that added, changed and deleted files, with
/// volumes, a bind, a tmpfs and a secret mounted: exactly the container's own changes, as
/// `docker diff` lists them.
@Suite(.serialized) struct ContainerChangesTests {
    @Test func diffListsWhatTheContainerChangedAndNotWhatTheRuntimeMounted() throws {
        let p = try ProjectFixture("diff", compose: """
            services:
              app:
                image: swcompose/busybox
                command: ["sh", "-c", "echo new > /added.txt && echo more >> /etc/passwd && rm /bin/vi && mkdir -p /srv/new/deep && echo x > /srv/new/deep/f && rm -rf /srv/www && mkdir /srv/www && echo replaced > /srv/www/other.html && touch /ready && exec sleep 1000"]
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
    }
}
