#if canImport(Glibc)
import Glibc
#endif

/// rtnetlink messages, built and parsed in Swift (no `ip` subprocesses): links (bridges, veth pairs),
/// addresses and routes.
public struct NetlinkMessage: Equatable {
    public var type: UInt16
    public var flags: UInt16
    public var payload: [UInt8] = []

    public init(type: UInt16, flags: UInt16) {
        self.type = type
        self.flags = flags
    }

    // Message types and flags (linux/rtnetlink.h, linux/netlink.h).
    public static let newLink: UInt16 = 16, delLink: UInt16 = 17, getLink: UInt16 = 18
    public static let newAddr: UInt16 = 20, delAddr: UInt16 = 21, getAddr: UInt16 = 22
    public static let newRoute: UInt16 = 24, delRoute: UInt16 = 25, getRoute: UInt16 = 26
    public static let request: UInt16 = 0x1, multi: UInt16 = 0x2, ack: UInt16 = 0x4
    public static let dump: UInt16 = 0x300, replace: UInt16 = 0x100, exclusive: UInt16 = 0x200, create: UInt16 = 0x400
    static let error: UInt16 = 2, done: UInt16 = 3

    /// The bytes on the wire, with `seq` and `pid` in the header.
    public func encoded(sequence: UInt32, pid: UInt32 = 0) -> [UInt8] {
        var out: [UInt8] = []
        NetlinkMessage.append32(&out, UInt32(16 + payload.count))
        NetlinkMessage.append16(&out, type)
        NetlinkMessage.append16(&out, flags)
        NetlinkMessage.append32(&out, sequence)
        NetlinkMessage.append32(&out, pid)
        return out + payload
    }

    static func append16(_ b: inout [UInt8], _ v: UInt16) { b += [UInt8(v & 0xff), UInt8(v >> 8)] }
    static func append32(_ b: inout [UInt8], _ v: UInt32) {
        b += [UInt8(v & 0xff), UInt8(v >> 8 & 0xff), UInt8(v >> 16 & 0xff), UInt8(v >> 24)]
    }

    static func pad(_ b: inout [UInt8]) { while b.count % 4 != 0 { b.append(0) } }

    /// `struct ifinfomsg`.
    public mutating func ifinfo(family: UInt8 = 0, index: Int32 = 0, flags: UInt32 = 0, change: UInt32 = 0) {
        payload += [family, 0, 0, 0]
        Self.append32(&payload, UInt32(bitPattern: index))
        Self.append32(&payload, flags)
        Self.append32(&payload, change)
    }

    /// `struct ifaddrmsg`.
    public mutating func ifaddr(family: UInt8, prefix: UInt8, scope: UInt8 = 0, index: Int32) {
        payload += [family, prefix, 0, scope]
        Self.append32(&payload, UInt32(bitPattern: index))
    }

    /// `struct rtmsg`.
    public mutating func rtmsg(family: UInt8, destinationLength: UInt8, table: UInt8 = 254, protocol proto: UInt8 = 3,
                               scope: UInt8 = 0, type: UInt8 = 1) {
        payload += [family, destinationLength, 0, 0, table, proto, scope, type]
        Self.append32(&payload, 0)
    }

    public mutating func attribute(_ type: UInt16, _ data: [UInt8]) {
        Self.append16(&payload, UInt16(4 + data.count))
        Self.append16(&payload, type)
        payload += data
        Self.pad(&payload)
    }

    public mutating func attribute(_ type: UInt16, string: String) { attribute(type, Array(string.utf8) + [0]) }
    /// A string without its NUL, as iproute2 writes IFLA_INFO_KIND.
    public mutating func attribute(_ type: UInt16, kind: String) { attribute(type, Array(kind.utf8)) }
    public mutating func attribute(_ type: UInt16, u16: UInt16) {
        var data: [UInt8] = []
        NetlinkMessage.append16(&data, u16)
        attribute(type, data)
    }

    public mutating func attribute(_ type: UInt16, u32: UInt32) {
        var b: [UInt8] = []
        Self.append32(&b, u32)
        attribute(type, b)
    }

    /// A nested attribute; `body` appends the inner ones.
    public mutating func nested(_ type: UInt16, _ body: (inout NetlinkMessage) -> Void) {
        let start = payload.count
        Self.append16(&payload, 0)
        Self.append16(&payload, type)
        body(&self)
        let length = UInt16(payload.count - start)
        payload[start] = UInt8(length & 0xff)
        payload[start + 1] = UInt8(length >> 8)
        Self.pad(&payload)
    }
}

