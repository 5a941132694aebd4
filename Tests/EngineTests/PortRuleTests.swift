import Testing
@testable import Engine

/// A published port's rules as text (`Firewall+Ports`): found again by the address they lead to.
@Suite struct PortRuleTests {
    @Test func everyRuleOfAContainerIsFoundByItsAddressAndNoneOfAnother() throws {
        let subnets = [try #require(IPv4Network("172.17.0.0/16")), try #require(IPv4Network("172.18.0.0/16"))]
        let a = try #require(IPv4Address("172.17.0.3")), b = try #require(IPv4Address("172.17.0.4"))
        let ruleA = Firewall.PortRule(hostAddress: IPv4Address("127.0.0.1"), hostPort: 8080, proto: "tcp", address: a, port: 80, subnets: subnets)
        let ruleB = Firewall.PortRule(hostAddress: nil, hostPort: 8081, proto: "udp", address: b, port: 7, subnets: subnets)
        #expect(ruleA.nat.count == 4 && ruleA.filter.count == 2)
        #expect(ruleA.nat[0] == "-A SWCOMPOSE-PORTS ! -s 172.17.0.3/32 -d 127.0.0.1/32 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.3:80")
        let saved = (["*nat"] + ruleA.nat + ruleB.nat + ["COMMIT", "*filter"] + ruleA.filter + ruleB.filter + ["COMMIT"]).joined(separator: "\n")
        #expect(Firewall.stale(saved, address: a) == ruleA.nat + ruleA.filter)
        #expect(Firewall.stale(saved, address: b) == ruleB.nat + ruleB.filter)
        #expect(Firewall.stale(saved, address: try #require(IPv4Address("172.18.0.3"))).isEmpty)
        for line in ruleA.nat + ruleA.filter { #expect(Firewall.targetAddress(line) == a, "\(line)") }
    }

    /// The base chains go in the transaction that removes the last network's chains, never while
    /// another network's chain or masquerade remains; in the filter table they are flushed before the
    /// network's chains are removed and removed after.
    @Test func theBaseChainsGoWithTheLastNetworkOnly() {
        let one = """
            :SWC-F-aaaaaaaaaaaa - [0:0]
            :SWCOMPOSE-FORWARD - [0:0]
            :SWCOMPOSE-INPUT - [0:0]
            -A INPUT -j SWCOMPOSE-INPUT
            -A FORWARD -j SWCOMPOSE-FORWARD
            -A SWCOMPOSE-FORWARD -j SWC-F-aaaaaaaaaaaa
            :SWCOMPOSE-POSTROUTING - [0:0]
            -A POSTROUTING -j SWCOMPOSE-POSTROUTING
            -A SWCOMPOSE-POSTROUTING -s 172.18.0.0/16 ! -o sw-aaaaaaaaaaaa -j MASQUERADE
            """
        let masquerade = "-A SWCOMPOSE-POSTROUTING -s 172.18.0.0/16 ! -o sw-aaaaaaaaaaaa -j MASQUERADE"
        let last = Firewall.baseRemoval(one, without: ["SWC-F-aaaaaaaaaaaa", "SWC-I-aaaaaaaaaaaa"], masquerade: masquerade)
        #expect(last.unhook == "-D FORWARD -j SWCOMPOSE-FORWARD\n-F SWCOMPOSE-FORWARD\n-D INPUT -j SWCOMPOSE-INPUT\n-F SWCOMPOSE-INPUT\n")
        #expect(last.remove == "-X SWCOMPOSE-FORWARD\n-X SWCOMPOSE-INPUT\n")
        #expect(last.nat == "-D POSTROUTING -j SWCOMPOSE-POSTROUTING\n-F SWCOMPOSE-POSTROUTING\n-X SWCOMPOSE-POSTROUTING\n")
        // Another network's chain, or only its masquerade: nothing of the base goes.
        let two = one + "\n:SWC-F-bbbbbbbbbbbb - [0:0]"
        #expect(Firewall.baseRemoval(two, without: ["SWC-F-aaaaaaaaaaaa"], masquerade: masquerade) == ("", "", ""))
        let otherMasquerade = one + "\n-A SWCOMPOSE-POSTROUTING -s 172.19.0.0/16 ! -o sw-bbbbbbbbbbbb -j MASQUERADE"
        #expect(Firewall.baseRemoval(otherMasquerade, without: ["SWC-F-aaaaaaaaaaaa"], masquerade: masquerade) == ("", "", ""))
        // Not asked to leave this network out: its own chain keeps the base.
        #expect(Firewall.baseRemoval(one) == ("", "", ""))
    }
}
