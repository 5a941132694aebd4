import Foundation
import Testing
import TestSupport

/// `cp` both ways on a busybox service, as docker compose cp: where things land (a directory into a
/// directory, `SRC/.` for its contents, a file renamed), modes, times and ownership (root in the
/// container, the caller on the host, the source's with `-a`), volumes seen while the container
/// runs — and a container's symlinks never leading out of it, whichever way they point.
@Suite(.serialized) struct CopyTests {
    @Test func cpBothWaysStaysInsideTheContainer() throws {
        let outside = TemporaryDirectory("cp-outside")
        let hostDir = outside.path
        try "the host's own\n".write(toFile: hostDir + "/victim.txt", atomically: true, encoding: .utf8)
        // The container's hostile links: to the host directory's path (absolute), up and out
        // (`..`), and a file named like one the user copies in.
        let p = try ProjectFixture("cp", compose: """
            services:
              app:
                image: swcompose/busybox
                command: ["sh", "-c", "mkdir -p /srv/out/sub \(hostDir) && echo inside > /srv/out/sub/a.txt && chmod 640 /srv/out/sub/a.txt && ln -sfn / /srv/out/root-link && ln -sfn \(hostDir) /escape-abs && ln -sfn ../../../../../../..\(hostDir) /escape-up && echo the container copy > \(hostDir)/victim.txt && ln -sfn \(hostDir)/victim.txt /srv/victim-link && echo in volume > /data/v.txt && touch /ready && exec sleep 1000"]
                volumes: [data:/data]
                healthcheck: {test: ["CMD", "test", "-f", "/ready"], interval: 100ms, retries: 100}
            volumes:
              data: {}
            """, files: ["in/tree/run.sh": "#!/bin/sh\necho ran\n", "in/tree/notes.txt": "notes\n", "in/single.txt": "one file\n"])
        let up = try p.run(["up", "-d", "--wait"])
        #expect(up.status == 0, "\(up.stderr)")
        let fm = FileManager.default
        let src = p.directory + "/in"
        try fm.setAttributes([.posixPermissions: 0o755], ofItemAtPath: src + "/tree/run.sh")
        try fm.setAttributes([.posixPermissions: 0o750], ofItemAtPath: src + "/tree")
        try fm.createSymbolicLink(atPath: src + "/tree/link", withDestinationPath: "notes.txt")
        try fm.setAttributes([.ownerAccountID: 1234, .groupOwnerAccountID: 5678], ofItemAtPath: src + "/single.txt")
        let old = Date(timeIntervalSince1970: 1_600_000_000)
        try fm.setAttributes([.modificationDate: old], ofItemAtPath: src + "/tree/notes.txt")
        func sh(_ script: String) throws -> String { try p.run(["exec", "-T", "app", "sh", "-c", script]).stdout }

        // In: a directory into an existing directory, then a file under a new name; owned by root.
        #expect(try p.run(["cp", src + "/tree", "app:/srv"]).status == 0)
        #expect(try sh("cd /srv/tree && ls -ln | grep -v ^total | awk '{print $1, $3, $4, $NF}' && ./run.sh && readlink link && stat -c %Y notes.txt") == """
            lrwxrwxrwx 0 0 notes.txt
            -rw-r--r-- 0 0 notes.txt
            -rwxr-xr-x 0 0 run.sh
            ran
            notes.txt
            1600000000

            """)
        #expect(try sh("stat -c '%a %u' /srv/tree") == "750 0\n")
        #expect(try p.run(["cp", src + "/single.txt", "app:/srv/renamed.txt"]).status == 0)
        #expect(try sh("cat /srv/renamed.txt; stat -c '%u:%g' /srv/renamed.txt") == "one file\n0:0\n")
        #expect(try p.run(["cp", "-a", src + "/single.txt", "app:/srv/kept.txt"]).status == 0)
        #expect(try sh("stat -c '%u:%g' /srv/kept.txt") == "1234:5678\n", "-a keeps the source's owner")
        // The contents of a directory (SRC/.) into the volume, which the running container has mounted.
        #expect(try p.run(["cp", src + "/tree/.", "app:/data"]).status == 0)
        #expect(try sh("ls /data | sort | tr '\\n' ' '") == "link notes.txt run.sh v.txt ")

        // Out: a directory tree, links copied as links (the one to / too), modes and the caller's owner.
        let out = p.directory + "/out"
        try fm.createDirectory(atPath: out, withIntermediateDirectories: true)
        #expect(try p.run(["cp", "app:/srv/out", out]).status == 0)
        #expect(try String(contentsOfFile: out + "/out/sub/a.txt", encoding: .utf8) == "inside\n")
        #expect(try fm.destinationOfSymbolicLink(atPath: out + "/out/root-link") == "/")
        let a = try fm.attributesOfItem(atPath: out + "/out/sub/a.txt")
        #expect((a[.posixPermissions] as? NSNumber)?.intValue == 0o640 && (a[.ownerAccountID] as? NSNumber)?.intValue == Int(getuid()))
        #expect(try p.run(["cp", "app:/data/v.txt", out + "/v-renamed.txt"]).status == 0)
        #expect(try String(contentsOfFile: out + "/v-renamed.txt", encoding: .utf8) == "in volume\n")

        // Hostile links: reading through them reads the container's files, writing through them
        // writes the container's — the host directory of that name is never touched.
        for link in ["/escape-abs", "/escape-up"] {
            let got = out + "/got\(link.dropFirst())"
            let r = try p.run(["cp", "app:\(link)/victim.txt", got])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(try String(contentsOfFile: got, encoding: .utf8) == "the container copy\n", "\(link) resolves inside the container")
            #expect(try p.run(["cp", src + "/single.txt", "app:\(link)/pwned\(link.dropFirst()).txt"]).status == 0)
            #expect(!fm.fileExists(atPath: hostDir + "/pwned\(link.dropFirst()).txt"), "nothing written on the host through \(link)")
            #expect(try sh("cat \(hostDir)/pwned\(link.dropFirst()).txt") == "one file\n")
        }
        // -L follows a link, inside the container: the container's victim, not the host's.
        #expect(try p.run(["cp", "-L", "app:/srv/victim-link", out + "/followed.txt"]).status == 0)
        #expect(try String(contentsOfFile: out + "/followed.txt", encoding: .utf8) == "the container copy\n")
        #expect(try p.run(["cp", "app:/srv/victim-link", out + "/as-link"]).status == 0)
        #expect(try fm.destinationOfSymbolicLink(atPath: out + "/as-link") == hostDir + "/victim.txt")
        // A file copied onto a link replaces the link; it is not written through.
        #expect(try p.run(["cp", src + "/single.txt", "app:/srv/victim-link"]).status == 0)
        #expect(try sh("test -L /srv/victim-link || cat /srv/victim-link; cat \(hostDir)/victim.txt") == "one file\nthe container copy\n")
        #expect(try String(contentsOfFile: hostDir + "/victim.txt", encoding: .utf8) == "the host's own\n")

        // Errors say what is wrong, exit 1 and change nothing.
        let missing = try p.run(["cp", "app:/no/such", out])
        #expect(missing.status == 1 && missing.stderr.contains("could not find the file /no/such in the container"), "\(missing.stderr)")
        let mustExist = try p.run(["cp", src + "/single.txt", "app:/srv/new-dir/"])
        #expect(mustExist.status == 1 && mustExist.stderr.contains("must exist"), "\(mustExist.stderr)")
        let dirToFile = try p.run(["cp", src + "/tree", "app:/srv/renamed.txt"])
        #expect(dirToFile.status == 1 && dirToFile.stderr.contains("cannot copy a directory to a file"), "\(dirToFile.stderr)")
        let both = try p.run(["cp", "app:/a", "app:/b"])
        #expect(both.status == 1 && both.stderr.contains("between services is not supported"), "\(both.stderr)")

        // A stopped container: its files copy out and in (through its overlay), its volume refuses.
        #expect(try p.run(["stop", "-t", "0", "app"]).status == 0)
        #expect(try p.run(["cp", "app:/srv/renamed.txt", out + "/stopped.txt"]).status == 0)
        #expect(try String(contentsOfFile: out + "/stopped.txt", encoding: .utf8) == "one file\n")
        #expect(try p.run(["cp", src + "/single.txt", "app:/srv/while-stopped.txt"]).status == 0)
        let volume = try p.run(["cp", src + "/single.txt", "app:/data/x.txt"])
        #expect(volume.status == 1 && volume.stderr.contains("/data (a volume or bind mount) is not mounted"), "\(volume.stderr)")
        #expect(try p.run(["start", "app"]).status == 0)
        #expect(try sh("cat /srv/while-stopped.txt; ls /data/x.txt 2>&1 >/dev/null | wc -l") == "one file\n1\n")
    }

    /// `-`: a tar on standard output, or one from standard input unpacked into a directory — a
    /// hostile archive (a link to `/` followed by a file under it, a `..` name) stays in the container.
    @Test func cpTarStreamsBothWays() throws {
        let p = try ProjectFixture("cptar", compose: """
            services:
              app:
                image: swcompose/busybox
                command: ["sh", "-c", "mkdir -p /srv/out/sub /srv/in && echo inside > /srv/out/sub/a.txt && ln -sfn / /srv/out/root-link && touch /ready && exec sleep 1000"]
                healthcheck: {test: ["CMD", "test", "-f", "/ready"], interval: 100ms, retries: 100}
            """)
        #expect(try p.run(["up", "-d", "--wait"]).status == 0)
        func sh(_ script: String) throws -> Int32 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", script]
            process.currentDirectoryURL = URL(fileURLWithPath: p.directory)
            process.environment = ["PATH": "/usr/bin:/bin", "HOME": "/root"].merging(p.environment) { $1 }
            try process.run()
            process.waitUntilExit()
            return process.terminationStatus
        }
        let exe = Swcompose.executable.path
        let tar = p.directory + "/out.tar"
        #expect(try sh("\(exe) -p \(p.project) cp app:/srv/out - > \(tar)") == 0)
        let listing = try Process.output("/bin/tar", ["-tvf", tar])
        #expect(listing.contains("out/sub/a.txt") && listing.contains("out/root-link -> /"), "\(listing)")
        #expect(try Process.output("/bin/tar", ["-xOf", tar, "out/sub/a.txt"]) == "inside\n")

        let hostile = p.directory + "/hostile.tar"
        try Process.output("/usr/bin/python3", ["-c", """
            import io, tarfile, sys
            t = tarfile.open(sys.argv[1], "w")
            def add(name, data=b"", **kw):
                i = tarfile.TarInfo(name); i.size = len(data)
                for k, v in kw.items(): setattr(i, k, v)
                t.addfile(i, io.BytesIO(data))
            add("dir", type=tarfile.DIRTYPE, mode=0o750)
            add("dir/file.txt", b"from the tar\\n", mode=0o640, uid=1000, gid=1000)
            add("link", type=tarfile.SYMTYPE, linkname="/")
            add("link/tmp/through-link.txt", b"inside anyway\\n")
            add("hard", type=tarfile.LNKTYPE, linkname="dir/file.txt")
            t.close()
            """, hostile])
        #expect(try sh("\(exe) -p \(p.project) cp - app:/srv/in < \(hostile)") == 0)
        #expect(try p.run(["exec", "-T", "app", "sh", "-c", "cat /srv/in/dir/file.txt; stat -c '%a %u' /srv/in/dir/file.txt /srv/in/dir; cat /tmp/through-link.txt; stat -c %h /srv/in/hard"]).stdout
                == "from the tar\n640 0\n750 0\ninside anyway\n2\n")
        #expect(!FileManager.default.fileExists(atPath: "/tmp/through-link.txt"), "the archive's link to / is the container's /")
        let up = p.directory + "/up.tar"
        try Process.output("/usr/bin/python3", ["-c", """
            import io, tarfile, sys
            t = tarfile.open(sys.argv[1], "w")
            i = tarfile.TarInfo("../../escape.txt"); i.size = 1
            t.addfile(i, io.BytesIO(b"x"))
            t.close()
            """, up])
        #expect(try sh("\(exe) -p \(p.project) cp - app:/srv/in < \(up) 2> \(p.directory)/err") == 1)
        #expect(try String(contentsOfFile: p.directory + "/err", encoding: .utf8).contains("outside the destination"))
        #expect(try sh("\(exe) -p \(p.project) cp - app:/srv/out/sub/a.txt < \(hostile) 2>/dev/null") == 1, "the destination must be a directory")
    }
}
