/// Gratuitous ARP, as a container's endpoint announces itself: an ARP request for its own address
/// (sender and target IP the same, target hardware address zero, sent to the broadcast address), which
/// neighbours take to replace what they cached for that address.
public enum ARP {
    /// The ARP payload (the kernel adds the Ethernet header on an AF_PACKET datagram socket).
    public static func announcement(mac: [UInt8], address: IPv4Address) -> [UInt8] {
        let ip: [UInt8] = [UInt8(address.value >> 24), UInt8(address.value >> 16 & 0xff), UInt8(address.value >> 8 & 0xff), UInt8(address.value & 0xff)]
        var p: [UInt8] = [0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01] // Ethernet, IPv4, lengths, request
        p += mac.prefix(6) + ip
        p += [UInt8](repeating: 0, count: 6) + ip
        return p
    }

    /// When, after an endpoint comes up, it announces itself (seconds). The kernel's own announcement
    /// at link-up (`arp_notify`) can leave before a new veth's queue is activated and be lost, and so
    /// can one sent right after; docker sends three, a second apart. Here the early ones come close
    /// together (a client that connects at once reaches the new endpoint, not the old MAC), and the last
    /// after neighbours' `locktime` (1 s), within which older kernels ignore a changed address.
    public static let schedule: [Double] = [0, 0.02, 0.2, 1.2]
}