/// One parsed message from the kernel.
public struct NetlinkReply {
    public var type: UInt16
    public var flags: UInt16
    public var sequence: UInt32
    public var body: ArraySlice<UInt8>

    /// Attributes after a fixed header of `headerLength` bytes.
    public func attributes(after headerLength: Int) -> [UInt16: ArraySlice<UInt8>] {
        Self.attributes(body.dropFirst(headerLength))
    }

    public static func attributes(_ data: ArraySlice<UInt8>) -> [UInt16: ArraySlice<UInt8>] {
        var result: [UInt16: ArraySlice<UInt8>] = [:]
        var i = data.startIndex
        while i + 4 <= data.endIndex {
            let length = Int(UInt16(data[i]) | UInt16(data[i + 1]) << 8)
            let type = (UInt16(data[i + 2]) | UInt16(data[i + 3]) << 8) & 0x3fff
            guard length >= 4, i + length <= data.endIndex else { break }
            result[type] = data[(i + 4)..<(i + length)]
            i += (length + 3) & ~3
        }
        return result
    }

    static func u32(_ d: ArraySlice<UInt8>?, at offset: Int = 0) -> UInt32? {
        guard let d, d.count >= offset + 4 else { return nil }
        let s = d.startIndex + offset
        return UInt32(d[s]) | UInt32(d[s + 1]) << 8 | UInt32(d[s + 2]) << 16 | UInt32(d[s + 3]) << 24
    }

    static func string(_ d: ArraySlice<UInt8>?) -> String? {
        d.map { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
    }
}

public struct NetlinkError: Error, CustomStringConvertible, Sendable {
    public var operation: String
    public var code: Int32

    public var description: String { "\(operation): \(String(cString: strerror(code)))" }
}

/// A NETLINK_ROUTE socket, optionally opened inside another network namespace (or, for nf_tables'
/// generation, a NETLINK_NETFILTER one).
public final class Netlink {
    let fd: Int32
    var sequence: UInt32 = 1

    /// In this process's network namespace, or in the one `namespaceFD` refers to.
    public init(namespaceFD: Int32 = -1) throws(SystemError) {
        fd = try Sys.netlinkRouteSocket(namespace: namespaceFD)
    }

    /// A socket of another netlink protocol (`NETLINK_NETFILTER` for nf_tables), in this namespace.
    public init(protocol: Int32) throws(SystemError) {
        fd = try Sys.netlinkSocket(protocol: `protocol`)
    }

    /// In the network namespace of process `pid`.
    public convenience init(pid: Int32) throws(SystemError) {
        let ns = try Sys.open("/proc/\(pid)/ns/net", O_RDONLY)
        defer { Sys.close(ns) }
        try self.init(namespaceFD: ns)
    }

    deinit { Sys.close(fd) }

    /// Sends a request and collects the replies until the kernel's acknowledgement (or the end of a dump).
    @discardableResult
    public func request(_ message: NetlinkMessage, _ operation: @autoclosure () -> String) throws(NetlinkError) -> [NetlinkReply] {
        sequence &+= 1
        let seq = sequence
        let bytes = message.encoded(sequence: seq)
        var failure: SystemError?
        bytes.withUnsafeBytes { b in
            do throws(SystemError) { try Sys.write(fd, b) } catch { failure = error }
        }
        if let failure { throw NetlinkError(operation: operation(), code: failure.code) }
        var replies: [NetlinkReply] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n: Int
            do { n = try Sys.read(fd, into: &buffer) } catch { throw NetlinkError(operation: operation(), code: error.code) }
            var i = 0
            while i + 16 <= n {
                let length = Int(NetlinkReply.u32(buffer[i..<(i + 4)])!)
                guard length >= 16, i + length <= n else { break }
                let type = UInt16(buffer[i + 4]) | UInt16(buffer[i + 5]) << 8
                let flags = UInt16(buffer[i + 6]) | UInt16(buffer[i + 7]) << 8
                let rseq = NetlinkReply.u32(buffer[(i + 8)..<(i + 12)])!
                let body = buffer[(i + 16)..<(i + length)]
                i += (length + 3) & ~3
                guard rseq == seq else { continue }
                if type == NetlinkMessage.error {
                    let code = Int32(bitPattern: NetlinkReply.u32(body) ?? 0)
                    if code != 0 { throw NetlinkError(operation: operation(), code: -code) }
                    return replies
                }
                if type == NetlinkMessage.done { return replies }
                replies.append(NetlinkReply(type: type, flags: flags, sequence: rseq, body: ArraySlice(Array(body))))
                if flags & NetlinkMessage.multi == 0 && message.flags & NetlinkMessage.ack == 0 { return replies }
            }
        }
    }
}

