#if canImport(Glibc)
import Glibc
#endif

/// cgroup v2 has no devices controller: the allowlist is an eBPF program (BPF_PROG_TYPE_CGROUP_DEVICE)
/// attached to the container's cgroup, as runc generates it. It allows what one of the rules allows
/// and denies everything else.
enum DeviceFilter {
    typealias Instruction = EBPF.Instruction
    static let ldxW = EBPF.ldxW, andImm32 = EBPF.andImm32, rshImm32 = EBPF.rshImm32, movReg32 = EBPF.movReg32
    static let movImm64 = EBPF.movImm64, jneImm = EBPF.jneImm, jneReg = EBPF.jneReg, exit = EBPF.exit

    /// The program for docker's default devices plus `rules`.
    static func program(_ rules: [DeviceRule]) -> [Instruction] {
        // struct bpf_cgroup_dev_ctx { u32 access_type (type | access << 16); u32 major; u32 minor; }
        var p: [Instruction] = [
            Instruction(code: ldxW, dst: 2, src: 1, offset: 0),
            Instruction(code: andImm32, dst: 2, immediate: 0xffff),      // r2 = device type (1 block, 2 char)
            Instruction(code: ldxW, dst: 3, src: 1, offset: 0),
            Instruction(code: rshImm32, dst: 3, immediate: 16),          // r3 = access (1 mknod, 2 read, 4 write)
            Instruction(code: ldxW, dst: 4, src: 1, offset: 4),          // r4 = major
            Instruction(code: ldxW, dst: 5, src: 1, offset: 8),          // r5 = minor
        ]
        for rule in rules where rule.allow {
            var block: [Instruction] = []
            if rule.type != "a" {
                block.append(Instruction(code: jneImm, dst: 2, immediate: rule.type == "b" ? 1 : 2))
            }
            var mask: Int32 = 0
            if rule.access.contains("m") { mask |= 1 }
            if rule.access.contains("r") { mask |= 2 }
            if rule.access.contains("w") { mask |= 4 }
            if mask != 7 {
                // Every requested access must be among the allowed ones: (r3 & mask) == r3.
                block.append(Instruction(code: movReg32, dst: 1, src: 3))
                block.append(Instruction(code: andImm32, dst: 1, immediate: mask))
                block.append(Instruction(code: jneReg, dst: 1, src: 3))
            }
            if rule.type != "a" && rule.major >= 0 { block.append(Instruction(code: jneImm, dst: 4, immediate: Int32(rule.major))) }
            if rule.type != "a" && rule.minor >= 0 { block.append(Instruction(code: jneImm, dst: 5, immediate: Int32(rule.minor))) }
            // Each jump skips to the end of this block (past "allow; exit").
            let count = block.count
            for i in block.indices where block[i].code == jneImm || block[i].code == jneReg {
                block[i].offset = Int16(count - i - 1 + 2)
            }
            p += block
            p.append(Instruction(code: movImm64, dst: 0, immediate: 1))
            p.append(Instruction(code: exit))
            // An unconditional allow (`a *:* rwm`, privileged) ends the program: the verifier refuses
            // instructions no path reaches (Linux 6.1 says "unreachable insn").
            if block.isEmpty { return p }
        }
        p.append(Instruction(code: movImm64, dst: 0, immediate: 0))
        p.append(Instruction(code: exit))
        return p
    }

    /// Attaches the allowlist to a cgroup2 directory.
    static func attach(to directory: String, rules: [DeviceRule]) throws(SystemError) {
        let fd = try Sys.open(directory, O_RDONLY | O_DIRECTORY)
        defer { Sys.close(fd) }
        let bytes = program(DeviceRule.dockerDefaults + rules).flatMap(\.bytes)
        if let (error, log) = Sys.attachDeviceFilter(cgroup: fd, instructions: bytes) {
            let verifier = log.split(separator: "\n").suffix(3).joined(separator: "; ")
            throw SystemError("attach device filter" + (verifier.isEmpty ? "" : " (verifier: \(verifier))"), directory, code: error.code)
        }
    }
}
