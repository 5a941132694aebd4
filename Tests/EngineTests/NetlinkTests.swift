import Foundation
import Testing
import TestSupport
@testable import Engine

/// rtnetlink messages compared byte for byte with what iproute2 6.1 sends for the same command
/// (captured with `strace -e write=all -xx`; only the sequence number is the capture's).
@Suite struct NetlinkMessageTests {
    static func hex(_ s: String) -> [UInt8] { s.split(separator: " ").map { UInt8($0, radix: 16)! } }
    let seq: UInt32 = 0x6b04_65a4

    @Test func bridgeCreationMatchesIproute2() {
        // ip link add name swtst0 type bridge
        let expected = Self.hex("3c 00 00 00 10 00 05 06 a4 65 04 6b 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 0b 00 03 00 73 77 74 73 74 30 00 00 10 00 12 00 0a 00 01 00 62 72 69 64 67 65 00 00")
        #expect(Netlink.addBridgeMessage("swtst0").encoded(sequence: seq) == expected)
    }

    @Test func vethCreationMatchesIproute2() {
        // ip link add swv0 type veth peer name swv1
        let expected = Self.hex("5c 00 00 00 10 00 05 06 a4 65 04 6b 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 09 00 03 00 73 77 76 30 00 00 00 00 30 00 12 00 08 00 01 00 76 65 74 68 24 00 02 00 20 00 01 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 09 00 03 00 73 77 76 31 00 00 00 00")
        #expect(Netlink.addVethMessage("swv0", peer: "swv1", peerNamespaceFD: nil).encoded(sequence: seq) == expected)
    }

    @Test func linkSettingsMatchIproute2() {
        // ip link set dev swv0 up (index 24)
        #expect(Netlink.setLinkMessage(index: 24, up: true).encoded(sequence: seq)
                == Self.hex("20 00 00 00 10 00 05 00 a4 65 04 6b 00 00 00 00 00 00 00 00 18 00 00 00 01 00 00 00 01 00 00 00"))
        // ip link set dev swv0 master swtst0 (22)
        #expect(Netlink.setLinkMessage(index: 24, master: 22).encoded(sequence: 0x6b04_65a5)
                == Self.hex("28 00 00 00 10 00 05 00 a5 65 04 6b 00 00 00 00 00 00 00 00 18 00 00 00 00 00 00 00 00 00 00 00 08 00 0a 00 16 00 00 00"))
    }

    @Test func addressAndRouteMatchIproute2() {
        // ip addr add 10.99.0.1/24 brd + dev swtst0 (22)
        #expect(Netlink.addAddressMessage(index: 22, address: IPv4Address("10.99.0.1")!, prefix: 24).encoded(sequence: 0x6b04_65a5)
                == Self.hex("30 00 00 00 14 00 05 06 a5 65 04 6b 00 00 00 00 02 18 00 00 16 00 00 00 08 00 02 00 0a 63 00 01 08 00 01 00 0a 63 00 01 08 00 04 00 0a 63 00 ff"))
        // ip route add default via 10.99.0.1 dev lo (1)
        #expect(Netlink.addDefaultRouteMessage(gateway: IPv4Address("10.99.0.1")!, index: 1).encoded(sequence: 0x6b04_65a5)
                == Self.hex("2c 00 00 00 18 00 05 06 a5 65 04 6b 00 00 00 00 02 00 00 00 fe 03 00 01 00 00 00 00 08 00 05 00 0a 63 00 01 08 00 04 00 01 00 00 00"))
    }

    @Test func attributesParseBack() {
        var m = NetlinkMessage(type: 16, flags: 0)
        m.ifinfo(index: 7)
        m.attribute(3, string: "eth0")
        m.nested(18) { $0.attribute(1, kind: "veth") }
        let attrs = NetlinkReply.attributes(ArraySlice(m.payload.dropFirst(16)))
        #expect(NetlinkReply.string(attrs[3]) == "eth0")
        #expect(NetlinkReply.string(NetlinkReply.attributes(attrs[18]!)[1]) == "veth")
    }

    @Test func addressesAndSubnets() {
        let n = IPv4Network("172.18.5.7/16")!
        #expect(n.description == "172.18.0.0/16")
        #expect(n.host(1).description == "172.18.0.1")
        #expect(n.broadcast.description == "172.18.255.255")
        #expect(n.contains(IPv4Address("172.18.200.1")!))
        #expect(!n.contains(IPv4Address("172.19.0.1")!))
        #expect(n.overlaps(IPv4Network("172.18.3.0/24")!))
        #expect(!n.overlaps(IPv4Network("172.19.0.0/16")!))
        #expect(IPv4Address("256.1.1.1") == nil && IPv4Address("1.2.3") == nil)
    }
}