// MARK: - Operations

public struct LinkInfo: Sendable, Equatable {
    public var index: Int32
    public var name: String
    public var kind: String
    public var master: Int32
    public var up: Bool
    /// Its hardware address (IFLA_ADDRESS); empty when it has none.
    public var mac: [UInt8] = []
}

public struct AddressInfo: Sendable, Equatable {
    public var index: Int32
    public var address: IPv4Address
    public var prefix: Int
}

public struct RouteInfo: Sendable, Equatable {
    public var destination: IPv4Network
    public var gateway: IPv4Address?
    public var outputIndex: Int32
}

extension Netlink {
    static let IFLA_ADDRESS: UInt16 = 1, IFLA_IFNAME: UInt16 = 3, IFLA_MTU: UInt16 = 4, IFLA_MASTER: UInt16 = 10
    static let IFLA_LINKINFO: UInt16 = 18, IFLA_NET_NS_FD: UInt16 = 28, IFLA_INFO_KIND: UInt16 = 1
    static let IFLA_INFO_DATA: UInt16 = 2, VETH_INFO_PEER: UInt16 = 1
    static let IFLA_AF_SPEC: UInt16 = 26, IFLA_INET_CONF: UInt16 = 1, IPV4_DEVCONF_ARP_NOTIFY: UInt16 = 22
    static let IFA_ADDRESS: UInt16 = 1, IFA_LOCAL: UInt16 = 2, IFA_BROADCAST: UInt16 = 4
    static let RTA_DST: UInt16 = 1, RTA_OIF: UInt16 = 4, RTA_GATEWAY: UInt16 = 5, RTA_TABLE: UInt16 = 15
    static let IFF_UP: UInt32 = 1
    static let AF_INET_: UInt8 = 2

    /// `ip link add name NAME [address MAC] type bridge`
    public static func addBridgeMessage(_ name: String, mac: [UInt8]? = nil) -> NetlinkMessage {
        var m = NetlinkMessage(type: NetlinkMessage.newLink, flags: NetlinkMessage.request | NetlinkMessage.ack | NetlinkMessage.exclusive | NetlinkMessage.create)
        m.ifinfo()
        m.attribute(IFLA_IFNAME, string: name)
        if let mac { m.attribute(IFLA_ADDRESS, mac) }
        m.nested(IFLA_LINKINFO) { $0.attribute(IFLA_INFO_KIND, kind: "bridge") }
        return m
    }

    /// `ip link add NAME type veth peer name PEER [address MAC] netns FD`
    public static func addVethMessage(_ name: String, peer: String, peerNamespaceFD: Int32?, peerMAC: [UInt8]? = nil) -> NetlinkMessage {
        var m = NetlinkMessage(type: NetlinkMessage.newLink, flags: NetlinkMessage.request | NetlinkMessage.ack | NetlinkMessage.exclusive | NetlinkMessage.create)
        m.ifinfo()
        m.attribute(IFLA_IFNAME, string: name)
        m.nested(IFLA_LINKINFO) { info in
            info.attribute(IFLA_INFO_KIND, kind: "veth")
            info.nested(IFLA_INFO_DATA) { data in
                data.nested(VETH_INFO_PEER) { peerMessage in
                    peerMessage.ifinfo()
                    peerMessage.attribute(IFLA_IFNAME, string: peer)
                    if let peerMAC { peerMessage.attribute(IFLA_ADDRESS, peerMAC) }
                    if let fd = peerNamespaceFD { peerMessage.attribute(IFLA_NET_NS_FD, u32: UInt32(bitPattern: fd)) }
                }
            }
        }
        return m
    }

    static let IFLA_LINK: UInt16 = 5, IFLA_EXT_MASK: UInt16 = 29

