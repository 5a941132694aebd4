/// eBPF programs as the kernel takes them: 8-byte instructions (opcode, registers, offset, immediate).
/// The cgroup device allowlist (`DeviceFilter`) and the embedded resolver's port redirect
/// (`ResolverRedirect`) are written with these.
enum EBPF {
    /// One instruction: opcode, destination and source registers, offset, immediate.
    struct Instruction: Equatable {
        var code: UInt8
        var dst: UInt8 = 0
        var src: UInt8 = 0
        var offset: Int16 = 0
        var immediate: Int32 = 0

        var bytes: [UInt8] {
            let o = UInt16(bitPattern: offset), i = UInt32(bitPattern: immediate)
            return [code, (src << 4) | (dst & 0x0f), UInt8(o & 0xff), UInt8(o >> 8),
                    UInt8(i & 0xff), UInt8(i >> 8 & 0xff), UInt8(i >> 16 & 0xff), UInt8(i >> 24)]
        }
    }

    // Opcodes: class | size/op | source.
    static let ldxW: UInt8 = 0x61        // BPF_LDX | BPF_MEM | BPF_W
    static let stxW: UInt8 = 0x63        // BPF_STX | BPF_MEM | BPF_W
    static let andImm32: UInt8 = 0x54    // BPF_ALU | BPF_AND | BPF_K
    static let rshImm32: UInt8 = 0x74    // BPF_ALU | BPF_RSH | BPF_K
    static let movReg32: UInt8 = 0xbc    // BPF_ALU | BPF_MOV | BPF_X
    static let movImm32: UInt8 = 0xb4    // BPF_ALU | BPF_MOV | BPF_K
    static let movImm64: UInt8 = 0xb7    // BPF_ALU64 | BPF_MOV | BPF_K
    static let jneImm: UInt8 = 0x55      // BPF_JMP | BPF_JNE | BPF_K
    static let jneReg: UInt8 = 0x5d      // BPF_JMP | BPF_JNE | BPF_X
    static let exit: UInt8 = 0x95        // BPF_JMP | BPF_EXIT

    // Program and attach types (uapi/linux/bpf.h).
    static let progCgroupSockAddr: Int32 = 18
    static let attachInet4Connect: Int32 = 10
    static let attachUDP4Sendmsg: Int32 = 14
    static let attachUDP4Recvmsg: Int32 = 19
}
