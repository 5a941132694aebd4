import Foundation
import Testing
import TestSupport
import Engine

/// The syslog and journald logging drivers: what arrives at a syslog daemon and at the journal, in the
/// forms dockerd's drivers send, while `logs` keeps reading a local copy (docker's dual logging).
/// A datagram socket to receive on: UDP on 127.0.0.1 (its port), or a unix one at a path.
final class Receiver {
    let fd: Int32
    let port: UInt16
    let path: String?

    init(unixPath: String? = nil) throws {
        if let unixPath {
            let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                for (i, b) in unixPath.utf8.enumerated() { raw[i] = b }
            }
            let r = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
            try #require(r == 0, "bind \(unixPath)")
            self.fd = fd
            port = 0
            path = unixPath
        } else {
            let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let r = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            try #require(r == 0)
            var bound = sockaddr_in()
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &bound) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
            self.fd = fd
            port = UInt16(bigEndian: bound.sin_port)
            path = nil
        }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit {
        close(fd)
        if let path { unlink(path) }
    }

    /// The next `count` datagrams (fewer when none comes for 10 s).
    func receive(_ count: Int) -> [[UInt8]] {
        var got: [[UInt8]] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while got.count < count {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            got.append(Array(buffer[0..<n]))
        }
        return got
    }
}

let hostHasJournald = FileManager.default.fileExists(atPath: LogForward.journalSocket)

@Suite(.requiresRoot, .requiresBusybox, .serialized) struct LoggingDriverTests {
    @Test func syslogGetsEachLineWithItsPriorityAndTagAndLogsStillReadThem() throws {
        let receiver = try Receiver()
        let p = try ProjectFixture("syslog", compose: """
            services:
              app:
                image: swcompose/busybox
                logging:
                  driver: syslog
                  options:
                    syslog-address: "udp://127.0.0.1:\(receiver.port)"
                    syslog-facility: local3
                    tag: "{{.Name}}/{{.ImageName}}"
                command: ["sh", "-c", "echo to stdout; echo to stderr >&2; sleep 1000"]
            """)
        #expect(try p.run(["up", "-d"]).status == 0)
        let messages = receiver.receive(2).map { String(decoding: $0, as: UTF8.self) }.sorted()
        // local3 = 19: stdout is info (19*8+6), stderr err (19*8+3); srslog's Unix form, dockerd's pid.
        try #require(messages.count == 2, "\(messages)")
        let name = "\(p.project)-app-1"
        #expect(messages[0].hasPrefix("<155>") && messages[0].hasSuffix(" \(name)/swcompose/busybox[\(messages[0].split(separator: "[")[1].prefix { $0.isNumber })]: to stderr\n"), "\(messages[0])")
        #expect(messages[1].hasPrefix("<158>") && messages[1].hasSuffix(": to stdout\n"), "\(messages[1])")
        // `logs` reads the local copy.
        #expect(p.eventually { (try? p.run(["logs", "--no-log-prefix", "app"]).stdout) == "to stdout\nto stderr\n" })
        #expect(try p.run(["down", "-t", "0"]).status == 0)
    }

    @Test(.enabled(if: !hostHasJournald, "the host's journald owns its socket"))
    func journaldGetsTheContainersFields() throws {
        try FileManager.default.createDirectory(atPath: "/run/systemd/journal", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: "/run/systemd/journal") }
        let receiver = try Receiver(unixPath: LogForward.journalSocket)
        let p = try ProjectFixture("journald", compose: """
            services:
              app:
                image: swcompose/busybox
                labels: {team: blue}
                environment: {STAGE: test}
                logging: {driver: journald, options: {labels: team, env: STAGE}}
                command: ["sh", "-c", "printf 'one line\\\\n'; echo oops >&2; sleep 1000"]
            """)
        #expect(try p.run(["up", "-d"]).status == 0)
        let entries = receiver.receive(2).map { String(decoding: $0, as: UTF8.self) }
        try #require(entries.count == 2, "\(entries)")
        let id = try #require(p.container("app")).id
        let stdout = try #require(entries.first { $0.contains("MESSAGE=one line\n") })
        for field in ["PRIORITY=6", "SYSLOG_IDENTIFIER=\(id.prefix(12))", "CONTAINER_ID=\(id.prefix(12))", "CONTAINER_ID_FULL=\(id)",
                      "CONTAINER_NAME=\(p.project)-app-1", "CONTAINER_TAG=\(id.prefix(12))", "IMAGE_NAME=swcompose/busybox",
                      "TEAM=blue", "STAGE=test"] {
            #expect(stdout.contains(field + "\n"), "\(field) in \(stdout)")
        }
        #expect(entries.contains { $0.contains("MESSAGE=oops\n") && $0.contains("PRIORITY=3\n") })
        #expect(try p.run(["down", "-t", "0"]).status == 0)
    }

    @Test func optionsADriverDoesNotKnowAreRefused() throws {
        let p = try ProjectFixture("logopts", compose: """
            services:
              app:
                image: swcompose/busybox
                logging: {driver: journald, options: {max-size: 10m}}
            """)
        let up = try p.run(["up", "-d"])
        #expect(up.status == 1)
        #expect(up.stderr.contains("compose.yaml:4:14: error: unknown log opt 'max-size' for journald log driver"), "\(up.stderr)")
        #expect(p.store.list().isEmpty)
        #expect(NetworkStore(root: StateRoot(path: p.root)).list().isEmpty, "nothing created")
    }
}