    /// `ip link add link PARENT name NAME [address MAC] netns FD type macvlan mode MODE` (modes:
    /// private 1, vepa 2, bridge 4, passthru 8), or `type ipvlan mode MODE FLAG` (l2 0, l3 1, l3s 2;
    /// bridge 0, private 1, vepa 2): the link is made in the container's namespace directly.
    public static func addSubinterfaceMessage(_ kind: String, name: String, parent: Int32, namespaceFD: Int32,
                                              mode: UInt32, flags: UInt16 = 0, mac: [UInt8]? = nil) -> NetlinkMessage {
        var m = NetlinkMessage(type: NetlinkMessage.newLink, flags: NetlinkMessage.request | NetlinkMessage.ack | NetlinkMessage.exclusive | NetlinkMessage.create)
        m.ifinfo()
        m.attribute(IFLA_IFNAME, string: name)
        m.attribute(IFLA_LINK, u32: UInt32(bitPattern: parent))
        if let mac { m.attribute(IFLA_ADDRESS, mac) }
        m.attribute(IFLA_NET_NS_FD, u32: UInt32(bitPattern: namespaceFD))
        m.nested(IFLA_LINKINFO) { info in
            info.attribute(IFLA_INFO_KIND, kind: kind)
            info.nested(IFLA_INFO_DATA) { data in
                if kind == "ipvlan" {
                    data.attribute(1 /* IFLA_IPVLAN_MODE */, u16: UInt16(mode))
                    data.attribute(2 /* IFLA_IPVLAN_FLAGS */, u16: flags)
                } else {
                    data.attribute(1 /* IFLA_MACVLAN_MODE */, u32: mode)
                }
            }
        }
        return m
    }

    /// `ip link add NAME type dummy`, or `ip link add link PARENT name NAME type vlan id ID`.
    public static func addLinkMessage(_ name: String, kind: String, parent: Int32? = nil, vlan: UInt16? = nil) -> NetlinkMessage {
        var m = NetlinkMessage(type: NetlinkMessage.newLink, flags: NetlinkMessage.request | NetlinkMessage.ack | NetlinkMessage.exclusive | NetlinkMessage.create)
        m.ifinfo()
        m.attribute(IFLA_IFNAME, string: name)
        if let parent { m.attribute(IFLA_LINK, u32: UInt32(bitPattern: parent)) }
        m.nested(IFLA_LINKINFO) { info in
            info.attribute(IFLA_INFO_KIND, kind: kind)
            if let vlan { info.nested(IFLA_INFO_DATA) { $0.attribute(1 /* IFLA_VLAN_ID */, u16: vlan) } }
        }
        return m
    }

    /// Up/down, master, name and MTU of a link (`ip link set`).
    public static func setLinkMessage(index: Int32, up: Bool? = nil, master: Int32? = nil, name: String? = nil, mtu: UInt32? = nil) -> NetlinkMessage {
        var m = NetlinkMessage(type: NetlinkMessage.newLink, flags: NetlinkMessage.request | NetlinkMessage.ack)
        m.ifinfo(index: index, flags: up == true ? IFF_UP : 0, change: up == nil ? 0 : IFF_UP)
        if let name { m.attribute(IFLA_IFNAME, string: name) }
        if let master { m.attribute(IFLA_MASTER, u32: UInt32(bitPattern: master)) }
        if let mtu { m.attribute(IFLA_MTU, u32: mtu) }
        return m
    }

    /// `sysctl net.ipv4.conf.DEV.arp_notify=1` over rtnetlink (IFLA_AF_SPEC → AF_INET →
    /// IFLA_INET_CONF): the kernel then announces the device's addresses with gratuitous ARP when it
    /// comes up, so peers and the host replace what they cached for a reused address at once.
    public static func enableARPNotifyMessage(index: Int32) -> NetlinkMessage {
        var m = NetlinkMessage(type: NetlinkMessage.newLink, flags: NetlinkMessage.request | NetlinkMessage.ack)
        m.ifinfo(index: index)
        m.nested(IFLA_AF_SPEC) { spec in
            spec.nested(UInt16(AF_INET_)) { inet in
                inet.nested(IFLA_INET_CONF) { conf in conf.attribute(IPV4_DEVCONF_ARP_NOTIFY, u32: 1) }
            }
        }
        return m
    }

    /// docker's MAC address for an endpoint: 02:42 and the four bytes of its IPv4 address. A reused
    /// address comes back with the same MAC, so a neighbour entry cached for its previous owner stays
    /// right (a random MAC would leave every cache that saw the old one sending into the void).
    public static func macAddress(for address: IPv4Address) -> [UInt8] { [0x02, 0x42] + address.bytes }

