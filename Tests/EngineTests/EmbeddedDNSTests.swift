#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import Engine

/// The embedded resolver's answers (libnetwork's rules) and its port redirect, without a kernel.
@Suite struct EmbeddedDNSTests {
    func record(_ name: String, _ subnet: String, `internal`: Bool = false, _ endpoints: [(String, String, [String])]) -> NetworkRecord {
        var r = NetworkRecord(id: name, name: name, created: "", labels: [:], `internal`: `internal`, subnet: IPv4Network(subnet)!,
                              gateway: IPv4Network(subnet)!.host(1), ipRange: nil, bridge: "br-" + name)
        for (id, address, names) in endpoints {
            r.endpoints[id] = Endpoint(containerID: id, address: IPv4Address(address)!, names: names, interface: "eth0")
        }
        return r
    }

    var front: NetworkRecord {
        record("p_front", "10.88.1.0/24", [("w", "10.88.1.3", ["web", "p-web-1", "aaaaaaaaaaaa"]),
                                           ("q", "10.88.1.4", ["probe", "p-probe-1", "cccccccccccc", "prober", "p-front"])])
    }
    var back: NetworkRecord {
        record("p_back", "10.88.2.0/24", [("d", "10.88.2.2", ["db", "p-db-1", "bbbbbbbbbbbb", "database"]),
                                          ("w", "10.88.2.3", ["web", "p-web-1", "aaaaaaaaaaaa"]),
                                          ("q", "10.88.2.4", ["probe", "p-probe-1", "cccccccccccc", "prober", "p-back"])])
    }

    @Test func networksAreAskedInOrderAndTheFirstThatKnowsTheNameAnswers() {
        let view = ContainerNameResolver(networks: [back, front], links: [:])
        // Its own name, on both networks: the first network's address.
        #expect(view.addresses(of: "web") == [IPv4Address("10.88.2.3")!])
        #expect(view.addresses(of: "p-front") == [IPv4Address("10.88.1.4")!])
        #expect(view.addresses(of: "P-Back.") == [IPv4Address("10.88.2.4")!])
        #expect(view.addresses(of: "nosuchname") == nil)
        // name.network asks that network only.
        #expect(view.addresses(of: "web.p_front") == [IPv4Address("10.88.1.3")!])
        #expect(view.addresses(of: "db.p_front") == nil)
    }

    @Test func linkAliasesResolveOnlyForTheLinkingContainerAndShadowNames() {
        let linking = ContainerNameResolver(networks: [back, front], links: ["sql": "p-db-1", "web": "p-db-1"])
        #expect(linking.addresses(of: "sql") == [IPv4Address("10.88.2.2")!])
        // An alias is looked up before names, and a name that is an alias is not looked up as a name.
        #expect(linking.addresses(of: "web") == [IPv4Address("10.88.2.2")!])
        let other = ContainerNameResolver(networks: [front], links: ["sql": "p-db-1"])
        #expect(other.addresses(of: "sql") == nil)
        #expect(ContainerNameResolver(networks: [back], links: [:]).addresses(of: "sql") == nil)
    }

    @Test func reverseLookupsNameTheContainerAndItsNetwork() {
        let view = ContainerNameResolver(networks: [back, front], links: [:])
        #expect(view.name(of: IPv4Address("10.88.2.2")!) == "p-db-1.p_back")
        #expect(view.name(of: IPv4Address("10.88.1.3")!) == "p-web-1.p_front")
        #expect(view.name(of: IPv4Address("10.88.2.99")!) == nil)
        #expect(view.name(of: IPv4Address("8.8.8.8")!) == nil)
    }

    @Test func theRedirectRewritesOnlyPort53Of127_0_0_11() {
        let p = EmbeddedDNS.rewrite(from: 53, to: 36824)
        // bpf_sock_addr: user_ip4 at 4, user_port at 24, both in network order.
        #expect(p[0] == EBPF.Instruction(code: EBPF.ldxW, dst: 2, src: 1, offset: 4))
        #expect(p[1].immediate == 0x0b00_007f)
        #expect(p[3].immediate == 0x3500)
        #expect(p[4].immediate == Int32(UInt16(36824).bigEndian))
        #expect(p[5] == EBPF.Instruction(code: EBPF.stxW, dst: 1, src: 2, offset: 24))
        // Both conditional jumps land on "allow; exit".
        for i in [1, 3] { #expect(i + 1 + Int(p[i].offset) == 6) }
        #expect(p[6] == EBPF.Instruction(code: EBPF.movImm64, dst: 0, immediate: 1) && p[7].code == EBPF.exit)
        #expect(p.flatMap(\.bytes).count == 64)
    }
}

/// The syslog and journal forms of a log line, byte for byte.
@Suite struct LogForwardFormatTests {
    let time = timespec(tv_sec: 1_733_572_805, tv_nsec: 123_456_789)

    @Test func syslogForms() {
        setenv("TZ", "UTC", 1)
        tzset()
        #expect(LogForward.syslogMessage("hi", stderr: false, facility: 3, format: "", tag: "abc", hostname: "vm", pid: 7, time: time)
                == "<30>Dec  7 12:00:05 abc[7]: hi\n")
        #expect(LogForward.syslogMessage("hi", stderr: true, facility: 16, format: "rfc3164", tag: "abc", hostname: "vm", pid: 7, time: time)
                == "<131>Dec  7 12:00:05 vm abc[7]: hi\n")
        #expect(LogForward.syslogMessage("hi", stderr: false, facility: 3, format: "rfc5424", tag: "abc", hostname: "vm", pid: 7, time: time)
                == "<30>1 2024-12-07T12:00:05Z vm abc 7 abc - hi\n")
        #expect(LogForward.syslogMessage("hi", stderr: false, facility: 3, format: "rfc5424micro", tag: "abc", hostname: "vm", pid: 7, time: time)
                == "<30>1 2024-12-07T12:00:05.123456Z vm abc 7 abc - hi\n")
    }

    @Test func journalEntriesUseTheBinaryFormForValuesWithNewlines() {
        #expect(LogForward.journalEntry([("MESSAGE", "one"), ("PRIORITY", "6")]) == Array("MESSAGE=one\nPRIORITY=6\n".utf8))
        #expect(LogForward.journalEntry([("MESSAGE", "a\nb")]) == Array("MESSAGE\n".utf8) + [3, 0, 0, 0, 0, 0, 0, 0] + Array("a\nb\n".utf8))
    }
}

@Suite struct SELinuxLabelTests {
    @Test func sharedAndPrivateLabels() {
        #expect(SELinux.label(shared: true, containerID: "abc") == "system_u:object_r:container_file_t:s0")
        let own = SELinux.label(shared: false, containerID: String(repeating: "ab", count: 32))
        #expect(own.hasPrefix("system_u:object_r:container_file_t:s0:c"))
        let categories = own.split(separator: ":").last!.split(separator: ",").map { Int($0.dropFirst())! }
        #expect(categories.count == 2 && categories[0] < categories[1] && categories[1] < 1024)
        #expect(own == SELinux.label(shared: false, containerID: String(repeating: "ab", count: 32)), "stable for a container")
    }
}