/// The same operations against the kernel, in a network namespace of the test's own.
@Suite(.requiresRoot, .serialized) struct NetlinkKernelTests {
    @Test func bridgeVethAddressRouteInAPrivateNamespace() throws {
        let ns = try TestNetworkNamespace()
        let nl = try Netlink(namespaceFD: ns.fd)
        try nl.addBridge("swbr0")
        let bridge = try #require(try nl.link(named: "swbr0"))
        #expect(bridge.kind == "bridge")
        try nl.addVeth("swv0", peer: "swv1", peerNamespaceFD: nil)
        let v0 = try #require(try nl.link(named: "swv0"))
        let v1 = try #require(try nl.link(named: "swv1"))
        #expect(v0.kind == "veth" && v1.kind == "veth")
        try nl.setLink(v0.index, up: true, master: bridge.index)
        try nl.setLink(bridge.index, up: true)
        try nl.addAddress(bridge.index, IPv4Address("10.77.0.1")!, prefix: 24)
        try nl.setLink(v1.index, name: "eth0")
        try nl.setLink(v1.index, up: true)
        try nl.addAddress(v1.index, IPv4Address("10.77.0.2")!, prefix: 24)
        #expect(try nl.link(named: "eth0")?.index == v1.index)
        #expect(try nl.links().first { $0.index == v0.index }?.master == bridge.index)
        let addresses = try nl.addresses()
        #expect(addresses.contains(AddressInfo(index: bridge.index, address: IPv4Address("10.77.0.1")!, prefix: 24)))
        #expect(try nl.routes().contains { $0.destination.description == "10.77.0.0/24" })
        #expect(throws: NetlinkError.self) { try nl.addBridge("swbr0") }
        try nl.deleteLink(v0.index)
        #expect(try nl.link(named: "eth0") == nil, "deleting one end removes the pair")
    }

