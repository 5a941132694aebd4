import Foundation
import Testing
import TestSupport
import Engine

/// Networks for real: bridges, veths, the resolver, published ports, isolation, teardown. Traffic goes
/// only to this machine's own addresses and the test's bridges.
@Suite(.requiresOverlay, .requiresBusybox, .serialized) struct NetworkingTests {
    /// The host's own non-loopback IPv4 address (traffic to it stays on this machine).
    static var hostAddress: String? {
        guard let nl = try? Netlink(), let addresses = try? nl.addresses() else { return nil }
        let bridges = Set(((try? nl.links()) ?? []).filter { $0.kind == "bridge" || $0.name.hasPrefix("sw-") }.map(\.index))
        return addresses.first { !$0.address.description.hasPrefix("127.") && !bridges.contains($0.index) }?.address.description
    }

    static func freePort() -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_addr.s_addr = INADDR_ANY
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return UInt16(bigEndian: a.sin_port)
    }

    /// A plain HTTP/1.0 GET over a socket; the body, or nil.
    static func http(_ url: String) -> String? {
        guard let u = URL(string: url), let host = u.host, let port = u.port else { return nil }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var tv = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = UInt16(port).bigEndian
        a.sin_addr.s_addr = inet_addr(host)
        let r = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard r == 0 else { return nil }
        let request = "GET \(u.path.isEmpty ? "/" : u.path) HTTP/1.0\r\nHost: \(host)\r\n\r\n"
        _ = request.withCString { send(fd, $0, strlen($0), 0) }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            response += buffer[0..<n]
        }
        let text = String(decoding: response, as: UTF8.self)
        guard text.hasPrefix("HTTP/1"), let split = text.range(of: "\r\n\r\n") else { return nil }
        return String(text[split.upperBound...])
    }

    /// A GET and how long it took (2 s at most: a hang shows as nil after 2 s).
    /// `wget http://HOST/` from the project's `client` container, timed inside it by busybox's `time`:
    /// the network's delay, not exec's (which is slow under user-mode Linux).
    static func timedFetch(_ p: ProjectFixture, _ host: String) throws -> (body: String, seconds: Double) {
        let r = try p.run(["exec", "-T", "client", "time", "-f", "%e", "timeout", "3", "wget", "-qO-", "http://\(host)/"])
        let seconds = r.stderr.split(separator: "\n").last.flatMap { Double($0) } ?? .infinity
        return (r.status == 0 ? r.stdout : "failed: \(r.stderr)", seconds)
    }

    static func timedHTTP(_ url: String) -> (body: String?, seconds: Double) {
        let start = Date()
        let body = http(url)
        return (body, Date().timeIntervalSince(start))
    }

    /// An httpd whose page is new with every container, healthy once it answers.
    static func webService(_ extra: String = "") -> String {
        """
          web:
            image: swcompose/busybox
            command: ["sh", "-c", "cat /proc/sys/kernel/random/uuid > /tmp/index.html; exec httpd -f -p 80 -h /tmp"]
            healthcheck:
              test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1/"]
              interval: 1s
        \(extra)
        """
    }

    /// How long the first request right after `up` may take: 100 ms, or three times what the next
    /// request to the same server takes on this kernel (a request alone takes ~100 ms under user-mode
    /// Linux with another guest beside it). A port not yet answering takes seconds, or fails.
    static func firstRequestBound(port: UInt16? = nil, address: String? = nil) -> Double {
        let url = port.map { "http://127.0.0.1:\($0)/" } ?? "http://\(address ?? "127.0.0.1"):80/"
        return max(0.1, 3 * timedHTTP(url).seconds)
    }

    /// What a user does: `up --wait`, then curl the published port and the container's own address
    /// at once — cycle after cycle, as addresses are reused.
    @Test func portsAnswerTheMomentUpWaitReturnsCycleAfterCycle() throws {
        let port = Self.freePort()
        let p = try ProjectFixture("ready", compose: "services:\n" + Self.webService("    ports: [\"127.0.0.1:\(port):80\"]"))
        for cycle in 1...10 {
            let up = try p.run(["up", "-d", "--wait"])
            #expect(up.status == 0, "\(up.stderr)")
            let page = try #require(try p.run(["exec", "-T", "web", "cat", "/tmp/index.html"]).stdout as String?)
            // The container knows its gateway's MAC before any packet needs it: its first reply to
            // the host does not wait for an ARP round trip.
            let web = try #require(p.container("web"))
            let gateway = try NetworkStore(root: StateRoot(path: p.root)).inspect("\(p.project)_default").gateway
            let arp = (try? String(contentsOfFile: "/proc/\(p.store.state(web.id).pid)/net/arp", encoding: .utf8)) ?? ""
            #expect(arp.split(separator: "\n").contains { $0.hasPrefix("\(gateway) ") && $0.contains(" 0x2 ") }, "cycle \(cycle): \(arp)")
            let published = Self.timedHTTP("http://127.0.0.1:\(port)/")
            #expect(published.body == page && published.seconds < Self.firstRequestBound(port: port), "cycle \(cycle): \(published.body ?? "no answer") after \(published.seconds) s")
            let address = try #require(p.store.state(p.container("web")!.id).networks.values.first?.address)
            let direct = Self.timedHTTP("http://\(address):80/")
            #expect(direct.body == page && direct.seconds < Self.firstRequestBound(address: "\(address)"), "cycle \(cycle): \(address): \(direct.body ?? "no answer") after \(direct.seconds) s")
            #expect(try p.run(["down", "-t", "0"]).status == 0)
        }
    }

    /// A peer recreated (new container, the same address) or restarted (the same container) is reached
    /// by the client that talked to its predecessor at once, on every network they share.
    @Test func aRecreatedOrRestartedPeerIsReachedAtOnce() throws {
        let port = Self.freePort()
        let p = try ProjectFixture("peer", compose: """
            services:
            \(Self.webService("""
                ports: ["127.0.0.1:\(port):80"]
                networks: [default, second]
            """))
              client:
                image: swcompose/busybox
                command: sleep 1000
                networks: [default, second]
            networks:
              second: {}
            """)
        #expect(try p.run(["up", "-d", "--wait"]).status == 0)
        func fetch(_ host: String) throws -> (body: String, seconds: Double) { try Self.timedFetch(p, host) }
        func addresses() throws -> (String, String) {
            let networks = p.store.state(try #require(p.container("web")).id).networks
            return (try #require(networks["\(p.project)_default"]?.address.description),
                    try #require(networks["\(p.project)_second"]?.address.description))
        }
        var previous = try fetch("web").body
        var (onDefault, onSecond) = try addresses()
        #expect(try fetch(onSecond).body == previous, "the client has talked to web on both networks")
        for round in 1...6 {
            let recreate = round % 2 == 1
            let step = recreate ? try p.run(["up", "-d", "--wait", "--force-recreate", "web"])
                                : try p.run(["restart", "web"])
            #expect(step.status == 0, "\(step.stderr)")
            if !recreate { #expect(try p.run(["up", "-d", "--wait", "web"]).status == 0) }
            let page = try p.run(["exec", "-T", "web", "cat", "/tmp/index.html"]).stdout
            #expect(page != previous, "a new incarnation")
            let (nowDefault, nowSecond) = try addresses()
            if !recreate { #expect(nowDefault == onDefault && nowSecond == onSecond, "restart keeps the addresses") }
            (onDefault, onSecond) = (nowDefault, nowSecond)
            // Timed inside the client (exec's own cost is not the network's); a stale neighbour entry
            // takes seconds.
            for target in ["web", onDefault, onSecond] {
                let got = try fetch(target)
                #expect(got.body == page && got.seconds < 1, "round \(round) (\(recreate ? "recreated" : "restarted")), \(target): \(got.body) after \(got.seconds) s")
            }
            let published = Self.timedHTTP("http://127.0.0.1:\(port)/")
            #expect(published.body == page && published.seconds < Self.firstRequestBound(port: port), "round \(round): published port: \(published.body ?? "no answer") after \(published.seconds) s")
            previous = page
        }
        #expect(try p.run(["down", "-t", "0"]).status == 0)
    }

    /// A user-set MAC address that changes for the same IP: the endpoint announces itself when it comes
    /// up (gratuitous ARP), so the client's cached entry for the old MAC is replaced at once.
    @Test func aChangedMACAddressIsAnnounced() throws {
        let p = try ProjectFixture("garp", compose: """
            services:
            \(Self.webService("    mac_address: ${WEB_MAC}\n    networks:\n      default:\n        ipv4_address: 10.214.9.10"))
              client:
                image: swcompose/busybox
                command: sleep 1000
            networks:
              default:
                ipam:
                  config: [{subnet: 10.214.9.0/24}]
            """)
        #expect(try p.run(["up", "-d", "--wait"], extraEnvironment: ["WEB_MAC": "02:00:00:00:aa:01"]).status == 0)
        #expect(try p.run(["exec", "-T", "client", "wget", "-qO-", "http://10.214.9.10/"]).status == 0)
        #expect(try p.run(["exec", "-T", "web", "cat", "/sys/class/net/eth0/address"]).stdout == "02:00:00:00:aa:01\n")
        let up = try p.run(["up", "-d", "--wait", "web"], extraEnvironment: ["WEB_MAC": "02:00:00:00:aa:02"])
        #expect(up.stderr.contains("Recreate"), "\(up.stderr)")
        #expect(try p.run(["exec", "-T", "web", "cat", "/sys/class/net/eth0/address"]).stdout == "02:00:00:00:aa:02\n")
        let got = try Self.timedFetch(p, "10.214.9.10")
        #expect(!got.body.hasPrefix("failed") && got.seconds < 1, "\(got.body) after \(got.seconds) s")
        let neighbours = try p.run(["exec", "-T", "client", "ip", "neigh"]).stdout
        #expect(neighbours.contains("10.214.9.10 dev eth0 lladdr 02:00:00:00:aa:02"), "\(neighbours)")
        #expect(try p.run(["down", "-t", "0"]).status == 0)
    }

    @Test func servicesFindEachOtherByNameAndPortsReachTheHost() throws {
        let port = Self.freePort()
        let p = try ProjectFixture("net", compose: """
            services:
              web:
                image: swcompose/busybox
                command: ["sh", "-c", "echo hello from web > /tmp/index.html; exec httpd -f -p 80 -h /tmp"]
                ports: ["\(port):80"]
                healthcheck:
                  test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:80/"]
                  interval: 1s
              client:
                image: swcompose/busybox
                command: sleep 1000
            """)
        let up = try p.run(["up", "-d", "--wait"])
        #expect(up.status == 0, "\(up.stderr)")
        #expect(up.stderr.contains(" Network \(p.project)_default  Created"))
        // By service name, container name and short ID, from the other container, as soon as it is up.
        #expect(try p.run(["exec", "-T", "client", "wget", "-qO-", "http://web/"]).stdout == "hello from web\n")
        #expect(try p.run(["exec", "-T", "client", "wget", "-qO-", "http://\(p.project)-web-1/"]).stdout == "hello from web\n")
        let names = try p.run(["exec", "-T", "client", "nslookup", "web"]).stdout
        let webAddress = try #require(p.store.state(p.container("web")!.id).networks["\(p.project)_default"]?.address.description)
        #expect(names.contains("Address: \(webAddress)"), "\(names)")
        // The published port, from the host through 127.0.0.1 and the host's own address.
        #expect(Self.http("http://127.0.0.1:\(port)/") == "hello from web\n")
        if let host = Self.hostAddress { #expect(Self.http("http://\(host):\(port)/") == "hello from web\n") }
        // And from another container through the gateway.
        let gateway = try NetworkStore(root: StateRoot(path: p.root)).inspect("\(p.project)_default").gateway
        #expect(try p.run(["exec", "-T", "client", "wget", "-qO-", "http://\(gateway):\(port)/"]).stdout == "hello from web\n")
        let ps = try p.run(["ps", "web"]).stdout
        #expect(ps.contains("0.0.0.0:\(port)->80/tcp"), "\(ps)")
        #expect(try p.run(["port", "web", "80"]).stdout == "0.0.0.0:\(port)\n")
        // docker's embedded resolver: 127.0.0.11 (names outside the network go on to the host's resolvers).
        // It listens on another port, to which the container's cgroup redirects 53, so that the
        // container's own programs can still bind port 53.
        let resolv = try p.run(["exec", "-T", "client", "cat", "/etc/resolv.conf"]).stdout
        #expect(resolv.hasPrefix("nameserver 127.0.0.11\n") && resolv.contains("ndots:0"), "\(resolv)")
        let listening = try p.run(["exec", "-T", "client", "netstat", "-lnu"]).stdout
        #expect(listening.contains("127.0.0.11:"), "\(listening)")
        if Host.hasCgroupV2Unified { #expect(!listening.contains("127.0.0.11:53 "), "\(listening)") }
        #expect(try p.run(["exec", "-T", "client", "grep", webAddress, "/etc/hosts"]).status == 1, "only its own address")
        #expect(try p.run(["down"]).status == 0)
        #expect((try? NetworkStore(root: StateRoot(path: p.root)).inspect("\(p.project)_default")) == nil)
    }

    @Test func aliasesIsolationAndInternalNetworks() throws {
        let p = try ProjectFixture("iso", compose: """
            services:
              api:
                image: swcompose/busybox
                command: ["sh", "-c", "echo api > /tmp/index.html; exec httpd -f -p 80 -h /tmp"]
                healthcheck:
                  test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:80/"]
                  interval: 1s
                networks:
                  front: {}
                  back:
                    aliases: [database-alias]
              frontend:
                image: swcompose/busybox
                command: sleep 1000
                networks: [front]
              backend:
                image: swcompose/busybox
                command: sleep 1000
                networks: [back]
              other:
                image: swcompose/busybox
                command: sleep 1000
                networks: [elsewhere]
              sealed:
                image: swcompose/busybox
                command: sleep 1000
                networks: [vault]
            networks:
              front: {}
              back: {}
              elsewhere: {}
              vault:
                internal: true
            """)
        let up = try p.run(["up", "-d", "--wait"])
        #expect(up.status == 0, "\(up.stderr)")
        func run(_ service: String, _ cmd: String) throws -> Swcompose.Result { try p.run(["exec", "-T", service, "sh", "-c", cmd]) }
        #expect(try run("backend", "wget -qO- http://database-alias/").stdout == "api\n")
        #expect(try run("frontend", "wget -qO- http://api/").stdout == "api\n")
        #expect(try run("frontend", "nslookup database-alias").status != 0, "the alias exists on back only")
        #expect(try run("other", "nslookup api").status != 0, "api is not on elsewhere")
        // Nor can it be reached by address from another network.
        let apiOnFront = try #require(p.store.state(p.container("api")!.id).networks["\(p.project)_front"]?.address)
        #expect(try run("other", "timeout 2 wget -qO- http://\(apiOnFront)/").status != 0)
        // The internal network keeps its traffic in: its default route (dockerd 20.10 gives one) leads
        // nowhere beyond its bridge.
        #expect(try run("sealed", "timeout 2 wget -qO- http://\(apiOnFront)/").status != 0)
        #expect(try run("frontend", "ip route").stdout.contains("default via"))
        #expect(try p.run(["down"]).status == 0)
    }

    /// Each container has cgroup programs of its own (its device filter, its resolver's redirects).
    /// Before Linux 5.11 they are charged to root's locked memory: a dozen containers must still start,
    /// and the containers keep the locked-memory limit they were started with.
    @Test func aDozenContainersEachWithTheirCgroupPrograms() throws {
        let p = try ProjectFixture("many", compose: """
            services:
              app:
                image: swcompose/busybox
                scale: 12
                command: ["sleep", "1000"]
            """)
        let up = try p.run(["up", "-d"])
        #expect(up.status == 0, "\(up.stderr)")
        let running = p.store.list().filter { p.store.state($0.id).status == .running }
        #expect(running.count == 12)
        // This process's soft limit (swcompose inherits it), from /proc/self/limits.
        let limits = try String(contentsOfFile: "/proc/self/limits", encoding: .utf8)
        let soft = limits.split(separator: "\n").first { $0.hasPrefix("Max locked memory") }?
            .dropFirst("Max locked memory".count).split(separator: " ").first.map(String.init) ?? ""
        let expected = soft == "unlimited" ? "unlimited\n" : "\((Int(soft) ?? 0) / 1024)\n"
        #expect(try p.run(["exec", "-T", "--index", "12", "app", "sh", "-c", "ulimit -l"]).stdout == expected)
        #expect(try p.run(["exec", "-T", "--index", "12", "app", "nslookup", "app"]).status == 0)
        #expect(try p.run(["down", "-t", "0"]).status == 0)
    }

    @Test func udpPortsEphemeralPortsAndHostIP() throws {
        // A UDP echo server in the container, with the host's Python (its /usr mounted read-only).
        let p = try ProjectFixture("udp", compose: """
            services:
              echo:
                image: swcompose/busybox
                command: ["/usr/bin/python3", "-c", "import socket\\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\\ns.bind(('0.0.0.0',7))\\nwhile True:\\n  d,a=s.recvfrom(100)\\n  s.sendto(b'echo:'+d,a)"]
                volumes: ["/usr:/usr:ro", "/lib64:/lib64:ro", "/usr/lib:/lib:ro"]
                ports: ["127.0.0.1::7/udp", "127.0.0.1::8080"]
            """)
        let up = try p.run(["up", "-d"])
        #expect(up.status == 0, "\(up.stderr)")
        let state = p.store.state(p.container("echo")!.id)
        let udp = try #require(state.ports.first { $0.proto == "udp" })
        #expect(udp.hostIP == "127.0.0.1" && udp.hostPort > 0, "an ephemeral port on the given address")
        #expect(try p.run(["port", "--protocol", "udp", "echo", "7"]).stdout == "127.0.0.1:\(udp.hostPort)\n")
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        var tv = timeval(tv_sec: 0, tv_usec: 300_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var to = sockaddr_in()
        to.sin_family = sa_family_t(AF_INET)
        to.sin_port = udp.hostPort.bigEndian
        to.sin_addr.s_addr = inet_addr("127.0.0.1")
        var reply = ""
        for _ in 0..<30 where reply.isEmpty {
            _ = withUnsafePointer(to: &to) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, "ping", 4, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            var buffer = [UInt8](repeating: 0, count: 64)
            let n = recv(fd, &buffer, 64, 0)
            if n > 0 { reply = String(decoding: buffer[0..<n], as: UTF8.self) }
        }
        #expect(reply == "echo:ping")
        #expect(try p.run(["down"]).status == 0)
    }

    /// `run` publishes nothing of the service's unless asked (`--service-ports`), and its own ports
    /// with `--publish`, as docker compose: a one-off beside the running service does not collide.
    @Test func runPublishesOnlyWhatItIsAskedFor() throws {
        let port = Self.freePort(), own = Self.freePort()
        let p = try ProjectFixture("runports", compose: "services:\n" + Self.webService("    ports: [\"127.0.0.1:\(port):80\"]"))
        #expect(try p.run(["up", "-d", "--wait"]).status == 0)
        let plain = try p.run(["run", "--rm", "web", "echo", "beside"])
        #expect(plain.status == 0 && plain.stdout == "beside\n", "\(plain.stderr)")
        let published = try p.run(["run", "-d", "--name", "\(p.project)-own", "-p", "127.0.0.1:\(own):80", "web"])
        #expect(published.status == 0, "\(published.stderr)")
        let page = try p.run(["exec", "-T", "web", "cat", "/tmp/index.html"]).stdout
        // The one-off's httpd has no healthcheck to wait on: it binds within milliseconds of `run -d`
        // returning, which is asserted, not waited out.
        var answer: String?
        let start = Date()
        while answer == nil && Date().timeIntervalSince(start) < 3 {
            answer = Self.http("http://127.0.0.1:\(own)/")
            if answer == nil { usleep(10_000) }
        }
        #expect(answer != nil && answer != page, "the one-off answers on its own port with its own page")
        #expect(Date().timeIntervalSince(start) < 0.5, "within \(Date().timeIntervalSince(start)) s")
        let clash = try p.run(["run", "--rm", "--service-ports", "web", "true"])
        #expect(clash.status == 1 && clash.stderr.contains("127.0.0.1:\(port)"), "--service-ports takes the service's ports: \(clash.stderr)")
        #expect(try p.run(["down", "-t", "0", "--remove-orphans"]).status == 0)
    }

    @Test func aTakenPortFailsUpBeforeAnythingStartsAndNamesTheHolder() throws {
        let port = Self.freePort()
        let holder = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(holder) }
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = port.bigEndian
        a.sin_addr.s_addr = INADDR_ANY
        _ = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(holder, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        listen(holder, 1)
        let p = try ProjectFixture("conflict", compose: """
            services:
              db:
                image: swcompose/busybox
                command: sleep 1000
              web:
                image: swcompose/busybox
                command: sleep 1000
                ports: ["\(port):80"]
            """)
        let up = try p.run(["up", "-d"])
        #expect(up.status == 1)
        #expect(up.stderr.contains("Bind for 0.0.0.0:\(port) failed: port is already allocated (held by "), "\(up.stderr)")
        #expect(up.stderr.contains("(pid \(getpid()))"), "the holder is named: \(up.stderr)")
        #expect(up.stderr.contains("compose.yaml:8:13:"), "the compose file location: \(up.stderr)")
        #expect(p.store.list().isEmpty, "no container was created")
        #expect(NetworkStore(root: StateRoot(path: p.root)).list().isEmpty, "no network was created")
    }

    @Test func networkModes() throws {
        let p = try ProjectFixture("mode", compose: """
            services:
              web:
                image: swcompose/busybox
                command: ["sh", "-c", "echo shared > /tmp/index.html; exec httpd -f -p 8081 -h /tmp"]
                healthcheck:
                  test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8081/"]
                  interval: 1s
              sidecar:
                image: swcompose/busybox
                command: sleep 1000
                network_mode: service:web
              nothing:
                image: swcompose/busybox
                command: sleep 1000
                network_mode: none
              hosted:
                image: swcompose/busybox
                command: sleep 1000
                network_mode: host
            """)
        #expect(try p.run(["up", "-d", "--wait"]).status == 0)
        #expect(try p.run(["exec", "-T", "sidecar", "wget", "-qO-", "http://127.0.0.1:8081/"]).stdout == "shared\n")
        let none = try p.run(["exec", "-T", "nothing", "sh", "-c", "ls /sys/class/net"]).stdout
        #expect(none == "lo\n", "\(none)")
        let hostLinks = try p.run(["exec", "-T", "hosted", "sh", "-c", "ls /sys/class/net"]).stdout
        let ownLinks = try FileManager.default.contentsOfDirectory(atPath: "/sys/class/net")
        #expect(ownLinks.allSatisfy { hostLinks.contains($0) || $0.hasPrefix("veth") || $0.hasPrefix("sw-") }, "\(hostLinks)")
        #expect(try p.run(["down", "-t", "0"]).status == 0)
    }

    @Test func aRecreatedPeerIsFoundAtItsNewAddress() throws {
        let p = try ProjectFixture("recreate", compose: """
            services:
              web:
                image: swcompose/busybox
                command: ["sh", "-c", "hostname -i > /tmp/index.html; exec httpd -f -p 80 -h /tmp"]
                healthcheck:
                  test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:80/"]
                  interval: 1s
              filler:
                image: swcompose/busybox
                command: sleep 1000
              client:
                image: swcompose/busybox
                command: sleep 1000
            """)
        #expect(try p.run(["up", "-d", "--wait", "web", "client"]).status == 0)
        let first = try #require(p.store.state(p.container("web")!.id).networks.values.first?.address)
        let fetched = try p.run(["exec", "-T", "client", "wget", "-qO-", "http://web/"])
        #expect(fetched.stdout == "\(first)\n", "\(fetched.stderr)")
        // web goes; filler takes its address; web comes back elsewhere and is found there by the running client.
        #expect(try p.run(["rm", "-sf", "web"]).status == 0)
        #expect(try p.run(["up", "-d", "filler"]).status == 0)
        #expect(try p.run(["up", "-d", "--wait", "web"]).status == 0)
        let second = try #require(p.store.state(p.container("web")!.id).networks.values.first?.address)
        #expect(second != first)
        let found = try p.run(["exec", "-T", "client", "wget", "-qO-", "http://web/"]).stdout
        #expect(found == "\(second)\n", "\((try? p.run(["exec", "-T", "client", "nslookup", "web"]).stdout) ?? "")")
        #expect(try p.run(["down", "-t", "0"]).status == 0)
    }

    @Test func namesOutsideTheProjectAreForwarded() throws {
        // A stand-in upstream resolver on this machine answers example.test with 192.0.2.77.
        let upstream = try FakeDNS(answer: "192.0.2.77")
        let p = try ProjectFixture("dnsfwd", compose: """
            services:
              client:
                image: swcompose/busybox
                command: sleep 1000
            """)
        #expect(try p.run(["up", "-d"], extraEnvironment: ["SWCOMPOSE_DNS_UPSTREAMS": "127.0.0.1:\(upstream.port)"]).status == 0)
        let answer = try p.run(["exec", "-T", "client", "nslookup", "example.test"]).stdout
        #expect(answer.contains("192.0.2.77"), "\(answer)")
        #expect(try p.run(["down", "-t", "0"]).status == 0)
    }

    @Test func ipamExternalNetworksHostsFilesAndNetworkVerbs() throws {
        let port = Self.freePort()
        let owner = try ProjectFixture("owner", compose: """
            services:
              web:
                image: swcompose/busybox
                command: ["sh", "-c", "echo owner > /tmp/index.html; exec httpd -f -p 80 -h /tmp"]
                healthcheck:
                  test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:80/"]
                  interval: 1s
                ports: ["127.0.0.1:\(port)-\(port &+ 5):80", "[::1]:\(port &+ 10):80"]
                networks:
                  shared:
                    ipv4_address: 10.213.7.50
            networks:
              shared:
                name: swtest-shared-\(port)
                ipam:
                  config:
                    - subnet: 10.213.7.0/24
                      ip_range: 10.213.7.32/27
                      gateway: 10.213.7.254
            """)
        #expect(try owner.run(["up", "-d", "--wait"]).status == 0)
        let net = try NetworkStore(root: StateRoot(path: owner.root)).inspect("swtest-shared-\(port)")
        #expect(net.subnet.description == "10.213.7.0/24" && net.gateway.description == "10.213.7.254")
        #expect(owner.store.state(owner.container("web")!.id).networks.values.first?.address.description == "10.213.7.50")
        #expect(Self.http("http://127.0.0.1:\(port)/") == "owner\n", "the first free port of the range")
        let ports = owner.store.state(owner.container("web")!.id).ports
        #expect(ports.contains(PublishedPort(hostIP: "::1", hostPort: port &+ 10, containerPort: 80, proto: "tcp")), "\(ports)")
        // Another project in the same state root joins it as external, with extra_hosts and dns_search.
        let guest = try ProjectFixture("guest", compose: """
            services:
              client:
                image: swcompose/busybox
                command: sleep 1000
                extra_hosts: ["registry.test:10.1.2.3"]
                dns_search: [corp.test]
                networks: [shared]
              sealed:
                image: swcompose/busybox
                command: sleep 1000
                networks: [vault]
            networks:
              shared:
                name: swtest-shared-\(port)
                external: true
              vault:
                internal: true
            """)
        try? FileManager.default.removeItem(atPath: guest.root)
        try FileManager.default.createSymbolicLink(atPath: guest.root, withDestinationPath: owner.root)
        #expect(try guest.run(["up", "-d"]).status == 0)
        #expect(try guest.run(["exec", "-T", "client", "wget", "-qO-", "http://web/"]).stdout == "owner\n")
        #expect(try guest.run(["exec", "-T", "client", "cat", "/etc/hosts"]).stdout.contains("10.1.2.3\tregistry.test"))
        #expect(try guest.run(["exec", "-T", "client", "cat", "/etc/resolv.conf"]).stdout.contains("search corp.test"))
        let address = try #require(guest.store.state(guest.container("client")!.id).networks.values.first?.address)
        #expect(net.ipRange!.contains(address), "allocated from ip_range: \(address)")
        // The internal network cannot reach the host's published ports.
        let vaultGateway = try NetworkStore(root: StateRoot(path: owner.root)).inspect("\(guest.project)_vault").gateway
        #expect(try guest.run(["exec", "-T", "sealed", "timeout", "2", "wget", "-qO-", "http://\(vaultGateway):\(port)/"]).status != 0)
        let ls = try guest.run(["network", "ls"]).stdout
        #expect(ls.contains("swtest-shared-\(port)") && ls.contains("\(guest.project)_vault"))
        #expect(try guest.run(["network", "inspect", "swtest-shared-\(port)"]).stdout.contains("\"Subnet\": \"10.213.7.0/24\""))
        let refused = try guest.run(["network", "rm", "swtest-shared-\(port)"])
        #expect(refused.status == 1 && refused.stderr.contains("has active endpoints"))
        // The guest's down keeps the external network; the owner's removes it.
        #expect(try guest.run(["down", "-t", "0"]).status == 0)
        #expect((try? NetworkStore(root: StateRoot(path: owner.root)).inspect("swtest-shared-\(port)")) != nil)
        #expect(try owner.run(["down", "-t", "0"]).status == 0)
        #expect((try? NetworkStore(root: StateRoot(path: owner.root)).inspect("swtest-shared-\(port)")) == nil)
    }

    /// A command on a project whose network has its rules runs no iptables (`run --rm` asks the kernel
    /// whether the rules are as they were: nf_tables' generation, or the legacy tables); rules taken away
    /// behind its back are put back by the next command. In a network namespace of the test's own, so
    /// that the other suites' firewall changes do not count.
    @Test func aNetworkWithItsRulesInPlaceRunsNoIptablesAndRulesTakenAwayComeBack() throws {
        // Two networks: programming one must not make the other's rules look changed.
        let p = try ProjectFixture("fwcheck", compose: """
            services:
              app:
                image: swcompose/busybox
                command: ["sleep", "1000"]
                networks: [front, back]
            networks:
              front: {}
              back: {}
            """)
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        holder.arguments = ["--net", "--", "/bin/sleep", "600"]
        try holder.run()
        defer { kill(holder.processIdentifier, SIGKILL); holder.waitUntilExit() }
        let netns = "/proc/\(holder.processIdentifier)/ns/net"
        let own = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/net")
        #expect(p.eventually { (try? FileManager.default.destinationOfSymbolicLink(atPath: netns)).map { $0 != own } == true })
        func inside(_ program: String, _ arguments: [String], environment: [String: String] = [:]) throws -> Swcompose.Result {
            try Swcompose.execute("/usr/bin/nsenter", ["--net=" + netns, "--", program] + arguments, in: URL(fileURLWithPath: p.directory),
                                  environment: p.environment.merging(environment, uniquingKeysWith: { $1 }))
        }
        func swcompose(_ arguments: [String]) throws -> Swcompose.Result {
            try inside(Swcompose.executable.path, ["-p", p.project] + arguments, environment: ["SWCOMPOSE_TRACE": "1"])
        }
        func iptablesRuns(_ r: Swcompose.Result) -> [Substring] {
            r.stderr.split(separator: "\n").filter { $0.contains("spawn") && $0.contains("tables") }
        }
        defer { _ = try? swcompose(["down", "-v", "-t", "0"]) }
        let up = try swcompose(["up", "-d"])
        #expect(up.status == 0, "\(up.stderr)")
        #expect(!iptablesRuns(up).isEmpty, "the network's rules are programmed with iptables-restore, and traced: \(up.stderr)")
        let record = try NetworkStore(root: StateRoot(path: p.root)).inspect("\(p.project)_front")
        let chain = "SWC-F-" + record.id.prefix(12)
        let iptables = "/usr/sbin/iptables-" + (record.firewall ?? .nft).rawValue

        for attempt in 1...3 {
            let run = try swcompose(["run", "--rm", "app", "true"])
            #expect(run.status == 0, "\(run.stderr)")
            #expect(iptablesRuns(run).isEmpty, "run \(attempt) left the rules alone: \(iptablesRuns(run))")
        }

        // Taken away behind swcompose's back: the next command puts them back.
        #expect(try inside(iptables, ["-w", "-F", chain]).status == 0)
        #expect(!(try inside(iptables + "-save", ["-t", "filter"]).stdout.contains("-A \(chain) ")))
        let again = try swcompose(["run", "--rm", "app", "true"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(!iptablesRuns(again).isEmpty)
        let rules = try inside(iptables + "-save", ["-t", "filter"]).stdout
        #expect(rules.contains("-A \(chain) -i \(record.bridge) -o \(record.bridge) -j ACCEPT"), "\(rules)")
        // And left alone from then on.
        #expect(iptablesRuns(try swcompose(["run", "--rm", "app", "true"])).isEmpty)
        #expect(try swcompose(["down", "-v", "-t", "0"]).status == 0)
    }

    /// Published ports are the kernel's (connections rewritten to the container, as fast as going
    /// to it directly), and keep what the forwarder gave: another container reaches a published port
    /// through the host (hairpin), the container reaches its own, a port bound to 127.0.0.1 is this
    /// host's alone — a packet for 127.0.0.1 routed to the host from another machine (a network
    /// namespace behind a veth, as a neighbour on the LAN) reaches nothing, where a port bound to every
    /// address answers it — and a one-off's published port leaves no rule behind.
    @Test func publishedPortsAreTheKernelsAndA127BindingStaysOnThisHost() throws {
        let local = Self.freePort(), open = Self.freePort(), oneOff = Self.freePort()
        let localUDP = Self.freePort(), openUDP = Self.freePort()
        // A UDP sink printing what reaches it (the host's Python, its /usr mounted read-only): UDP goes
        // one way, so what reaches the container is seen even where no answer could return.
        let p = try ProjectFixture("kports", compose: """
            services:
            \(Self.webService("    ports: [\"127.0.0.1:\(local):80\", \"\(open):80\"]\n    networks: [default, back]"))
              client:
                image: swcompose/busybox
                command: sleep 1000
              backclient:
                image: swcompose/busybox
                command: sleep 1000
                networks: [back]
              sink:
                image: swcompose/busybox
                command: ["/usr/bin/python3", "-u", "-c", "import socket\\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\\ns.bind(('0.0.0.0',7))\\nwhile True: print(s.recv(100).decode())"]
                volumes: ["/usr:/usr:ro", "/lib64:/lib64:ro", "/usr/lib:/lib:ro"]
                ports: ["127.0.0.1:\(localUDP):7/udp", "\(openUDP):7/udp"]
            networks:
              back: {}
            """)
        defer { _ = try? p.run(["down", "-t", "0"]) }
        let up = try p.run(["up", "-d", "--wait"])
        #expect(up.status == 0, "\(up.stderr)")
        let page = try p.run(["exec", "-T", "web", "cat", "/tmp/index.html"]).stdout
        // Ports lead to its address on its first network (as the forwarder's did).
        let web = try #require(p.container("web"))
        guard case .bridged(let endpoints) = web.spec.network, let first = endpoints.first?.network else { Issue.record("web is bridged"); return }
        let address = try #require(p.store.state(web.id).networks[first]?.address)
        let rules = Firewall.save()
        #expect(rules.contains("-d 127.0.0.1/32 -p tcp -m tcp --dport \(local) -j DNAT --to-destination \(address):80"), "\(rules)")
        #expect(rules.contains("-p tcp -m tcp --dport \(open) -j DNAT --to-destination \(address):80"), "\(rules)")
        #expect(Self.http("http://127.0.0.1:\(local)/") == page)
        let gateway = try NetworkStore(root: StateRoot(path: p.root)).inspect("\(p.project)_default").gateway
        #expect(try p.run(["exec", "-T", "client", "wget", "-qO-", "http://\(gateway):\(open)/"]).stdout == page, "hairpin")
        #expect(try p.run(["exec", "-T", "web", "wget", "-qO-", "http://\(gateway):\(open)/"]).stdout == page, "its own port")
        // From a container on web's other network too (one of client and backclient is), through its
        // gateway: web's answer must come back the way the question went, not straight out of its
        // interface on the asker's network.
        let backGateway = try NetworkStore(root: StateRoot(path: p.root)).inspect("\(p.project)_back").gateway
        #expect(try p.run(["exec", "-T", "backclient", "timeout", "3", "wget", "-qO-", "http://\(backGateway):\(open)/"]).stdout == page,
                "from web's second network")

        // The neighbour: 10.213.77.2 behind a veth whose host end is 10.213.77.1, routing 127.0.0.1 to
        // the host (its own loopback routes taken away, as an attacker's machine would).
        let ns = "swc-lan-\(getpid())"
        func ip(_ arguments: [String]) throws -> Swcompose.Result {
            try Swcompose.execute("/usr/sbin/ip", arguments, in: URL(fileURLWithPath: p.directory))
        }
        #expect(try ip(["netns", "add", ns]).status == 0)
        defer { _ = try? ip(["netns", "delete", ns]) }
        for step in [["link", "add", "swclan\(getpid() % 10000)", "type", "veth", "peer", "name", "nv", "netns", ns],
                     ["addr", "add", "10.213.77.1/30", "dev", "swclan\(getpid() % 10000)"],
                     ["link", "set", "swclan\(getpid() % 10000)", "up"],
                     ["-n", ns, "addr", "add", "10.213.77.2/30", "dev", "nv"],
                     ["-n", ns, "link", "set", "nv", "up"],
                     ["-n", ns, "link", "set", "lo", "up"],
                     ["-n", ns, "route", "del", "local", "127.0.0.0/8", "dev", "lo", "table", "local"],
                     ["-n", ns, "route", "del", "local", "127.0.0.1", "dev", "lo", "table", "local"],
                     ["-n", ns, "route", "add", "127.0.0.1/32", "via", "10.213.77.1", "dev", "nv"]] {
            let r = try ip(step)
            #expect(r.status == 0, "ip \(step.joined(separator: " ")): \(r.stderr)")
        }
        for sysctl in ["all", "nv"] {
            #expect(try ip(["netns", "exec", ns, "sysctl", "-qw", "net.ipv4.conf.\(sysctl).route_localnet=1"]).status == 0)
        }
        func fromNeighbour(_ url: String) throws -> Swcompose.Result {
            try ip(["netns", "exec", ns, "/usr/bin/python3", "-c",
                    "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen('\(url)', timeout=2).read().decode())"])
        }
        let lan = try fromNeighbour("http://10.213.77.1:\(open)/")
        #expect(lan.stdout == page, "a port on every address is the LAN's: \(lan.stderr)")
        let exposed = try fromNeighbour("http://127.0.0.1:\(local)/")
        #expect(exposed.status != 0 && exposed.stdout.isEmpty, "127.0.0.1:\(local) answered the neighbour: \(exposed.stdout)")
        #expect(try fromNeighbour("http://10.213.77.1:\(local)/").status != 0)
        // The same for UDP, seen from the container: the datagram for 127.0.0.1 never reaches it, the
        // one for the host's address (sent after it) does.
        func send(_ text: String, to host: String, _ port: UInt16) throws {
            let r = try ip(["netns", "exec", ns, "/usr/bin/python3", "-c",
                            "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'\(text)', ('\(host)', \(port)))"])
            #expect(r.status == 0, "\(r.stderr)")
        }
        try send("first", to: "10.213.77.1", openUDP)
        #expect(p.eventually { ((try? p.run(["logs", "sink"]))?.stdout ?? "").contains("first") }, "the sink listens")
        try send("exposed", to: "127.0.0.1", localUDP)
        try send("second", to: "10.213.77.1", openUDP)
        #expect(p.eventually { ((try? p.run(["logs", "sink"]))?.stdout ?? "").contains("second") })
        let received = try p.run(["logs", "sink"]).stdout
        #expect(!received.contains("exposed"), "a datagram for 127.0.0.1 from another machine reached the container: \(received)")

        // A one-off's published port, and nothing of it after `run --rm`.
        let run = try p.run(["run", "--rm", "-p", "127.0.0.1:\(oneOff):80", "web", "sh", "-c", "wget -qO- http://\(gateway):\(open)/ >/dev/null && echo reached"])
        #expect(run.status == 0 && run.stdout == "reached\n", "\(run.stderr)")
        #expect(!Firewall.save().contains("--dport \(oneOff) "), "the one-off's rule went with it")
        #expect(try p.run(["down", "-t", "0"]).status == 0)
        #expect(!Firewall.save().contains("\(address)/32 "), "no rule leads to the container after down")
    }

    /// `run --rm` beside a running service, with a published port: when it returns, nothing of the
    /// one-off is left — no rule for its address or port, no veth, no cgroup, no process, no record.
    @Test func aOneOffLeavesNoRuleLinkCgroupOrProcess() throws {
        let port = Self.freePort()
        let p = try ProjectFixture("oneoff", compose: "services:\n" + Self.webService())
        defer { _ = try? p.run(["down", "-t", "0"]) }
        #expect(try p.run(["up", "-d", "--wait"]).status == 0)
        for _ in 1...3 {
            let marker = "one-off-\(UInt32.random(in: 0...UInt32.max))"
            let run = try p.run(["run", "--rm", "-p", "127.0.0.1:\(port):80", "web", "sh", "-c",
                                 "ip -4 -o addr show eth0; cat /sys/class/net/eth0/iflink; echo \(marker)"])
            #expect(run.status == 0, "\(run.stderr)")
            let lines = run.stdout.split(separator: "\n").map(String.init)
            let address = try #require(lines.first?.split(separator: " ").first { $0.contains("/") }?.split(separator: "/").first.map(String.init))
            let veth = try #require(lines.dropFirst().first.flatMap { Int32($0) })
            #expect(lines.last == marker, "\(run.stdout)")
            // Its ID, from the event journal (its record is gone).
            let journal = (try? String(contentsOfFile: p.root + "/events.jsonl", encoding: .utf8)) ?? ""
            let id = try #require(journal.split(separator: "\n").last { $0.contains("\"action\":\"destroy\"") && $0.contains("-web-run-") }
                .flatMap { line in line.range(of: "\"id\":\"").map { String(line[$0.upperBound...].prefix(64)) } })
            let rules = Firewall.save()
            #expect(!rules.contains("\(address)/32 ") && !rules.contains("\(address):") && !rules.contains("--dport \(port) "), "\(rules)")
            // Its veth goes with its network namespace, which the kernel takes down in the background:
            // within a second.
            #expect(p.eventually(1) { !((try? Netlink().links()) ?? []).contains { $0.index == veth } }, "its veth (\(veth)) is gone")
            // No cgroup of it in any hierarchy (swcompose/<id>, or under a systemd scope).
            let h = CgroupHierarchies.detect()
            var found: [String] = []
            func look(_ dir: String, depth: Int) {
                for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] {
                    var isDirectory: ObjCBool = false
                    guard FileManager.default.fileExists(atPath: dir + "/" + name, isDirectory: &isDirectory), isDirectory.boolValue else { continue }
                    if name.contains(id) { found.append(dir + "/" + name) } else if depth > 0 { look(dir + "/" + name, depth: depth - 1) }
                }
            }
            for root in Set(Array(h.v1.values) + [h.unified].compactMap { $0 }) {
                look(root + "/" + CgroupPlacement.cgroupfsParent, depth: 1)
                look(root + "/" + CgroupPlacement.slice, depth: 2)
            }
            #expect(found.isEmpty, "its cgroups are gone: \(found)")
            let processes = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).filter { entry in
                Int32(entry) != nil && (FileManager.default.contents(atPath: "/proc/\(entry)/cmdline").map { String(decoding: $0, as: UTF8.self).contains(marker) } ?? false)
            }
            #expect(processes.isEmpty, "no process of it runs: \(processes)")
            #expect(!p.store.list().contains { $0.name.contains("-web-run-") }, "its record is gone")
        }
        #expect(try p.run(["down", "-t", "0"]).status == 0)
    }

    @Test func repeatedUpAndDownLeaveTheHostAsItWas() throws {
        let p = try ProjectFixture("leak", compose: """
            services:
              a:
                image: swcompose/busybox
                command: sleep 1000
                networks: [one, two]
                ports: ["127.0.0.1::80"]
              b:
                image: swcompose/busybox
                command: sleep 1000
                networks: [two]
            networks:
              one: {}
              two:
                internal: true
            """)
        // What this project made, noted while it exists; after `down` none of it may remain. (Other
        // tests create and remove their own networks meanwhile: only ours are checked.)
        var made: [NetworkRecord] = []
        func note() { made += NetworkStore(root: StateRoot(path: p.root)).list() }
        func leftovers() -> [String] {
            let links = (try? Process.output("/usr/sbin/ip", ["-o", "link"])) ?? ""
            let routes = (try? Process.output("/usr/sbin/ip", ["-o", "route"])) ?? ""
            let rules = Firewall.save()
            var found: [String] = []
            for n in made {
                if links.contains(n.bridge) { found.append("link or port of \(n.bridge)") }
                // (The subnet may already serve another test's network: only a route via our bridge counts.)
                if routes.contains("\(n.subnet) dev \(n.bridge) ") { found.append("route \(n.subnet)") }
                if rules.contains(n.bridge) || rules.contains(String(n.id.prefix(12))) { found.append("rules of \(n.bridge)") }
                for e in n.endpoints.values where rules.contains("\(e.address)/32 ") || rules.contains("\(e.address):") {
                    found.append("published port rules of \(e.address)")
                }
            }
            return found
        }
        for _ in 0..<8 {
            #expect(try p.run(["up", "-d"]).status == 0)
            note()
            #expect(try p.run(["down", "-t", "0"]).status == 0)
        }
        #expect(made.count == 16)
        #expect(leftovers().isEmpty, "\(leftovers())")
        // A killed supervisor leaves state the next `down` clears.
        #expect(try p.run(["up", "-d"]).status == 0)
        note()
        p.killSupervisors()
        #expect(try p.run(["down", "-t", "0"]).status == 0)
        #expect(leftovers().isEmpty, "\(leftovers())")
    }
}

/// A UDP DNS server on 127.0.0.1 answering every A question with one address.
final class FakeDNS: @unchecked Sendable {
    let fd: Int32
    let port: UInt16
    let thread: Thread

    init(answer: String) throws {
        let socketFD = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        fd = socketFD
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socketFD, $0, len) } }
        _ = withUnsafeMutablePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socketFD, $0, &len) } }
        port = UInt16(bigEndian: a.sin_port)
        let address = IPv4Address(answer)!
        thread = Thread {
            var buffer = [UInt8](repeating: 0, count: 512)
            while true {
                var from = sockaddr_storage()
                var fromLen = socklen_t(MemoryLayout<sockaddr_storage>.size)
                let n = withUnsafeMutablePointer(to: &from) { p in
                    p.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(socketFD, &buffer, 512, 0, $0, &fromLen) }
                }
                if n <= 0 { return }
                let query = Array(buffer[0..<n])
                guard let q = DNSMessage.parseQuery(query) else { continue }
                let reply = DNSMessage.answer(query, q, addresses: q.type == DNSMessage.typeA ? [address] : [])
                _ = withUnsafePointer(to: &from) { p in
                    p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(socketFD, reply, reply.count, 0, $0, fromLen) }
                }
            }
        }
        thread.start()
    }

    deinit {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }
}
