import Foundation
import Testing
import TestSupport
@testable import Engine

@Suite struct WireTests {
    struct Sample: Codable, Equatable {
        enum Kind: Codable, Equatable { case a(x: Int, y: String?), b }
        var text: String
        var numbers: [Int64]
        var map: [String: UInt32]
        var optional: Double?
        var kinds: [Kind]
        var flag: Bool
        var blob: [UInt8] = []
    }

    @Test func roundTripsNestedValues() throws {
        let value = Sample(text: "héllo\n", numbers: [0, -1, Int64.max, Int64.min], map: ["k": UInt32.max], optional: 1.5,
                           kinds: [.a(x: -7, y: nil), .b, .a(x: 1, y: "z")], flag: true, blob: Array(0...255) + [1, 2, 3])
        let bytes = try Wire.encode(value)
        #expect(try Wire.decode(Sample.self, from: bytes) == value)
    }

    @Test func largeByteRunsEncodeInLinearTime() throws {
        let blob = [UInt8](repeating: 7, count: 1 << 20)
        let start = Date()
        let bytes = try Wire.encode(Sample(text: "", numbers: [], map: [:], optional: nil, kinds: [], flag: false, blob: blob))
        #expect(bytes.count < blob.count + 64)
        #expect(try Wire.decode(Sample.self, from: bytes).blob == blob)
        #expect(Date().timeIntervalSince(start) < 2)
    }

    @Test func rejectsTruncatedAndTrailingBytes() throws {
        let bytes = try Wire.encode(Sample(text: "x", numbers: [1], map: [:], optional: nil, kinds: [], flag: false))
        #expect(throws: WireError.self) { try Wire.decode(Sample.self, from: Array(bytes.dropLast())) }
        #expect(throws: WireError.self) { try Wire.decode(Sample.self, from: bytes + [0]) }
    }

    @Test func roundTripsAContainerSpec() throws {
        var spec = ContainerSpec(id: String(repeating: "a", count: 64), name: "p-web-1",
                                 image: ImageBinding(reference: "busybox", id: "sha256:" + String(repeating: "b", count: 64), chainIDs: []),
                                 process: ProcessSpec(args: ["sh"], env: ["A=1"]), hostname: "h")
        spec.deviceRules = [DeviceRule.parse("c 1:3 rwm")!]
        spec.security.seccomp = try SeccompProfile.dockerDefault.resolve(capabilities: spec.security.capabilities)
        spec.network = .container(id: "x")
        #expect(try Wire.decode(ContainerSpec.self, from: Wire.encode(spec)) == spec)
    }
}

@Suite struct SeccompResolutionTests {
    @Test func defaultProfileFollowsCapabilitiesAndArchitecture() throws {
        let profile = SeccompProfile.dockerDefault
        let plain = try profile.resolve(capabilities: Capabilities.dockerDefault, goArch: "amd64", kernel: [6, 1])
        #expect(plain.defaultAction == 0x0005_0001, "errno EPERM by default")
        #expect(plain.architectures == ["x86_64", "x86", "x32"])
        let clones = plain.rules.filter { $0.names.contains("clone") }
        #expect(clones.count == 1 && clones[0].args == [SeccompArgument(index: 0, value: 2114060288, valueTwo: 0, op: 7)],
                "clone only without namespace flags")
        #expect(plain.rules.contains { $0.names == ["clone3"] && $0.action == 0x0005_0000 | 38 }, "clone3 answers ENOSYS")
        #expect(!plain.rules.contains { $0.names.contains("mount") }, "mount needs CAP_SYS_ADMIN")
        #expect(plain.rules.contains { $0.names.contains("arch_prctl") }, "amd64-only rules apply on amd64")
        #expect(!plain.rules.contains { $0.names.contains("s390_pci_mmio_read") })

        let admin = try profile.resolve(capabilities: Capabilities.dockerDefault + ["CAP_SYS_ADMIN"], goArch: "amd64", kernel: [6, 1])
        #expect(admin.rules.contains { $0.names.contains("mount") && $0.action == 0x7fff_0000 })
        #expect(!admin.rules.contains { $0.names == ["clone"] && !$0.args.isEmpty }, "with CAP_SYS_ADMIN clone is unrestricted")
        #expect(!admin.rules.contains { $0.names == ["clone3"] && $0.action != 0x7fff_0000 })

        let old = try profile.resolve(capabilities: Capabilities.dockerDefault, goArch: "amd64", kernel: [4, 4])
        #expect(!old.rules.contains { $0.names.contains("ptrace") }, "minKernel 4.8 gates ptrace")
    }

    @Test func badProfilesAreRefusedWithAPath() {
        #expect { try SeccompProfile.parse(Array(#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["x"],"action":"SCMP_ACT_NOPE"}]}"#.utf8)).resolve(capabilities: []) }
            throws: { "\($0)" == "seccomp profile: unknown action \"SCMP_ACT_NOPE\"" }
        #expect { try SeccompProfile.parse(Array(#"{"syscalls":[]}"#.utf8)) }
            throws: { "\($0)".contains("missing \"defaultAction\"") }
    }
}