    func ipIn(_ ns: TestNetworkNamespace, _ arguments: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
        p.arguments = ["--net=/proc/\(getpid())/fd/\(ns.fd)", "ip"] + arguments
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "ip \(arguments.joined(separator: " "))")
        return String(decoding: data, as: UTF8.self)
    }

    /// The supervisor's announcement replaces a neighbour's cached MAC for the address at once.
    @Test func aGratuitousARPReplacesACachedAddress() throws {
        // The client's end and the container's end, each in a namespace of its own (an address local
        // to the receiver would not count as an announcement).
        let client = try TestNetworkNamespace()
        let container = try TestNetworkNamespace()
        let nc = try Netlink(namespaceFD: client.fd)
        let mac: [UInt8] = [0x02, 0x00, 0x00, 0x00, 0xbb, 0x02]
        try nc.addVeth("swa1", peer: "swa0", peerNamespaceFD: container.fd, peerMAC: mac)
        let ni = try Netlink(namespaceFD: container.fd)
        let a = try #require(try ni.link(named: "swa0"))
        let b = try #require(try nc.link(named: "swa1"))
        try ni.addAddress(a.index, IPv4Address("10.78.0.2")!, prefix: 24)
        try nc.addAddress(b.index, IPv4Address("10.78.0.1")!, prefix: 24)
        try ni.setLink(a.index, up: true)
        try nc.setLink(b.index, up: true)
        // What the client cached for the address: the previous container's MAC, confirmed just now.
        _ = try ipIn(client, ["neigh", "replace", "10.78.0.2", "lladdr", "02:00:00:00:bb:01", "dev", "swa1", "nud", "reachable"])
        #expect(try ipIn(client, ["neigh", "show", "10.78.0.2"]).contains("02:00:00:00:bb:01"))
        let socket = try Sys.arpSocket(namespace: container.fd, interface: "swa0")
        defer { Sys.close(socket.fd) }
        #expect(socket.index == a.index, "the index is the one inside the namespace")
        try Sys.broadcastARP(socket.fd, index: socket.index, ARP.announcement(mac: mac, address: IPv4Address("10.78.0.2")!))
        // Delivery across the veth is immediate, but asynchronous: look a few times within 100 ms.
        var seen = ""
        for _ in 0..<50 {
            seen = try ipIn(client, ["neigh", "show", "10.78.0.2"])
            if seen.contains("02:00:00:00:bb:02") { break }
            usleep(2_000)
        }
        #expect(seen.contains("lladdr 02:00:00:00:bb:02"), "\(seen)")
    }

    @Test func announcementBytes() {
        let p = ARP.announcement(mac: [0x02, 0x42, 0x0a, 0x00, 0x00, 0x05], address: IPv4Address("10.0.0.5")!)
        #expect(p == [0, 1, 8, 0, 6, 4, 0, 1, 0x02, 0x42, 0x0a, 0, 0, 5, 10, 0, 0, 5, 0, 0, 0, 0, 0, 0, 10, 0, 0, 5])
    }

    /// `body` on a thread of its own inside the namespace (a thread's network namespace is its own:
    /// sockets it opens and programs it spawns are in it); what it returns.
    func onThread<T: Sendable>(in ns: TestNetworkNamespace, _ body: @escaping @Sendable () -> T) throws -> T {
        let box = ThreadResult<T>()
        let done = DispatchSemaphore(value: 0)
        let fd = ns.fd
        let thread = Thread {
            defer { done.signal() }
            guard (try? Sys.enterNamespaces(fd, .network)) != nil else { return }
            box.entered = true
            box.value = body()
        }
        thread.start()
        done.wait()
        guard box.entered, let value = box.value else { throw SystemError("setns") }
        return value
    }

    /// The firewall fingerprint: the same reading twice while nothing changes, another after a rule
    /// is added or a chain flushed, and (legacy tables) not moved by the counters traffic advances.
    /// On every backend this kernel takes (user-mode Linux has no nf_tables filter table: legacy there).
    @Test func theFirewallFingerprintChangesWithTheRulesOnly() throws {
        struct Readings: Sendable {
            var refused: String?
            var first: String?, again: String?, afterTraffic: String?, added: String?, flushed: String?
        }
        let ns = try TestNetworkNamespace()
        let lo = try #require(try Netlink(namespaceFD: ns.fd).link(named: "lo"))
        try Netlink(namespaceFD: ns.fd).setLink(lo.index, up: true)
        var usable: [Firewall.Backend] = []
        for backend in Firewall.Backend.allCases where backend.programs != nil {
            let r = try onThread(in: ns) { () -> Readings in
                var r = Readings()
                do { try Firewall.restore("*filter\n:SWC-FP-TEST - [0:0]\n-A OUTPUT -o lo -j ACCEPT\nCOMMIT\n", backend) } catch {
                    r.refused = "\(error)"
                    return r
                }
                r.first = Firewall.fingerprint(backend)
                r.again = Firewall.fingerprint(backend)
                // Traffic through the OUTPUT rule advances its counters.
                let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
                var a = sockaddr_in()
                a.sin_family = sa_family_t(AF_INET)
                a.sin_port = UInt16(9).bigEndian
                a.sin_addr.s_addr = inet_addr("127.0.0.1")
                for _ in 0..<10 {
                    _ = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, "x", 1, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
                }
                close(fd)
                r.afterTraffic = Firewall.fingerprint(backend)
                try? Firewall.restore("*filter\n-A SWC-FP-TEST -j RETURN\nCOMMIT\n", backend)
                r.added = Firewall.fingerprint(backend)
                try? Firewall.restore("*filter\n-F SWC-FP-TEST\nCOMMIT\n", backend)
                r.flushed = Firewall.fingerprint(backend)
                return r
            }
            if r.refused != nil { continue }   // this kernel cannot take it
            usable.append(backend)
            #expect(r.first != nil, "\(backend)")
            #expect(r.again == r.first, "\(backend): nothing changed")
            #expect(r.afterTraffic == r.first, "\(backend): counters are not rules")
            #expect(r.added != nil && r.added != r.first, "\(backend): a rule added")
            #expect(r.flushed != nil && r.flushed != r.added, "\(backend): a chain flushed")
            if backend == .legacy { #expect(r.flushed == r.first, "legacy: the tables as they were read the same again") }
        }
        #expect(!usable.isEmpty, "one backend at least programs this kernel")
    }
}

/// What a thread of a test hands back (written before the semaphore it signals, read after).
final class ThreadResult<T>: @unchecked Sendable {
    var value: T?
    var entered = false
}