    /// `aa:bb:cc:dd:ee:ff`, or nil.
    public static func parseMAC(_ text: String) -> [UInt8]? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 6 else { return nil }
        var bytes: [UInt8] = []
        for p in parts {
            guard p.count == 2, let b = UInt8(p, radix: 16) else { return nil }
            bytes.append(b)
        }
        return bytes
    }

    public static func formatMAC(_ bytes: [UInt8]) -> String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: ":")
    }

    /// `ip addr add ADDRESS/PREFIX brd + dev INDEX`
    public static func addAddressMessage(index: Int32, address: IPv4Address, prefix: Int) -> NetlinkMessage {
        var m = NetlinkMessage(type: NetlinkMessage.newAddr, flags: NetlinkMessage.request | NetlinkMessage.ack | NetlinkMessage.exclusive | NetlinkMessage.create)
        m.ifaddr(family: AF_INET_, prefix: UInt8(prefix), index: index)
        m.attribute(IFA_LOCAL, address.bytes)
        m.attribute(IFA_ADDRESS, address.bytes)
        if prefix < 31 { m.attribute(IFA_BROADCAST, IPv4Network(address: address, prefix: prefix).broadcast.bytes) }
        return m
    }

    /// `ip -6 addr add ADDRESS/PREFIX dev INDEX nodad` (IFA_FLAGS IFA_F_NODAD: usable at once, as
    /// libnetwork adds it).
    public static func addAddressMessage(index: Int32, address: IPv6Address, prefix: Int) -> NetlinkMessage {
        var m = NetlinkMessage(type: NetlinkMessage.newAddr, flags: NetlinkMessage.request | NetlinkMessage.ack | NetlinkMessage.exclusive | NetlinkMessage.create)
        m.ifaddr(family: AF_INET6_, prefix: UInt8(prefix), index: index)
        m.attribute(IFA_LOCAL, address.bytes)
        m.attribute(IFA_ADDRESS, address.bytes)
        m.attribute(8 /* IFA_FLAGS */, u32: 0x02 /* IFA_F_NODAD */)
        return m
    }

    /// `ip -6 route add default via GATEWAY dev INDEX`
    public static func addDefaultRouteMessage(gateway: IPv6Address, index: Int32) -> NetlinkMessage {
        var m = NetlinkMessage(type: NetlinkMessage.newRoute, flags: NetlinkMessage.request | NetlinkMessage.ack | NetlinkMessage.exclusive | NetlinkMessage.create)
        m.rtmsg(family: AF_INET6_, destinationLength: 0)
        m.attribute(RTA_GATEWAY, gateway.bytes)
        m.attribute(RTA_OIF, u32: UInt32(bitPattern: index))
        return m
    }

    static let AF_INET6_: UInt8 = 10

    /// `ip route add default via GATEWAY dev INDEX`
    public static func addDefaultRouteMessage(gateway: IPv4Address, index: Int32) -> NetlinkMessage {
        var m = NetlinkMessage(type: NetlinkMessage.newRoute, flags: NetlinkMessage.request | NetlinkMessage.ack | NetlinkMessage.exclusive | NetlinkMessage.create)
        m.rtmsg(family: AF_INET_, destinationLength: 0)
        m.attribute(RTA_GATEWAY, gateway.bytes)
        m.attribute(RTA_OIF, u32: UInt32(bitPattern: index))
        return m
    }

    /// `ip neigh replace ADDRESS lladdr MAC dev INDEX nud stale`: a neighbour known before the first
    /// packet needs it, which the kernel still confirms (STALE: used at once, re-checked on use).
    public static func addNeighbourMessage(index: Int32, address: IPv4Address, mac: [UInt8]) -> NetlinkMessage {
        var m = NetlinkMessage(type: 28 /* RTM_NEWNEIGH */, flags: NetlinkMessage.request | NetlinkMessage.ack | NetlinkMessage.create | NetlinkMessage.replace)
        // struct ndmsg: family, padding, ifindex, state (NUD_STALE), flags, type.
        m.payload += [AF_INET_, 0, 0, 0]
        NetlinkMessage.append32(&m.payload, UInt32(bitPattern: index))
        NetlinkMessage.append16(&m.payload, 0x04)
        m.payload += [0, 0]
        m.attribute(1 /* NDA_DST */, address.bytes)
        m.attribute(2 /* NDA_LLADDR */, mac)
        return m
    }

    public static func deleteLinkMessage(index: Int32) -> NetlinkMessage {
        var m = NetlinkMessage(type: NetlinkMessage.delLink, flags: NetlinkMessage.request | NetlinkMessage.ack)
        m.ifinfo(index: index)
        return m
    }

    /// A bridge with a fixed MAC address: left to itself, a bridge takes its lowest port's address, which
    /// changes as containers come and go and leaves the containers' ARP entries for the gateway stale.
    public func addBridge(_ name: String, mac: [UInt8]? = Netlink.randomMAC()) throws(NetlinkError) {
        try request(Self.addBridgeMessage(name, mac: mac), "create bridge \(name)")
    }

    /// A random, locally administered unicast MAC address (docker's 02:42 prefix).
    public static func randomMAC() -> [UInt8] {
        [0x02, 0x42] + (0..<4).map { _ in UInt8.random(in: 0...255) }
    }

    public func addSubinterface(_ kind: String, name: String, parent: Int32, namespaceFD: Int32, mode: UInt32, flags: UInt16 = 0,
                                mac: [UInt8]? = nil) throws(NetlinkError) {
        try request(Self.addSubinterfaceMessage(kind, name: name, parent: parent, namespaceFD: namespaceFD, mode: mode, flags: flags, mac: mac),
                    "create \(kind) link \(name)")
    }

    public func addLink(_ name: String, kind: String, parent: Int32? = nil, vlan: UInt16? = nil) throws(NetlinkError) {
        try request(Self.addLinkMessage(name, kind: kind, parent: parent, vlan: vlan), "create \(kind) link \(name)")
    }

    public func addVeth(_ name: String, peer: String, peerNamespaceFD: Int32?, peerMAC: [UInt8]? = nil) throws(NetlinkError) {
        try request(Self.addVethMessage(name, peer: peer, peerNamespaceFD: peerNamespaceFD, peerMAC: peerMAC), "create veth pair \(name)")
    }

    public func enableARPNotify(_ index: Int32) throws(NetlinkError) {
        try request(Self.enableARPNotifyMessage(index: index), "enable arp_notify on link \(index)")
    }

    public func setLink(_ index: Int32, up: Bool? = nil, master: Int32? = nil, name: String? = nil, mtu: UInt32? = nil) throws(NetlinkError) {
        try request(Self.setLinkMessage(index: index, up: up, master: master, name: name, mtu: mtu), "configure link \(index)")
    }

    public func addAddress(_ index: Int32, _ address: IPv4Address, prefix: Int) throws(NetlinkError) {
        try request(Self.addAddressMessage(index: index, address: address, prefix: prefix), "add address \(address)/\(prefix)")
    }

    public func addAddress(_ index: Int32, _ address: IPv6Address, prefix: Int) throws(NetlinkError) {
        _ = try request(Self.addAddressMessage(index: index, address: address, prefix: prefix), "add address \(address)/\(prefix)")
    }

    public func addDefaultRoute(via gateway: IPv6Address, index: Int32) throws(NetlinkError) {
        _ = try request(Self.addDefaultRouteMessage(gateway: gateway, index: index), "add default route via \(gateway)")
    }

    /// `ip route add default dev INDEX` (no gateway: an ipvlan interface in layer 3).
    public func addDefaultRoute(device index: Int32) throws(NetlinkError) {
        var m = NetlinkMessage(type: NetlinkMessage.newRoute, flags: NetlinkMessage.request | NetlinkMessage.ack | NetlinkMessage.exclusive | NetlinkMessage.create)
        m.rtmsg(family: Self.AF_INET_, destinationLength: 0, scope: 253 /* RT_SCOPE_LINK */)
        m.attribute(Self.RTA_OIF, u32: UInt32(bitPattern: index))
        _ = try request(m, "add default route on link \(index)")
    }

    public func addDefaultRoute(via gateway: IPv4Address, index: Int32) throws(NetlinkError) {
        try request(Self.addDefaultRouteMessage(gateway: gateway, index: index), "add default route via \(gateway)")
    }

    public func addNeighbour(_ index: Int32, _ address: IPv4Address, mac: [UInt8]) throws(NetlinkError) {
        try request(Self.addNeighbourMessage(index: index, address: address, mac: mac), "add neighbour \(address)")
    }

    public func deleteLink(_ index: Int32) throws(NetlinkError) {
        try request(Self.deleteLinkMessage(index: index), "delete link \(index)")
    }

    public func links() throws(NetlinkError) -> [LinkInfo] {
        var m = NetlinkMessage(type: NetlinkMessage.getLink, flags: NetlinkMessage.request | NetlinkMessage.dump)
        m.ifinfo()
        return try request(m, "list links").compactMap(Self.linkInfo)
    }

    static func linkInfo(_ r: NetlinkReply) -> LinkInfo? {
        guard r.type == NetlinkMessage.newLink, r.body.count >= 16 else { return nil }
        let index = Int32(bitPattern: NetlinkReply.u32(r.body, at: 4)!)
        let flags = NetlinkReply.u32(r.body, at: 8)!
        let attrs = r.attributes(after: 16)
        let info = attrs[Self.IFLA_LINKINFO].map { NetlinkReply.attributes($0) }
        return LinkInfo(index: index, name: NetlinkReply.string(attrs[Self.IFLA_IFNAME]) ?? "",
                        kind: NetlinkReply.string(info?[Self.IFLA_INFO_KIND]) ?? "",
                        master: Int32(bitPattern: NetlinkReply.u32(attrs[Self.IFLA_MASTER]) ?? 0), up: flags & Self.IFF_UP != 0,
                        mac: attrs[Self.IFLA_ADDRESS].map(Array.init) ?? [])
    }

    /// One link by name: asked for alone (a dump of every link, with their statistics, costs what
    /// the host has: hundreds of veths on a large stack).
    public func link(named name: String) throws(NetlinkError) -> LinkInfo? {
        var m = NetlinkMessage(type: NetlinkMessage.getLink, flags: NetlinkMessage.request)
        m.ifinfo()
        m.attribute(Self.IFLA_IFNAME, string: name)
        m.attribute(Self.IFLA_EXT_MASK, u32: 1 << 3)   // RTEXT_FILTER_SKIP_STATS
        do {
            return try request(m, "get link \(name)").lazy.compactMap(Self.linkInfo).first
        } catch where error.code == ENODEV {
            return nil
        }
    }

    public func addresses() throws(NetlinkError) -> [AddressInfo] {
        var m = NetlinkMessage(type: NetlinkMessage.getAddr, flags: NetlinkMessage.request | NetlinkMessage.dump)
        m.ifaddr(family: Self.AF_INET_, prefix: 0, index: 0)
        return try request(m, "list addresses").compactMap { r in
            guard r.type == NetlinkMessage.newAddr, r.body.count >= 8 else { return nil }
            let prefix = Int(r.body[r.body.startIndex + 1])
            let index = Int32(bitPattern: NetlinkReply.u32(r.body, at: 4)!)
            let attrs = r.attributes(after: 8)
            guard let a = attrs[Self.IFA_LOCAL] ?? attrs[Self.IFA_ADDRESS], a.count == 4 else { return nil }
            return AddressInfo(index: index, address: IPv4Address(bytes: Array(a)), prefix: prefix)
        }
    }

    public func routes() throws(NetlinkError) -> [RouteInfo] {
        var m = NetlinkMessage(type: NetlinkMessage.getRoute, flags: NetlinkMessage.request | NetlinkMessage.dump)
        m.rtmsg(family: Self.AF_INET_, destinationLength: 0, table: 0, protocol: 0, scope: 0, type: 0)
        return try request(m, "list routes").compactMap { r in
            guard r.type == NetlinkMessage.newRoute, r.body.count >= 12 else { return nil }
            let dstLen = Int(r.body[r.body.startIndex + 1])
            let table = r.body[r.body.startIndex + 4]
            let attrs = r.attributes(after: 12)
            let tableAttr = NetlinkReply.u32(attrs[Self.RTA_TABLE]).map { UInt8(truncatingIfNeeded: $0) } ?? table
            guard tableAttr == 254 else { return nil }
            let dst = attrs[Self.RTA_DST].map { IPv4Address(bytes: Array($0)) } ?? IPv4Address(0)
            let gw = attrs[Self.RTA_GATEWAY].map { IPv4Address(bytes: Array($0)) }
            return RouteInfo(destination: IPv4Network(address: dst, prefix: dstLen), gateway: gw,
                             outputIndex: Int32(bitPattern: NetlinkReply.u32(attrs[Self.RTA_OIF]) ?? 0))
        }
    }
}