@Suite struct CapabilityAndUserTests {
    @Test func capAddAndDropFollowDocker() throws {
        #expect(try Capabilities.resolve(add: [], drop: [], privileged: false).count == 14)
        let set = try Capabilities.resolve(add: ["net_admin", "CAP_SYS_TIME"], drop: ["CHOWN"], privileged: false)
        #expect(set.contains("CAP_NET_ADMIN") && set.contains("CAP_SYS_TIME") && !set.contains("CAP_CHOWN"))
        #expect(try Capabilities.resolve(add: ["KILL"], drop: ["ALL"], privileged: false) == ["CAP_KILL"])
        #expect(throws: Capabilities.ResolutionError.self) { try Capabilities.resolve(add: ["NOPE"], drop: [], privileged: false) }
        let (low, high) = Capabilities.mask(Capabilities.dockerDefault)
        #expect(low == 0xa80425fb && high == 0)
    }

    @Test func usersResolveLikeRunc() throws {
        let passwd = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n"
        let group = "root:x:0:\napp:x:1000:\nextra:x:1500:app,other\nwheel:x:10:root\n"
        #expect(try UserDatabase.resolve("", additional: [], passwd: passwd, group: group) == ExecUser(uid: 0, gid: 0, groups: [0, 10], home: "/root"))
        #expect(try UserDatabase.resolve("app", additional: [], passwd: passwd, group: group) == ExecUser(uid: 1000, gid: 1000, groups: [1000, 1500], home: "/home/app"))
        #expect(try UserDatabase.resolve("app:extra", additional: [], passwd: passwd, group: group) == ExecUser(uid: 1000, gid: 1500, groups: [1500], home: "/home/app"))
        #expect(try UserDatabase.resolve("42:43", additional: ["wheel", "7"], passwd: passwd, group: group) == ExecUser(uid: 42, gid: 43, groups: [43, 10, 7], home: "/"))
        #expect(throws: UserDatabase.Failure.self) { try UserDatabase.resolve("app:nogroup", additional: [], passwd: passwd, group: group) }
    }

    @Test func deviceRulesParseDockersSyntax() {
        #expect(DeviceRule.parse("c 1:3 mr")?.description == "c 1:3 mr")
        #expect(DeviceRule.parse("a 7:* rwm")?.description == "a *:* rwm")
        #expect(DeviceRule.parse("b *:* m") == DeviceRule(allow: true, type: "b", major: -1, minor: -1, access: "m"))
        #expect(DeviceRule.parse("x 1:3 r") == nil)
        #expect(DeviceRule.parse("c 1:3 z") == nil)
    }
}

@Suite struct LogFormatTests {
    @Test func encodesLikeDockersJSONFile() {
        let e = LogEntry(text: "a \"b\" <c> & \\ \t\u{1}é\n", stream: .stderr, time: "2026-01-02T03:04:05.5Z")
        let line = String(decoding: e.encoded(), as: UTF8.self)
        #expect(line == #"{"log":"a \"b\" \u003cc\u003e \u0026 \\ \t\u0001é\n","stream":"stderr","time":"2026-01-02T03:04:05.5Z"}"# + "\n")
        #expect(LogEntry.parse(Substring(line.dropLast())) == e)
        #expect(LogEntry.parse(#"{"log":"\ud83d\ude00\n","stream":"stdout","time":"t"}"#)?.text == "😀\n")
        #expect(LogEntry.parse("garbage") == nil)
    }

    @Test func writerSplitsLinesAndRotates() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("logs-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var options = LogOptions()
        options.maxSize = 200
        options.maxFiles = 3
        let writer = LogWriter(path: dir + "/c.log", options: options)
        for i in 0..<20 {
            let bytes = Array("line \(i)\npart".utf8)
            bytes.withUnsafeBytes { writer.consume($0, stream: .stdout) }
            Array("ial \(i)\n".utf8).withUnsafeBytes { writer.consume($0, stream: .stdout) }
        }
        writer.flush()
        let files = LogReader.files(dir + "/c.log")
        #expect(files.count == 3, "\(files)")
        let entries = LogReader.read(dir + "/c.log")
        #expect(entries.last?.text == "partial 19\n")
        #expect(entries.allSatisfy { $0.text.hasSuffix("\n") })
    }

