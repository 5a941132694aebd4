import Testing
@testable import ComposeModel

@Suite struct PortSpecTests {
    func parse(_ s: String) throws -> [String] {
        try PortSpec.parse(s).map { "\($0.hostIP)|\($0.published)|\($0.target)|\($0.protocol)" }
    }

    @Test func forms() throws {
        #expect(try parse("80") == ["||80|tcp"])
        #expect(try parse("8080:80") == ["|8080|80|tcp"])
        #expect(try parse("127.0.0.1:9000-9001:9000-9001/udp") == ["127.0.0.1|9000|9000|udp", "127.0.0.1|9001|9001|udp"])
        #expect(try parse("[::1]:5353:53/udp") == ["::1|5353|53|udp"])
        #expect(try parse("::1:84:84") == ["::1|84|84|tcp"])
        #expect(try parse("8000-8010:80") == ["|8000-8010|80|tcp"])
        #expect(try parse("127.0.0.1::5000") == ["127.0.0.1||5000|tcp"])
        #expect(try parse("90:91/SCTP") == ["|90|91|sctp"])
        // docker sorts the expanded ports as strings.
        #expect(try parse("9999-10000").map { $0.split(separator: "|", omittingEmptySubsequences: false)[2] } == ["10000", "9999"])
    }

    @Test(arguments: [("80:70000", "invalid containerPort: 70000"), ("80/icmp", "invalid proto: icmp"),
                      ("1.2.3:80:80", "invalid IP address: 1.2.3"), ("8000-8001:9000-9003", "invalid ranges specified for container and host Ports: 9000-9003 and 8000-8001"),
                      ("x:80", "invalid hostPort: x")])
    func refusals(_ spec: String, _ message: String) {
        #expect(throws: PortSpecError(message: message)) { try PortSpec.parse(spec) }
    }

    @Test func hostPortsAreReadOnce() {
        func hostPorts(_ published: String) -> ServicePortConfig.HostPorts {
            var p = ServicePortConfig()
            p.published = published
            return p.hostPorts
        }
        #expect(hostPorts("") == .ephemeral)
        #expect(hostPorts("8080") == .range(8080...8080))
        #expect(hostPorts("8000-8010") == .range(8000...8010))
        #expect(hostPorts("8010-8000") == .invalid, "a range runs upwards")
        #expect(hostPorts("70000") == .invalid)
        #expect(hostPorts("80-") == .invalid)
        #expect(hostPorts("1-2-3") == .invalid)
        #expect(hostPorts("${PORT}") == .invalid)
    }

    @Test func addresses() {
        #expect(IPAddress.isValid("10.0.0.1"))
        #expect(IPAddress.isValid("::1"))
        #expect(IPAddress.isValid("2001:db8::1"))
        #expect(IPAddress.isValid("::ffff:10.0.0.1"))
        #expect(!IPAddress.isValid("1.2.3"))
        #expect(!IPAddress.isValid("256.1.1.1"))
        #expect(!IPAddress.isValid("1::2::3"))
        #expect(!IPAddress.isValid("fe80::1%eth0"))
    }
}

@Suite struct VolumeSpecTests {
    @Test func forms() throws {
        let anon = try VolumeSpec.parse("/data")
        #expect(anon.type == "volume" && anon.source.isEmpty && anon.target == "/data")
        let named = try VolumeSpec.parse("db:/var/lib/db:ro")
        #expect(named.type == "volume" && named.source == "db" && named.readOnly)
        let bind = try VolumeSpec.parse("./conf:/etc/conf:ro,z")
        #expect(bind.type == "bind" && bind.source == "./conf" && bind.readOnly && bind.selinux == "z")
        let home = try VolumeSpec.parse("~/x:/x:rshared")
        #expect(home.type == "bind" && home.propagation == "rshared")
        let nocopy = try VolumeSpec.parse("vol:/v:nocopy")
        #expect(nocopy.noCopy)
        let interpolated = try VolumeSpec.parse("${DIR:-./x}:/y")
        #expect(interpolated.source == "${DIR:-./x}" && interpolated.target == "/y")
    }

    @Test func windowsDriveLettersAreOneSourceAsInComposeGo() throws {
        let v = try VolumeSpec.parse("c:/data:/data")
        #expect(v.source == "c:/data" && v.target == "/data" && v.type == "bind")
    }

    @Test func refusals() {
        #expect(throws: VolumeSpecError.self) { try VolumeSpec.parse("vol:/b:/c:/d") }
        #expect(throws: VolumeSpecError.self) { try VolumeSpec.parse("vol::b") }
        #expect(throws: VolumeSpecError.self) { try VolumeSpec.parse("") }
    }
}

@Suite struct PathTests {
    @Test func goFilepathSemantics() {
        #expect(Path.clean("/a/./b/../c/") == "/a/c")
        #expect(Path.clean("a/../../b") == "../b")
        #expect(Path.join("/base", "../up") == "/up")
        #expect(Path.join("/base", "/abs") == "/base/abs")
        #expect(Path.directory("/a/b/c.yml") == "/a/b")
        #expect(Path.base("/a/b/") == "b")
        #expect(Path.relative("/a/b/c", to: "/a/d") == "../b/c")
        #expect(Path.expandingTilde("~/x", home: "/root") == "/root/x")
    }
}
