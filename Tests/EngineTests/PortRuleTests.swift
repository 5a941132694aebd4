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
}