    @Test func tailReadsFromTheEndAcrossRotatedFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tail-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func line(_ i: Int, _ stream: LogEntry.Stream = .stdout) -> [UInt8] {
            LogEntry(text: "entry \(i) " + String(repeating: "x", count: i % 300) + "\n", stream: stream, time: "2026-01-01T00:00:\(10_000 + i)Z").encoded()
        }
        // c.log.2 (oldest) 0..<3000, c.log.1 3000..<3010, c.log 3010..<6000; a torn line at the very end.
        try Data((0..<3000).flatMap { line($0) }).write(to: URL(fileURLWithPath: dir + "/c.log.2"))
        try Data((3000..<3010).flatMap { line($0) }).write(to: URL(fileURLWithPath: dir + "/c.log.1"))
        try Data((3010..<6000).flatMap { line($0, $0 % 2 == 0 ? .stdout : .stderr) } + Array("{\"log\":\"tor".utf8))
            .write(to: URL(fileURLWithPath: dir + "/c.log"))
        let path = dir + "/c.log"
        #expect(LogReader.tail(path, 1).map(\.text) == ["entry 5999 " + String(repeating: "x", count: 5999 % 300) + "\n"])
        #expect(LogReader.tail(path, 3).map { $0.text.prefix(10) } == ["entry 5997", "entry 5998", "entry 5999"])
        // Across files: the last 2995 are 3005..<6000.
        let many = LogReader.tail(path, 2995)
        #expect(many.count == 2995 && many.first?.text.hasPrefix("entry 3005 ") == true && many.last?.text.hasPrefix("entry 5999") == true)
        #expect(LogReader.tail(path, 10_000).count == 6000, "more than there are: all of them")
        #expect(LogReader.tail(path, 0).isEmpty)
        // With a filter (--since): the newest stderr lines only.
        #expect(LogReader.tail(path, 2, accept: { $0.stream == .stderr }).map { $0.text.prefix(10) } == ["entry 5997", "entry 5999"])
        // Forward reading streams every file in order.
        let reader = LogReader.Forward(path)
        var count = 0, last = -1, ordered = true
        while let e = reader.next() {
            let n = Int(e.text.split(separator: " ")[1])!
            if n != last + 1 { ordered = false }
            last = n
            count += 1
        }
        #expect(count == 6000 && ordered)
    }

    @Test func aOneLineTailOfAHugeLogReadsOnlyItsEnd() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hugetail-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // 256 MiB of log: reading it whole would take seconds and that much memory.
        let block = Array((0..<4096).flatMap { LogEntry(text: "filler line \($0)\n", stream: .stdout, time: "2026-01-01T00:00:00Z").encoded() })
        let fd = open(dir + "/c.log", O_WRONLY | O_CREAT, 0o600)
        var written = 0
        while written < 256 << 20 { written += block.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } }
        let last = LogEntry(text: "the last line\n", stream: .stderr, time: "2026-01-01T00:00:01Z").encoded()
        _ = last.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        let start = Date()
        let tail = LogReader.tail(dir + "/c.log", 1)
        // Reading it whole takes seconds (parsing 256 MiB of entries); reading its end, milliseconds —
        // 67 ms was seen while the whole suite ran beside it with the file's pages still being written back.
        #expect(Date().timeIntervalSince(start) < 0.5, "\(Date().timeIntervalSince(start)) s")
        #expect(tail == [LogEntry(text: "the last line\n", stream: .stderr, time: "2026-01-01T00:00:01Z")])
    }
}

@Suite struct PageOutTests {
    /// The resident size of this executable's read-only mappings, in KiB.
    static func residentCode() -> Int {
        guard let exe = try? Sys.readlink("/proc/self/exe"), let smaps = try? Files.readText("/proc/self/smaps") else { return 0 }
        var total = 0, inside = false
        for line in smaps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if let first = fields.first, first.contains("-"), fields.count >= 5 {
                inside = fields.count >= 6 && fields[5] == exe && !fields[1].contains("w")
            } else if inside, fields.first == "Rss:", fields.count >= 2 {
                total += Int(fields[1]) ?? 0
            }
        }
        return total
    }

    @Test(.enabled(if: (try? Files.readText("/proc/sys/kernel/osrelease")).map { ($0.split(separator: ".").first.flatMap { Int($0) } ?? 0) >= 5 } ?? false, "MADV_PAGEOUT needs Linux 5.4"))
    func pagesOfTheExecutableAreHandedBack() {
        let before = Self.residentCode()
        #expect(Sys.handBackStartupMemory() > 0)
        let after = Self.residentCode()
        #expect(after < before, "\(before) KiB before, \(after) KiB after")
    }
}

/// The event journal's order is its events' time order, however many threads write it at once (`down`
/// removes containers side by side, each recording `destroy`).
@Suite struct EventJournalOrderTests {
    @Test func eventsWrittenAtOnceAreJournalledInTimeOrder() throws {
        let dir = TemporaryDirectory("journal")
        let journal = EventJournal(root: StateRoot(path: dir.path))
        let spec = ContainerSpec(id: String(repeating: "c", count: 64), name: "p-x-1",
                                 image: ImageBinding(reference: "busybox", id: "sha256:" + String(repeating: "d", count: 64), chainIDs: []),
                                 process: ProcessSpec(args: ["sh"], env: []), hostname: "h")
        Threads.concurrently(8, stackSize: 1 << 20) { n in
            for i in 0..<100 { journal.record("event \(n).\(i)", spec) }
        }
        var position = EventJournal.Position()
        let times = journal.read(from: &position).compactMap { Timestamp.parseNanoseconds($0.time) }
        #expect(times.count == 800)
        #expect(times == times.sorted(), "journalled out of time order")
    }
}
