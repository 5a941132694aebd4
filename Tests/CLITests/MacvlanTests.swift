import Foundation
import Testing
import TestSupport
import Engine

/// Whether this kernel makes links of a kind (macvlan, ipvlan, dummy are modules some kernels lack).
func kernelMakes(_ kind: String) -> Bool {
    let name = "swcprobe\(UInt16.random(in: 0...9999))"
    var arguments = ["link", "add", name, "type", kind]
    let parent = name + "p"
    if kind == "macvlan" || kind == "ipvlan" {
        // These hang from a parent link.
        _ = try? Process.output("/sbin/ip", ["link", "add", parent, "type", "veth", "peer", "name", parent + "x"])
        arguments = ["link", "add", "link", parent, name, "type", kind]
    }
    _ = try? Process.output("/sbin/ip", arguments)
    let made = FileManager.default.fileExists(atPath: "/sys/class/net/\(name)")
    _ = try? Process.output("/sbin/ip", ["link", "del", name])
    _ = try? Process.output("/sbin/ip", ["link", "del", parent])
    return made
}

/// A veth pair on the host, one end the parent of the networks under test (no traffic leaves the host).
final class ParentLink {
    let name = "swcp\(UInt16.random(in: 0...9999))"
    init() throws {
        _ = try Process.output("/sbin/ip", ["link", "add", name, "type", "veth", "peer", "name", name + "x"])
        // Both ends up: a veth without its peer has no carrier, and neither have its macvlan children.
        _ = try Process.output("/sbin/ip", ["link", "set", name, "up"])
        _ = try Process.output("/sbin/ip", ["link", "set", name + "x", "up"])
    }
    deinit { _ = try? Process.output("/sbin/ip", ["link", "del", name]) }
    var exists: Bool { FileManager.default.fileExists(atPath: "/sys/class/net/\(name)") }
}

let kernelHasMacvlan = Host.isRoot && kernelMakes("macvlan")
let kernelHasIpvlanAndDummy = Host.isRoot && kernelMakes("dummy")

@Suite(.requiresRoot, .requiresBusybox, .serialized) struct MacvlanTests {
    @Test(.enabled(if: kernelHasMacvlan, "the kernel has no macvlan links"))
    func macvlanContainersGetInterfacesOfTheirOwnOnTheParent() throws {
        let parent = try ParentLink()
        let p = try ProjectFixture("macvlan", compose: """
            services:
              a:
                image: swcompose/busybox
                networks: {lan: {ipv4_address: 10.207.0.10}}
                command: ["sleep", "1000"]
              b:
                image: swcompose/busybox
                networks: [lan]
                command: ["sleep", "1000"]
            networks:
              lan:
                driver: macvlan
                driver_opts: {parent: \(parent.name), macvlan_mode: bridge}
                ipam: {config: [{subnet: 10.207.0.0/24, gateway: 10.207.0.1}]}
            """)
        #expect(try p.run(["up", "-d"]).status == 0)
        let link = try p.run(["exec", "-T", "a", "cat", "/sys/class/net/eth0/address"]).stdout
        #expect(link == "02:42:0a:cf:00:0a\n", "a MAC derived from its address, as dockerd's")
        #expect(try p.run(["exec", "-T", "a", "ip", "route"]).stdout.contains("default via 10.207.0.1 dev eth0"))
        #expect(try p.run(["exec", "-T", "b", "ping", "-c", "1", "-W", "2", "a"]).status == 0, "by name, over the parent")
        let record = try NetworkStore(root: StateRoot(path: p.root)).inspect("\(p.project)_lan")
        #expect(record.driver == "macvlan" && record.bridge.isEmpty)
        #expect(try p.run(["down", "-t", "0"]).status == 0)
        #expect(parent.exists, "the parent is the host's: left alone")
        #expect(NetworkStore(root: StateRoot(path: p.root)).list().isEmpty)
    }

    @Test(.enabled(if: kernelHasMacvlan, "the kernel has no macvlan links"))
    func portsOnAMacvlanNetworkAreRefused() throws {
        let parent = try ParentLink()
        let p = try ProjectFixture("macports", compose: """
            services:
              web:
                image: swcompose/busybox
                networks: [lan]
                ports: ["8080:80"]
            networks:
              lan: {driver: macvlan, driver_opts: {parent: \(parent.name)}, ipam: {config: [{subnet: 10.207.1.0/24}]}}
            """)
        let up = try p.run(["up", "-d"])
        #expect(up.status == 1)
        #expect(up.stderr.contains("compose.yaml:5:12: error: ports are published through a bridge"), "\(up.stderr)")
        #expect(NetworkStore(root: StateRoot(path: p.root)).list().isEmpty)
    }

    @Test(.enabled(if: kernelHasIpvlanAndDummy && kernelMakes("ipvlan"), "the kernel has no ipvlan or dummy links"))
    func ipvlanWithoutAParentHangsFromADummyLinkOfItsOwn() throws {
        let p = try ProjectFixture("ipvlan", compose: """
            services:
              a:
                image: swcompose/busybox
                networks: [l3]
                command: ["sleep", "1000"]
              b:
                image: swcompose/busybox
                networks: [l3]
                command: ["sleep", "1000"]
            networks:
              l3: {driver: ipvlan, driver_opts: {ipvlan_mode: l3}, ipam: {config: [{subnet: 10.207.2.0/24}]}}
            """)
        #expect(try p.run(["up", "-d"]).status == 0)
        let record = try NetworkStore(root: StateRoot(path: p.root)).inspect("\(p.project)_l3")
        let dummy = try #require(record.createdParent)
        #expect(FileManager.default.fileExists(atPath: "/sys/class/net/\(dummy)"))
        #expect(try p.run(["exec", "-T", "a", "ip", "route"]).stdout.contains("default dev eth0"), "layer 3: no gateway")
        #expect(try p.run(["exec", "-T", "b", "ping", "-c", "1", "-W", "2", "a"]).status == 0)
        #expect(try p.run(["down", "-t", "0"]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: "/sys/class/net/\(dummy)"), "the link made for it goes with it")
    }
}
